"""The per-step ``meta`` dict rewards read, under Robot SF's names (``RobotState.meta_dict`` + its SNQI proxies).

Robot SF's definitions, which this follows: ``distance_to_goal`` is the straight-line distance to the route's last
point (``prev_distance_to_goal`` the one before the step, equal to it right after reset); ``near_misses`` is 1 when
the nearest pedestrian's centre is in [0.25, 0.5) m of the robot's centre; ``force_exceed_events`` counts
pedestrians whose social force exceeds 2.0 and ``comfort_exposure`` divides it by the number of pedestrians;
``jerk_mean`` is the running mean, over the episode, of the jerk magnitude from finite differences of the robot's
position; ``action`` and ``last_action`` are the actions of this and the previous step (``None`` on the first).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["COLLISION_DISTANCE", "COMFORT_FORCE_THRESHOLD", "NEAR_MISS_DISTANCE", "StepMetaTracker"]

COLLISION_DISTANCE = 0.25  # m, centre to centre (Robot SF's SNQI thresholds)
NEAR_MISS_DISTANCE = 0.50
COMFORT_FORCE_THRESHOLD = 2.0


class StepMetaTracker:
    """Running state of one episode's meta: the previous goal distance, action, and the jerk estimate."""

    def __init__(self, dt: float, max_sim_steps: int) -> None:
        self.dt = float(dt)
        self.max_sim_steps = int(max_sim_steps)
        self.reset(np.zeros(2), 0.0)

    def reset(self, robot_pos: np.ndarray, distance_to_goal: float) -> None:
        self.distance_to_goal = float(distance_to_goal)
        self.last_action: tuple[float, ...] | None = None
        self._pos = np.asarray(robot_pos, dtype=np.float64).copy()
        self._vel: np.ndarray | None = None
        self._acc: np.ndarray | None = None
        self._jerk_sum = 0.0
        self._jerk_count = 0

    def _update_jerk(self, robot_pos: np.ndarray) -> float:
        pos = np.asarray(robot_pos, dtype=np.float64)
        vel = (pos - self._pos) / self.dt
        if self._vel is not None:
            acc = (vel - self._vel) / self.dt
            if self._acc is not None:
                jerk = float(np.hypot(*((acc - self._acc) / self.dt)))
                if math.isfinite(jerk):
                    self._jerk_sum += jerk
                    self._jerk_count += 1
            self._acc = acc
        self._vel = vel
        self._pos = pos.copy()
        return self._jerk_sum / self._jerk_count if self._jerk_count else 0.0

    def step(
        self,
        *,
        step: int,
        action: np.ndarray,
        robot_pos: np.ndarray,
        distance_to_goal: float,
        ped_pos: np.ndarray,
        ped_forces: np.ndarray,
        collision_kind: str,
        waypoint_reached: bool,
        route_complete: bool,
        timeout: bool,
    ) -> dict[str, Any]:
        """The meta of the step just taken; call once per step, in order."""
        n_peds = len(ped_pos)
        nearest = float(np.sqrt(((ped_pos - robot_pos) ** 2).sum(1)).min()) if n_peds else math.inf
        exceed = float(np.count_nonzero(np.sqrt((ped_forces**2).sum(1)) > COMFORT_FORCE_THRESHOLD)) if n_peds else 0.0
        action_tuple = tuple(float(a) for a in np.asarray(action).reshape(-1))
        meta = {
            "step_of_episode": int(step),
            "max_sim_steps": self.max_sim_steps,
            "is_pedestrian_collision": collision_kind == "pedestrian",
            "is_robot_collision": False,  # one robot per env
            "is_obstacle_collision": collision_kind in ("obstacle", "map_edge"),
            "is_waypoint_complete": bool(waypoint_reached),
            "is_route_complete": bool(route_complete),
            "is_timesteps_exceeded": bool(timeout),
            "distance_to_goal": float(distance_to_goal),
            "prev_distance_to_goal": self.distance_to_goal,
            "near_misses": 1.0 if COLLISION_DISTANCE <= nearest < NEAR_MISS_DISTANCE else 0.0,
            "force_exceed_events": exceed,
            "comfort_exposure": exceed / float(max(1, n_peds)),
            "jerk_mean": self._update_jerk(robot_pos),
            "action": action_tuple,
            "last_action": self.last_action,
            "distance_to_robot": nearest if n_peds else 0.0,
        }
        self.distance_to_goal = float(distance_to_goal)
        self.last_action = action_tuple
        return meta
