"""Comparing the embedded simulator with Robot SF: the same scripted policies on both, and their episode statistics.

A policy is written in physical terms (the (linear, angular) speeds it wants) and turned into each backend's action:
both backends now move a differential-drive robot by a change of speed per step (Robot SF's raw action), so the
action is ``wanted - current`` clipped to Robot SF's raw bounds; the embedded backend receives it mapped affinely
onto its ``Box(-1, 1)``. The policies:

* ``stand_still``: wants (0, 0);
* ``goal``: straight at the route's final goal at top speed, turning with a proportional controller;
* ``random``: uniform raw actions from a generator seeded per episode.

:func:`run_episodes` plays them and returns per-episode records; :func:`summarize` gives success, collision and
timeout rates, the mean episode length and the mean of each episode's smallest robot-pedestrian distance (centre to
centre). Robot SF episodes use a fresh env per episode seeded through ``make_robot_env`` (as Robot SF's own
evaluation does), embedded ones one env per scenario reset with the episode's seed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "POLICIES",
    "EpisodeRecord",
    "RobotView",
    "compare",
    "run_episodes",
    "summarize",
]

POLICIES = ("stand_still", "goal", "random")
TURN_GAIN = 2.0  # rad/s per rad of heading error


@dataclass(frozen=True)
class EpisodeRecord:
    """One episode of one policy on one backend."""

    backend: str
    scenario: str
    policy: str
    seed: int
    steps: int
    success: bool
    collision: bool
    timeout: bool
    min_ped_distance: float  # m, centre to centre; inf without pedestrians
    collision_kind: str = ""  # pedestrian or obstacle (the map's edges count as obstacles)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class RobotView:
    """What a scripted policy and the statistics need from either backend's unwrapped env."""

    def __init__(self, env: Any) -> None:
        self._outer = env
        self.embedded = hasattr(env.unwrapped, "crowd")

    @property
    def env(self) -> Any:
        """The innermost env now (a seeded reset on the robot_sf backend replaces it)."""
        return self._outer.unwrapped

    def pose(self) -> tuple[np.ndarray, float]:
        if self.embedded:
            return self.env.robot.pos.copy(), float(self.env.robot.theta)
        (x, y), theta = self.env.simulator.robots[0].pose
        return np.array([x, y], dtype=np.float64), float(theta)

    def speeds(self) -> tuple[float, float]:
        if self.embedded:
            return self.env.robot.v, self.env.robot.omega
        v, w = self.env.simulator.robots[0].current_speed
        return float(v), float(w)

    def final_goal(self) -> np.ndarray:
        if self.embedded:
            return np.asarray(self.env.waypoints[-1], dtype=np.float64)
        return np.asarray(self.env.simulator.robot_navs[0].waypoints[-1], dtype=np.float64)

    def pedestrians(self) -> np.ndarray:
        if self.embedded:
            return self.env.crowd.pos
        return np.asarray(self.env.simulator.ped_pos, dtype=np.float64).reshape(-1, 2)

    def raw_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        if self.embedded:
            from trainers.envs.crowdnav.robot import action_bounds

            return action_bounds(self.env.settings.robot)
        space = self.env.action_space
        return np.asarray(space.low, dtype=np.float64), np.asarray(space.high, dtype=np.float64)

    def to_action(self, raw: np.ndarray) -> np.ndarray:
        """A raw Robot SF action as this backend takes it (the embedded one: rescaled to [-1, 1])."""
        low, high = self.raw_bounds()
        raw = np.clip(raw, low, high)
        if not self.embedded:
            return raw.astype(np.float32)
        return (2.0 * (raw - low) / np.maximum(high - low, 1e-12) - 1.0).astype(np.float32)


def _policy(name: str, view: RobotView, rng: np.random.Generator) -> Callable[[], np.ndarray]:
    low, high = view.raw_bounds()
    if name == "stand_still":
        return lambda: view.to_action(-np.asarray(view.speeds()))
    if name == "random":
        return lambda: view.to_action(rng.uniform(low, high))
    if name == "goal":
        top_speed, top_turn = float(high[0]), float(high[1])

        def act() -> np.ndarray:
            pos, theta = view.pose()
            d = view.final_goal() - pos
            error = (math.atan2(d[1], d[0]) - theta + math.pi) % (2 * math.pi) - math.pi
            wanted = np.array([top_speed, float(np.clip(TURN_GAIN * error, -top_turn, top_turn))])
            return view.to_action(wanted - np.asarray(view.speeds()))

        return act
    raise ValueError(f"policy {name!r} is not one of {', '.join(POLICIES)}")


