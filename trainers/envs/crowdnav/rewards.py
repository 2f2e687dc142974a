"""Rewards under Robot SF's names, keywords and semantics (``robot_sf/gym_env/reward.py``).

Every reward is a function of one step's ``meta`` dict, the keys Robot SF's ``RobotState.meta_dict`` plus its SNQI
step proxies carry, which the embedded env also puts in ``info["meta"]`` (see :data:`META_KEYS`):

* ``simple_reward`` (alias ``simple``): ``max_episode_step_discount / max_sim_steps`` per step,
  ``ped_coll_penalty`` on a pedestrian (or robot) collision, ``obst_coll_penalty`` on an obstacle collision,
  ``reach_route_reward`` on route completion.
* ``punish_action_reward`` (alias ``punish_action``): ``simple_reward`` plus ``punish_action_penalty`` times the
  norm of the action change (when ``punish_action``).
* ``simple_ped_reward``: the ego-pedestrian reward (step discount, ``-0.001 x distance_to_robot``, collision
  penalties, ``robot_coll_reward``, ``robot_route_complete_penalty``).
* ``route_completion_v2`` (alias ``route_completion``, the default), ``route_completion_v3``, ``social_quality_v1``
  (alias ``social_quality``): a weighted sum of bounded terms (:data:`TERMS`); ``reward_kwargs: {weights: {...}}``
  changes single weights of the profile's defaults (:data:`PROFILE_WEIGHTS`). The weighted terms are written back
  into ``meta["reward_terms"]`` and the sum into ``meta["reward_total"]``, as Robot SF does.
* ``sparse`` (orch only): +1 on route completion, -1 on a collision.

Light module (stdlib only): ``orch validate`` checks reward names and keywords with :func:`check_reward`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

__all__ = [
    "META_KEYS",
    "PROFILE_WEIGHTS",
    "REWARDS",
    "REWARD_ALIASES",
    "ROBOT_SF_ONLY_REWARDS",
    "TERMS",
    "check_reward",
    "make_reward",
    "reward_terms",
]

Meta = dict[str, Any]

META_KEYS = (
    "step_of_episode",
    "max_sim_steps",
    "is_pedestrian_collision",
    "is_robot_collision",
    "is_obstacle_collision",
    "is_waypoint_complete",
    "is_route_complete",
    "is_timesteps_exceeded",
    "distance_to_goal",
    "prev_distance_to_goal",
    "near_misses",
    "force_exceed_events",
    "comfort_exposure",
    "jerk_mean",
    "action",
    "last_action",
    "distance_to_robot",
)
TERMS = (
    "progress",
    "living",
    "collision",
    "near_miss",
    "ttc_risk",
    "comfort",
    "smoothness",
    "timeout",
    "stagnation",
    "terminal_bonus",
)
PROFILE_WEIGHTS: dict[str, dict[str, float]] = {
    "route_completion_v2": {
        "progress": 2.5,
        "living": -0.01,
        "collision": -5.0,
        "near_miss": -0.8,
        "ttc_risk": -0.6,
        "comfort": -0.4,
        "smoothness": -0.15,
        "terminal_bonus": 2.0,
    },
    "route_completion_v3": {
        "progress": 2.2,
        "living": -0.01,
        "collision": -10.0,
        "near_miss": -1.0,
        "ttc_risk": -0.8,
        "comfort": -0.5,
        "smoothness": -0.2,
        "timeout": -3.0,
        "stagnation": -1.2,
        "terminal_bonus": 3.0,
    },
    "social_quality_v1": {
        "progress": 1.0,
        "living": -0.02,
        "collision": -6.0,
        "near_miss": -1.2,
        "ttc_risk": -0.9,
        "comfort": -0.9,
        "smoothness": -0.2,
        "terminal_bonus": 1.5,
    },
}


# ---------------------------------------------------------------------------------------------- helpers
def _float(meta: Mapping[str, Any], key: str, default: float = 0.0) -> float:
    """``meta[key]`` as a finite float, else ``default`` (missing, non-numeric or non-finite)."""
    try:
        value = float(meta.get(key, default))
    except (TypeError, ValueError):
        return float(default)
    return value if math.isfinite(value) else float(default)


def _bounded(value: float, lo: float, hi: float) -> float:
    return float(min(max(float(value), lo), hi))


def _collided(meta: Mapping[str, Any]) -> bool:
    return bool(
        meta.get("is_pedestrian_collision") or meta.get("is_robot_collision") or meta.get("is_obstacle_collision")
    )


def _progress(meta: Mapping[str, Any]) -> float:
    previous = _float(meta, "prev_distance_to_goal", 0.0)
    return _bounded(previous - _float(meta, "distance_to_goal", previous), -1.0, 1.0)


def _ttc_risk(meta: Mapping[str, Any]) -> float:
    """Inverse time to collision where the meta has it, else the near-miss flag (both bounded to [0, 1])."""
    ttc = _float(meta, "time_to_collision", math.inf)
    if math.isfinite(ttc) and ttc > 0.0:
        return _bounded(1.0 / max(ttc, 1e-3), 0.0, 1.0)
    return _bounded(_float(meta, "near_misses", 0.0), 0.0, 1.0)


def reward_terms(meta: Mapping[str, Any]) -> dict[str, float]:
    """The unweighted terms of the weighted profiles, each bounded as Robot SF bounds it."""
    collided = _collided(meta)
    complete = bool(meta.get("is_route_complete"))
    progress = _progress(meta)
    return {
        "progress": progress,
        "living": 1.0,
        "collision": 1.0 if collided else 0.0,
        "near_miss": _bounded(_float(meta, "near_misses"), 0.0, 1.0),
        "ttc_risk": _ttc_risk(meta),
        "comfort": _bounded(_float(meta, "comfort_exposure"), 0.0, 1.0),
        "smoothness": _bounded(_float(meta, "jerk_mean"), 0.0, 5.0) / 5.0,
        "timeout": 1.0 if meta.get("is_timesteps_exceeded") and not collided and not complete else 0.0,
        "stagnation": 0.0 if progress > 0.0 else _bounded(-progress, 0.0, 1.0),
        "terminal_bonus": 1.0 if complete and not collided else 0.0,
    }


# ---------------------------------------------------------------------------------------------- rewards
def simple_reward(
    meta: Meta,
    max_episode_step_discount: float = -0.1,
    ped_coll_penalty: float = -5,
    obst_coll_penalty: float = -2,
    reach_route_reward: float = 1,
) -> float:
    """Step discount spread over the episode, collision penalties, and a bonus for completing the route."""
    reward = max_episode_step_discount / meta["max_sim_steps"]
    if meta["is_pedestrian_collision"] or meta["is_robot_collision"]:
        reward += ped_coll_penalty
    if meta["is_obstacle_collision"]:
        reward += obst_coll_penalty
    if meta.get("is_route_complete"):
        reward += reach_route_reward
    return float(reward)


def simple_ped_reward(
    meta: Meta,
    max_episode_step_discount: float = -0.1,
    ped_coll_penalty: float = -5,
    obst_coll_penalty: float = -5,
    robot_coll_reward: float = 5,
    robot_route_complete_penalty: float = -1,
) -> float:
    """The adversarial ego pedestrian's reward: close in on the robot, avoid everything else."""
    reward = max_episode_step_discount / meta["max_sim_steps"]
    reward += meta["distance_to_robot"] * -0.001
    if meta["is_pedestrian_collision"]:
        reward += ped_coll_penalty
    if meta["is_obstacle_collision"]:
        reward += obst_coll_penalty
    if meta["is_robot_collision"]:
        reward += robot_coll_reward
    if meta.get("is_route_complete"):
        reward += robot_route_complete_penalty
    return float(reward)


