"""Where a DreamerV3 run stands: env and optimiser steps, what is due next, the best evaluation, and the metrics of
the current logging interval. Saved in every resume checkpoint (``counters``) and restored from it.

The train ratio is counted from the end of the prefill, as the reference's ratio counts from its first update: at
the first step where the prefill is done and a sequence fits, one update; N env steps later, 1 + floor(N *
train_ratio / (batch_size * batch_length)) in total, so the prefill's steps never become a burst of updates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainers.dreamerv3.config import DreamerConfig

__all__ = ["Interval", "Progress"]


@dataclass
class Interval:
    """What one logging interval has seen: summed update metrics, update count, finished training episodes."""

    env_steps: int = 0  # env steps at the start of the interval
    metrics: dict[str, Any] = field(default_factory=dict)
    updates: int = 0
    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)

    def add_update(self, metrics: Mapping[str, Any]) -> None:
        """Fold one update's metrics in (floats, or device tensors with deferred checks: summed without a sync)."""
        for key, value in metrics.items():
            self.metrics[key] = self.metrics.get(key, 0.0) + value
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        return {
            "metrics": dict(self.metrics),
            "updates": self.updates,
            "returns": list(self.returns),
            "lengths": list(self.lengths),
            "env_steps": self.env_steps,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Interval:
        return cls(
            int(state.get("env_steps", 0)),
            dict(state["metrics"]),
            int(state["updates"]),
            list(state["returns"]),
            list(state["lengths"]),
        )


@dataclass
class Progress:
    """Counters of one run (see the module docstring for the train ratio)."""

    next_log: int
    next_ckpt: int
    next_eval: int
    env_steps: int = 0
    opt_steps: int = 0
    train_start: int | None = None  # env steps when training began (the train ratio counts from here)
    best_return: float | None = None
    best_returns: list[float] = field(default_factory=list)
    last_eval_returns: list[float] = field(default_factory=list)
    last_metrics: dict[str, Any] = field(default_factory=dict)
    interval: Interval = field(default_factory=Interval)

    @classmethod
    def start(cls, cfg: DreamerConfig) -> Progress:
        return cls(next_log=cfg.log_every, next_ckpt=cfg.checkpoint_every, next_eval=cfg.eval_every)

    def updates_due(self, cfg: DreamerConfig, can_sample: bool) -> int:
        """Updates to run now so that the train ratio holds (0 during the prefill or before a sequence fits)."""
        if self.env_steps < cfg.prefill or not can_sample:
            return 0
        if self.train_start is None:
            self.train_start = self.env_steps
        due = 1 + int((self.env_steps - self.train_start) * cfg.train_ratio // cfg.replayed_per_update)
        return max(due - self.opt_steps, 0)

    def new_interval(self) -> None:
        self.interval = Interval(self.env_steps)

    def record_eval(self, returns: list[float]) -> bool:
        """Remember an evaluation; True when its mean return is a new best."""
        self.last_eval_returns = list(returns)
        mean = float(np.mean(returns))
        if self.best_return is not None and mean <= self.best_return:
            return False
        self.best_return, self.best_returns = mean, list(returns)
        return True

    def state_dict(self) -> dict[str, Any]:
        """The ``counters`` of a resume checkpoint (the keys of earlier orch versions, so old checkpoints load)."""
        return {
            "env_steps": self.env_steps,
            "opt_steps": self.opt_steps,
            "next_log": self.next_log,
            "next_ckpt": self.next_ckpt,
            "next_eval": self.next_eval,
            "train_start": self.train_start,
            "best_return": self.best_return,
            "best_returns": list(self.best_returns),
            "last_eval_returns": list(self.last_eval_returns),
            "interval": self.interval.state_dict(),
            "last_metrics": dict(self.last_metrics),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Progress:
        return cls(
            next_log=int(state["next_log"]),
            next_ckpt=int(state["next_ckpt"]),
            next_eval=int(state["next_eval"]),
            env_steps=int(state["env_steps"]),
            opt_steps=int(state["opt_steps"]),
            train_start=state.get("train_start"),
            best_return=state["best_return"],
            best_returns=list(state["best_returns"]),
            last_eval_returns=list(state["last_eval_returns"]),
            last_metrics=dict(state["last_metrics"]),
            interval=Interval.from_state(state["interval"]),
        )
