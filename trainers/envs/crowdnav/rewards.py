"""Rewards, chosen by ``reward_name``; each is a pure function of one step's :class:`StepOutcome`.

* ``route_completion_v2`` (default): progress along the route (metres gained towards the current waypoint, times
  ``progress_weight``), ``waypoint_bonus`` per waypoint passed, ``success_bonus`` on reaching the goal,
  ``collision_penalty`` on a collision, ``step_cost`` every step, and a small ``proximity_penalty`` while a
  pedestrian is inside the personal space.
* ``simple``: ``-step_cost`` per step, ``success_reward`` on success, ``-collision_penalty`` on collision.
* ``sparse``: +1 on success, -1 on collision, 0 otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["REWARDS", "StepOutcome", "make_reward"]


@dataclass(frozen=True)
class StepOutcome:
    """What happened in one step, in the terms rewards need."""

    progress: float  # metres gained towards the current waypoint
    waypoints_passed: int
    success: bool
    collision: bool
    in_personal_space: bool
    timeout: bool


def route_completion_v2(
    o: StepOutcome,
    *,
    progress_weight: float = 1.0,
    waypoint_bonus: float = 1.0,
    success_bonus: float = 10.0,
    collision_penalty: float = 10.0,
    step_cost: float = 0.01,
    proximity_penalty: float = 0.02,
) -> float:
    r = progress_weight * o.progress + waypoint_bonus * o.waypoints_passed - step_cost
    if o.in_personal_space:
        r -= proximity_penalty
    if o.success:
        r += success_bonus
    if o.collision:
        r -= collision_penalty
    return float(r)


def simple(
    o: StepOutcome, *, step_cost: float = 0.01, success_reward: float = 1.0, collision_penalty: float = 2.0
) -> float:
    return float(-step_cost + (success_reward if o.success else 0.0) - (collision_penalty if o.collision else 0.0))


def sparse(o: StepOutcome) -> float:
    return float(o.success) - float(o.collision)


REWARDS: dict[str, Callable[..., float]] = {
    "route_completion_v2": route_completion_v2,
    "route_completion": route_completion_v2,
    "simple": simple,
    "simple_reward": simple,
    "sparse": sparse,
}


def make_reward(name: str | None, kwargs: Mapping[str, Any] | None = None) -> Callable[[StepOutcome], float]:
    """The reward function ``name`` with ``kwargs`` bound; unknown names or keywords are errors listing the choices."""
    name = name or "route_completion_v2"
    if name not in REWARDS:
        raise ValueError(f"unknown reward_name {name!r}; choose one of {sorted(REWARDS)}")
    fn = REWARDS[name]
    kwargs = dict(kwargs or {})
    allowed = set(fn.__code__.co_varnames[1 : fn.__code__.co_argcount + fn.__code__.co_kwonlyargcount])
    bad = sorted(set(kwargs) - allowed)
    if bad:
        raise ValueError(f"reward_kwargs {bad} not accepted by {name!r}; it takes {sorted(allowed)}")
    return lambda outcome: fn(outcome, **kwargs)