def punish_action_reward(
    meta: Meta,
    max_episode_step_discount: float = -0.1,
    ped_coll_penalty: float = -5,
    obst_coll_penalty: float = -2,
    reach_route_reward: float = 1,
    punish_action: bool = True,
    punish_action_penalty: float = -0.1,
) -> float:
    """:func:`simple_reward` minus a penalty proportional to how much the action changed since the last step."""
    reward = simple_reward(meta, max_episode_step_discount, ped_coll_penalty, obst_coll_penalty, reach_route_reward)
    if punish_action and meta["last_action"] is not None:
        pairs = zip(meta["action"], meta["last_action"], strict=True)
        diff = math.sqrt(sum((float(a) - float(b)) ** 2 for a, b in pairs))
        if diff > 0:
            reward += punish_action_penalty * diff
    return float(reward)


def _weighted(meta: Meta, *, profile: str, weights: Mapping[str, float] | None = None) -> float:
    weight_map = dict(PROFILE_WEIGHTS[profile])
    weight_map.update({k: float(v) for k, v in (weights or {}).items()})
    weighted = {name: float(weight_map.get(name, 0.0)) * value for name, value in reward_terms(meta).items()}
    total = float(sum(weighted.values()))
    meta["reward_terms"] = weighted
    meta["reward_total"] = total
    return total


