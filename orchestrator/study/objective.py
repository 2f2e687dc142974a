"""What a trial scores: the study's metric reduced over the trial's evaluations, and its safety constraints.

A trial reports the mean metrics of every evaluation (``trainers.common.trial``); the series of one metric over the
evaluation steps is reduced to one number by the study's objective mode, with Robot SF's launcher semantics:

* ``final_eval``: the last evaluation;
* ``last_n_mean``: the mean of the last ``window`` evaluations;
* ``auc``: the area under the curve over the steps, divided by the span (a mean weighted by step distance);
* ``best_checkpoint``: the best evaluation (the best checkpoint's value, for the metric the checkpoint is chosen by);
* ``episodic_snqi``: the mean over the episodes of the last ``window`` evaluations; every evaluation plays the same
  number of episodes, so it equals ``last_n_mean`` (orch's evaluation computes no SNQI of its own).

The same reduction applied to the series so far is the value reported to the pruner at each evaluation, so a pruner
compares what the study will finally rank. Safety constraints (``collision_rate <= x``, ``comfort_exposure <= y``)
reduce their metric the same way (``best_checkpoint``: at the objective's best evaluation). An infeasible trial is
pruned (``prune``, checked at every report) or penalised at the end (``penalize``: Robot SF's penalty, one million
plus a thousand times the summed violations, against the study's direction).

Stdlib only.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from trainers import registry

__all__ = [
    "CONSTRAINT_KEYS",
    "LOWER_IS_BETTER",
    "OBJECTIVE_MODES",
    "Feasibility",
    "Series",
    "best_index",
    "check_constraints",
    "default_direction",
    "penalized",
    "reduce_series",
    "trainer_metrics",
]

OBJECTIVE_MODES = ("best_checkpoint", "final_eval", "last_n_mean", "auc", "episodic_snqi")
# Metrics where lower is better (Robot SF's launcher minimises these two, maximises the rest).
LOWER_IS_BETTER = frozenset({"collision_rate", "comfort_exposure"})
# Their study keys for safety constraints -> the metric each bounds from above.
CONSTRAINT_KEYS = {
    "constraint_collision_rate_max": "collision_rate",
    "constraint_comfort_exposure_max": "comfort_exposure",
}
PENALTY_OFFSET = 1_000_000.0
PENALTY_SCALE = 1_000.0

Series = Sequence[tuple[int, float]]


def default_direction(metric: str) -> str:
    """``minimize`` for collision and comfort exposure, ``maximize`` for everything else."""
    return "minimize" if metric in LOWER_IS_BETTER else "maximize"


def best_index(series: Series, direction: str) -> int:
    """Index of the best value of ``series`` (the earliest on ties), for the study's direction."""
    values = [v for _, v in series]
    target = min(values) if direction == "minimize" else max(values)
    return values.index(target)


def reduce_series(series: Series, *, mode: str, window: int, direction: str = "maximize") -> float | None:
    """The objective of ``(step, value)`` pairs (any order; one value per step) for ``mode``; None when empty."""
    points = sorted((int(s), float(v)) for s, v in series if math.isfinite(float(v)))
    if not points:
        return None
    values = [v for _, v in points]
    if mode == "final_eval":
        return values[-1]
    if mode in ("last_n_mean", "episodic_snqi"):
        tail = values[-max(1, int(window)) :]
        return sum(tail) / len(tail)
    if mode == "best_checkpoint":
        return values[best_index(points, direction)]
    if mode == "auc":
        if len(points) == 1:
            return values[0]
        span = points[-1][0] - points[0][0]
        if span <= 0:
            return sum(values) / len(values)
        area = sum((b[0] - a[0]) * (a[1] + b[1]) / 2.0 for a, b in itertools.pairwise(points))
        return area / span
    raise ValueError(f"unknown objective mode {mode!r}; one of {', '.join(OBJECTIVE_MODES)}")


@dataclass(frozen=True)
class Feasibility:
    """The safety constraints of one trial: each metric's reduced value, how far above its bound, what was missing."""

    values: Mapping[str, float] = field(default_factory=dict)
    violations: Mapping[str, float] = field(default_factory=dict)
    missing: tuple[str, ...] = ()

    @property
    def feasible(self) -> bool:
        return not self.violations and not self.missing

    def describe(self) -> str:
        """``collision_rate 0.4 > 0.08; comfort_exposure missing`` (empty when feasible)."""
        parts = [f"{m} {self.values[m]:.4g} above its bound by {v:.4g}" for m, v in self.violations.items()]
        parts += [f"{m} not reported" for m in self.missing]
        return "; ".join(parts)

    def to_json(self) -> dict[str, object]:
        return {
            "feasible": self.feasible,
            "values": dict(self.values),
            "violations": dict(self.violations),
            "missing": list(self.missing),
        }


def check_constraints(
    series: Mapping[str, Series],
    constraints: Mapping[str, float],
    *,
    metric: str,
    mode: str,
    window: int,
    direction: str,
) -> Feasibility:
    """Reduce each constrained metric's series like the objective and compare it with its upper bound."""
    values: dict[str, float] = {}
    violations: dict[str, float] = {}
    missing: list[str] = []
    objective = sorted(series.get(metric) or ())
    for name, bound in constraints.items():
        points = sorted(series.get(name) or ())
        if mode == "best_checkpoint" and objective:
            best_step = objective[best_index(objective, direction)][0]
            at_best = [v for s, v in points if s == best_step]
            value = at_best[0] if at_best else None
        else:
            value = reduce_series(points, mode=mode, window=window, direction="minimize")
        if value is None:
            missing.append(name)
            continue
        values[name] = value
        if value > bound:
            violations[name] = value - bound
    return Feasibility(values, violations, tuple(missing))


def penalized(value: float, feasibility: Feasibility, direction: str) -> float:
    """``value`` made worse than any feasible trial's (Robot SF's ``penalize``): one million plus a thousand times
    the summed violations (a missing metric counts one), against the direction."""
    budget = sum(max(0.0, v) for v in feasibility.violations.values()) + len(feasibility.missing)
    penalty = PENALTY_OFFSET + PENALTY_SCALE * budget
    return value - penalty if direction == "maximize" else value + penalty


def trainer_metrics(trainer: str) -> tuple[str, ...]:
    """The evaluation metrics ``trainer`` reports (its light spec's ``EVAL_METRICS``; no trainer import)."""
    metrics: tuple[str, ...] = tuple(registry.load_spec(trainer).EVAL_METRICS)
    return metrics
