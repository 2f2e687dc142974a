"""Where SB3's logger writes the PPO expert's metrics: two ``KVWriter`` output formats.

SB3's logger stays on: the algorithm records its update's losses in it (``train/value_loss``...), the
:class:`~trainers.ppo_expert.callbacks.MetricsLineCallback` records the rollout's own figures (steps, fps, CPU
seconds, episode returns) and dumps it once per rollout, right after that rollout's update. Every dump becomes one
``metrics.jsonl`` line (:class:`MetricsLineFormat`) and the same scalars in TensorBoard and W&B
(:class:`TrackerFormat`), with the names orch has always written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stable_baselines3.common.logger import KVWriter

from trainers.common.metrics_stream import JsonlWriter
from trainers.common.tracking import Tracker

__all__ = ["LOSS_KEYS", "MetricsLineFormat", "TrackerFormat", "metrics_record"]

# The figures the callback records itself, in the order a line shows them.
OWN_KEYS = ("iteration", "step", "env_steps", "total_steps", "fps", "cpu_sec", "wall_time")
# SB3's names for an update's figures -> the names of metrics.jsonl.
LOSS_KEYS = {
    "train/value_loss": "value_loss",
    "train/policy_gradient_loss": "policy_gradient_loss",
    "train/entropy_loss": "entropy_loss",
    "train/loss": "loss",
    "train/approx_kl": "approx_kl",
    "train/clip_fraction": "clip_fraction",
    "train/explained_variance": "explained_variance",
    "train/clip_range": "clip_range",
    "train/n_updates": "n_updates",
    "train/learning_rate": "learning_rate",
}
EPISODE_KEYS = ("ep_return_mean", "ep_length_mean")
_EXCLUDED_BY = "metrics"  # the format name a key may be excluded from (SB3's ``exclude=``)


def metrics_record(key_values: Mapping[str, Any], excluded: Mapping[str, tuple[str, ...]]) -> dict[str, Any]:
    """One dump of SB3's logger as a metrics line: orch's own figures, the update's (renamed), the entropy (the
    negated entropy loss) and the episode figures, in that order; keys excluded from ``metrics`` left out."""

    def wanted(key: str) -> bool:
        return key in key_values and _EXCLUDED_BY not in (excluded.get(key) or ())

    record: dict[str, Any] = {key: key_values[key] for key in OWN_KEYS if wanted(key)}
    record.update({name: float(key_values[key]) for key, name in LOSS_KEYS.items() if wanted(key)})
    if "entropy_loss" in record:
        record["entropy"] = -record["entropy_loss"]
    record.update({key: float(key_values[key]) for key in EPISODE_KEYS if wanted(key)})
    return record


class MetricsLineFormat(KVWriter):
    """Each dump of SB3's logger as one line of ``metrics.jsonl`` (flushed at once: ``orch status`` reads it live)."""

    def __init__(self, writer: JsonlWriter) -> None:
        self.writer = writer

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0) -> None:
        record = metrics_record(key_values, key_excluded)
        if record:
            self.writer.write(record)

    def close(self) -> None:
        """The run closes the writer: it outlives the logger of a resumed model."""


class TrackerFormat(KVWriter):
    """Each dump as ``train/<name>`` scalars in TensorBoard and W&B, at the line's step."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0) -> None:
        record = metrics_record(key_values, key_excluded)
        scalars = {f"train/{k}": v for k, v in record.items() if k not in ("step", "total_steps")}
        if scalars:
            self.tracker.log(scalars, step=int(record.get("step", step)))

    def close(self) -> None:
        """The run closes the tracker."""
