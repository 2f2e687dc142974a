"""``mode: standing_still``: train only the world model on a fixed action and check that it learns.

The check passes when the observation loss falls by at least 25% within N updates (mean of the first 5 updates
against the mean of updates N-4..N) and, after warm-up (the last 10 updates), the prior and posterior entropies agree:
|prior - posterior| / max(1, prior) < 0.3. A failed check fails the run (``StandingStillError``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["StandingStillCheck", "StandingStillError"]

MIN_DROP = 0.25
MAX_ENTROPY_GAP = 0.3


class StandingStillError(RuntimeError):
    """The world model did not pass the standing-still reconstruction check."""


class StandingStillCheck:
    """Collects the obs loss and latent entropies per update and judges them (see module docstring)."""

    def __init__(self, updates: int, window: int = 5, warm_window: int = 10):
        self.updates = max(int(updates), window)
        self.window, self.warm_window = window, warm_window
        self.first: list[float] = []
        self.at_n: list[float] = []
        self.recent: list[tuple[float, float]] = []
        self.count = 0

    def observe(self, metrics: Mapping[str, float]) -> None:
        self.count += 1
        obs = float(metrics["obs_nll"])
        if len(self.first) < self.window:
            self.first.append(obs)
        if self.updates - self.window < self.count <= self.updates:
            self.at_n.append(obs)
        self.recent = [*self.recent, (float(metrics["prior_entropy"]), float(metrics["posterior_entropy"]))][
            -self.warm_window :
        ]

    def result(self) -> dict[str, Any]:
        if not self.first:
            return {"passed": False, "reason": "standing_still: no world-model update ran (raise total_env_steps)"}
        initial = sum(self.first) / len(self.first)
        later = self.at_n or self.first[-1:]
        after = sum(later) / len(later)
        drop = 1.0 - after / initial if initial > 0 else 0.0
        prior = sum(p for p, _ in self.recent) / len(self.recent)
        post = sum(q for _, q in self.recent) / len(self.recent)
        gap = abs(prior - post) / max(1.0, prior)
        loss_ok, ent_ok = drop >= MIN_DROP, gap < MAX_ENTROPY_GAP
        reasons = []
        if not loss_ok:
            reasons.append(f"obs loss fell {drop:.1%} within {self.updates} updates (< {MIN_DROP:.0%})")
        if not ent_ok:
            reasons.append(f"|prior - posterior entropy| / max(1, prior) = {gap:.3f} (>= {MAX_ENTROPY_GAP})")
        return {
            "passed": loss_ok and ent_ok,
            "reason": "standing_still check failed: " + "; ".join(reasons) if reasons else "passed",
            "updates": self.count,
            "window_updates": self.updates,
            "obs_loss_initial": initial,
            "obs_loss_after": after,
            "obs_loss_drop": drop,
            "prior_entropy": prior,
            "posterior_entropy": post,
            "entropy_gap": gap,
        }

    def state_dict(self) -> dict[str, Any]:
        return {"first": self.first, "at_n": self.at_n, "recent": self.recent, "count": self.count}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.first, self.at_n = list(state["first"]), list(state["at_n"])
        self.recent, self.count = list(state["recent"]), int(state["count"])