def _play(env: Any, policy: str, seed: int, backend: str, scenario: str) -> EpisodeRecord:
    view = RobotView(env)
    env.reset(seed=seed)
    act = _policy(policy, view, np.random.default_rng(seed))
    nearest, steps = math.inf, 0
    info: Mapping[str, Any] = {}
    done = False
    while not done:
        _, _, terminated, truncated, info = env.step(act())
        steps += 1
        peds = view.pedestrians()
        if len(peds):
            nearest = min(nearest, float(np.sqrt(((peds - view.pose()[0]) ** 2).sum(1)).min()))
        done = bool(terminated or truncated)
    meta = info.get("meta") or {}
    timeout = bool(info.get("timeout", meta.get("is_timesteps_exceeded", False)))
    return EpisodeRecord(
        backend=backend,
        scenario=scenario,
        policy=policy,
        seed=seed,
        steps=steps,
        success=bool(info.get("success")),
        collision=bool(info.get("collision")),
        timeout=timeout and not info.get("success") and not info.get("collision"),
        min_ped_distance=nearest,
        collision_kind=_collision_kind(meta),
    )


def _collision_kind(meta: Mapping[str, Any]) -> str:
    if meta.get("is_pedestrian_collision"):
        return "pedestrian"
    if meta.get("is_obstacle_collision"):
        return "obstacle"
    return ""


def run_episodes(
    backend: str,
    scenario_config: str | Path,
    scenario: str,
    policy: str,
    seeds: Sequence[int],
    env_overrides: Mapping[str, Any] | None = None,
) -> list[EpisodeRecord]:
    """Play ``policy`` once per seed on ``scenario`` of ``scenario_config`` with the given backend."""
    from trainers.envs.factory import make_env

    overrides = dict(env_overrides or {})
    if backend == "embedded":
        env = make_env(overrides, scenario_config=scenario_config, scenario_id=scenario)
        try:
            return [_play(env, policy, seed, backend, scenario) for seed in seeds]
        finally:
            env.close()
    records = []
    for seed in seeds:
        env = make_env(overrides, scenario_config=scenario_config, scenario_id=scenario, seed=seed, backend=backend)
        try:
            records.append(_play(env, policy, seed, backend, scenario))
        finally:
            env.close()
    return records


def summarize(records: Sequence[EpisodeRecord]) -> dict[str, float]:
    """Rates, mean episode length and mean smallest pedestrian distance of some episodes."""
    n = max(1, len(records))
    finite = [r.min_ped_distance for r in records if math.isfinite(r.min_ped_distance)]
    return {
        "episodes": len(records),
        "success_rate": sum(r.success for r in records) / n,
        "collision_rate": sum(r.collision for r in records) / n,
        "pedestrian_collision_rate": sum(r.collision_kind == "pedestrian" for r in records) / n,
        "timeout_rate": sum(r.timeout for r in records) / n,
        "mean_steps": sum(r.steps for r in records) / n,
        "mean_min_ped_distance": float(np.mean(finite)) if finite else math.nan,
    }


RATE_TOLERANCE = 0.1
LENGTH_TOLERANCE = 0.15


def compare(ours: Mapping[str, float], theirs: Mapping[str, float]) -> dict[str, Any]:
    """Differences (ours - theirs) and whether the pair is within the issue's tolerances."""
    diff = {
        key: ours[key] - theirs[key]
        for key in ("success_rate", "collision_rate", "timeout_rate", "mean_steps", "mean_min_ped_distance")
    }
    steps_rel = abs(diff["mean_steps"]) / max(theirs["mean_steps"], 1e-9)
    within = (
        all(abs(diff[k]) <= RATE_TOLERANCE + 1e-9 for k in ("success_rate", "collision_rate", "timeout_rate"))
        and steps_rel <= LENGTH_TOLERANCE
    )
    return {"difference": diff, "steps_relative_difference": steps_rel, "within_tolerance": within}


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()`` and its wall time in seconds."""
    start = time.perf_counter()
    return fn(), time.perf_counter() - start