def route_completion_v2(meta: Meta, *, weights: Mapping[str, float] | None = None) -> float:
    """Route completion first, with bounded social and smoothness shaping."""
    return _weighted(meta, profile="route_completion_v2", weights=weights)


def route_completion_v3(meta: Meta, *, weights: Mapping[str, float] | None = None) -> float:
    """:func:`route_completion_v2` with explicit timeout and stagnation penalties."""
    return _weighted(meta, profile="route_completion_v3", weights=weights)


def social_quality_v1(meta: Meta, *, weights: Mapping[str, float] | None = None) -> float:
    """Social quality first (larger comfort and near-miss weights), still route-completion compatible."""
    return _weighted(meta, profile="social_quality_v1", weights=weights)


def sparse(meta: Meta) -> float:
    """+1 on route completion, -1 on a collision (orch only)."""
    return float(bool(meta.get("is_route_complete"))) - float(_collided(meta))


REWARDS: dict[str, Callable[..., float]] = {
    "simple_reward": simple_reward,
    "simple_ped_reward": simple_ped_reward,
    "punish_action_reward": punish_action_reward,
    "route_completion_v2": route_completion_v2,
    "route_completion_v3": route_completion_v3,
    "social_quality_v1": social_quality_v1,
    "sparse": sparse,
}
REWARD_ALIASES = {
    "simple": "simple_reward",
    "punish_action": "punish_action_reward",
    "route_completion": "route_completion_v2",
    "social_quality": "social_quality_v1",
}
# Robot SF's other rewards: they run on env.backend: robot_sf only (SNQI needs Robot SF's benchmark module).
ROBOT_SF_ONLY_REWARDS = ("snqi", "snqi_step", "snqi_step_reward", "alyassi", "alyassi_reward", "alyassi_composite")
DEFAULT_REWARD = "route_completion_v2"


def _canonical(name: str | None, *, backend: str = "embedded") -> str:
    normalized = (name or DEFAULT_REWARD).strip().lower()
    normalized = REWARD_ALIASES.get(normalized, normalized)
    if normalized in REWARDS:
        return normalized
    known = sorted({*REWARDS, *REWARD_ALIASES})
    if normalized in ROBOT_SF_ONLY_REWARDS:
        if backend == "robot_sf":
            return normalized
        raise ValueError(
            f"reward_name {name!r} exists only in Robot SF itself: set env.backend: robot_sf, or choose one of {known}"
        )
    raise ValueError(f"unknown reward_name {name!r}; choose one of {known}")


def check_reward(name: str | None, kwargs: Mapping[str, Any] | None = None, *, backend: str = "embedded") -> str:
    """The canonical name of reward ``name``; raises ``ValueError`` naming an unknown reward, keyword or weight."""
    canonical = _canonical(name, backend=backend)
    if canonical not in REWARDS:  # Robot SF's own, checked by Robot SF when the env is built
        return canonical
    kwargs = dict(kwargs or {})
    accepted = [p for p in inspect.signature(REWARDS[canonical]).parameters if p != "meta"]
    bad = sorted(set(kwargs) - set(accepted))
    if bad:
        raise ValueError(f"reward_kwargs {bad} not accepted by {canonical!r}; it takes {accepted or 'no keywords'}")
    weights = kwargs.get("weights")
    if weights is not None:
        if not isinstance(weights, Mapping):
            raise ValueError(f"reward_kwargs.weights: expected a mapping of term: weight, got {weights!r}")
        unknown = sorted(set(weights) - set(TERMS))
        if unknown:
            raise ValueError(f"reward_kwargs.weights {unknown}: not terms of {canonical!r}; terms: {list(TERMS)}")
        for term, value in weights.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"reward_kwargs.weights.{term}: expected a finite number, got {value!r}")
    return canonical


def make_reward(name: str | None, kwargs: Mapping[str, Any] | None = None) -> Callable[[Meta], float]:
    """Reward ``name`` (Robot SF's names and aliases) with ``kwargs`` bound; bad names or keywords are errors."""
    canonical = check_reward(name, kwargs)
    return partial(REWARDS[canonical], **dict(kwargs or {}))
