"""A picture of one run, written by the trainer at the end: ``plots/learning_curves.png`` in the run directory.

Light on purpose: matplotlib is imported inside :func:`write_learning_curves` (Agg backend) and any failure to draw is
returned as ``None`` rather than raised, so a plotting problem never fails a finished training run. Comparing runs,
seeds with bands and Dreamer's reconstruction views are ``orch plot``'s job (``orchestrator/plots``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainers.common.metrics_stream import read_jsonl

__all__ = ["DEFAULT_CURVES", "write_learning_curves"]

# Metrics drawn when present, in this order (both trainers' names; absent ones are left out).
DEFAULT_CURVES: tuple[str, ...] = (
    "episode_return",
    "ep_return_mean",
    "ep_rew_mean",
    "success_rate",
    "collision_rate",
    "obs_nll",
    "reward_nll",
    "kl_dyn",
    "kl_rep",
    "loss_model",
    "loss_actor",
    "loss_critic",
    "loss",
    "value_loss",
    "entropy_loss",
    "sps",
    "fps",
)
_STEP_KEYS = ("env_steps", "timesteps", "total_timesteps", "step")
_EPISODE_STEP_KEYS = ("eval_step", "env_steps", "step")


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _metric_points(records: list[dict[str, Any]], metric: str) -> tuple[list[float], list[float]]:
    key = next((k for k in _STEP_KEYS if any(_finite(r.get(k)) for r in records)), None)
    if key is None:
        return [], []
    pts = [(float(r[key]), float(r[metric])) for r in records if _finite(r.get(key)) and _finite(r.get(metric))]
    return [p[0] for p in pts], [p[1] for p in pts]


def _episode_points(episodes: list[dict[str, Any]], metric: str) -> tuple[list[float], list[float]]:
    """Per-step mean of an evaluation-episode metric (``metrics.<name>`` or top level)."""
    key = next((k for k in _EPISODE_STEP_KEYS if any(_finite(e.get(k)) for e in episodes)), None)
    if key is None:
        return [], []
    groups: dict[float, list[float]] = {}
    for e in episodes:
        raw = e.get("metrics")
        inner: dict[str, Any] = raw if isinstance(raw, dict) else {}
        value = inner.get(metric, e.get(metric))
        if _finite(e.get(key)) and _finite(value):
            groups.setdefault(float(e[key]), []).append(float(value))  # type: ignore[arg-type]
    steps = sorted(groups)
    return steps, [sum(groups[s]) / len(groups[s]) for s in steps]


def write_learning_curves(
    run_dir: str | os.PathLike[str],
    *,
    metrics: Sequence[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Path | None:
    """Draw the run's learning curves from ``metrics.jsonl`` (and evaluation episodes in ``episodes.jsonl``) into
    ``out`` (default ``<run_dir>/plots/learning_curves.png``). Returns the path, or None when there was nothing to
    draw or drawing failed (a finished run must not fail because of a plot)."""
    run = Path(run_dir)
    records = read_jsonl(run / "metrics.jsonl")
    episodes = read_jsonl(run / "episodes.jsonl")
    panels: list[tuple[str, list[float], list[float]]] = []
    for metric in metrics or DEFAULT_CURVES:
        xs, ys = _metric_points(records, metric)
        if not xs:
            xs, ys = _episode_points(episodes, metric)
        if xs:
            panels.append((metric, xs, ys))
    if not panels:
        return None
    target = Path(out) if out else run / "plots" / "learning_curves.png"
    try:
        return _draw(panels, target, title or run.name)
    except Exception:  # a plot is a courtesy; never fail the run for it
        return None


def _draw(panels: list[tuple[str, list[float], list[float]]], target: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from manifests import atomic_path

    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for i, (metric, xs, ys) in enumerate(panels):
        ax = axes[i // cols][i % cols]
        ax.plot(xs, ys, linewidth=1.4, marker="." if len(xs) < 30 else None)
        ax.set_title(metric)
        ax.set_xlabel("steps")
        ax.grid(alpha=0.3)
    for j in range(len(panels), rows * cols):
        axes[j // cols][j % cols].axis("off")
    fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return target
