"""The trainer's resume state: everything besides the SB3 model that a resumed run needs to continue exactly.

It rides in each step checkpoint's sidecar (``meta.trainer_state``), so the model file and the state that goes with
it are complete together or not at all. RNG states are base64 pickles (torch's generator state is bytes).
"""

from __future__ import annotations

import base64
import pickle
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = ["LOWER_IS_BETTER", "BestTracker", "TrainerState", "capture_rng", "restore_rng"]

LOWER_IS_BETTER = frozenset({"collision_rate", "comfort_exposure"})


def capture_rng() -> str:
    """Python, numpy (global) and torch RNG states, pickled and base64-encoded for a JSON sidecar."""
    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    return base64.b64encode(pickle.dumps(states)).decode("ascii")


def restore_rng(blob: str) -> None:
    """Inverse of :func:`capture_rng` (the blob comes from our own sidecar, written by this trainer)."""
    states = pickle.loads(base64.b64decode(blob))
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])


@dataclass
class BestTracker:
    """The best evaluation so far by ``metric`` (higher is better unless it is a rate to minimise).

    Ties on the metric go to the lower collision rate; a full tie keeps the earlier checkpoint.
    """

    metric: str
    step: int | None = None
    value: float | None = None
    collision: float | None = None
    means: dict[str, float] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    def is_better(self, means: Mapping[str, float]) -> bool:
        if self.step is None:
            return True
        value = float(means.get(self.metric, 0.0))
        collision = float(means.get("collision_rate", 0.0))
        assert self.value is not None and self.collision is not None
        sign = -1.0 if self.metric in LOWER_IS_BETTER else 1.0
        if sign * value != sign * self.value:
            return sign * value > sign * self.value
        return collision < self.collision

    def update(self, step: int, means: Mapping[str, float], summary: Mapping[str, Any]) -> bool:
        """Take this evaluation if it is better; return whether it was."""
        if not self.is_better(means):
            return False
        self.step = int(step)
        self.value = float(means.get(self.metric, 0.0))
        self.collision = float(means.get("collision_rate", 0.0))
        self.means = dict(means)
        self.summary = dict(summary)
        return True


@dataclass
class TrainerState:
    """Schedule position, best tracker, eval timeline, iteration counter, W&B run id, RNG."""

    schedule_index: int = 0
    best: BestTracker = field(default_factory=lambda: BestTracker("success_rate"))
    timeline: list[dict[str, Any]] = field(default_factory=list)
    last_summary: dict[str, Any] = field(default_factory=dict)
    iteration: int = 0
    wall_sec: float = 0.0
    wandb_run_id: str | None = None
    rng: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrainerState:
        values = dict(data)
        values["best"] = BestTracker(**values.get("best", {"metric": "success_rate"}))
        return cls(**values)
