"""CrowdNavEnv: one robot crossing a social-force crowd on a Robot SF map, with Robot SF's observation contracts."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from trainers.envs.contracts import observation_signature
from trainers.envs.crowdnav.crowd import Crowd
from trainers.envs.crowdnav.mapdef import MapDefinition
from trainers.envs.crowdnav.rewards import make_reward
from trainers.envs.crowdnav.robot import RobotState, max_speed
from trainers.envs.crowdnav.sensors import OccupancyGrid, RayCaster
from trainers.envs.crowdnav.settings import EnvSettings, build_settings, merged_overrides
from trainers.envs.crowdnav.spaces import action_space, space_from_signature
from trainers.envs.crowdnav.stepmeta import StepMetaTracker
from trainers.envs.crowdnav.svgmap import load_svg_map
from trainers.envs.scenarios import Scenario

__all__ = ["COMFORT_DISTANCE", "CrowdNavEnv"]

COMFORT_DISTANCE = 0.5  # m between the robot's and a pedestrian's edge: inside it counts as comfort exposure


class CrowdNavEnv(gym.Env):
    """
    ## Description
    A robot drives from a spawn zone through a route's waypoints to a goal zone while pedestrians, moved by a
    vectorised social-force model, walk their routes. Maps and scenarios use Robot SF's formats.

    ## Action Space
    ``Box(-1, 1, (2,), float32)``, scaled to the robot model's limits (see ``crowdnav.robot``).

    ## Observation Space
    Built from ``contracts.observation_signature(env_overrides)``:

    | contract | keys |
    | --- | --- |
    | ``default_gym`` | ``drive_state`` (stack, 5), ``rays`` (stack, num_rays) in [0, 1] |
    | ``socnav_struct`` | goal, robot, pedestrian and map keys; ``occupancy_grid`` (C, H, W) + meta keys with a grid |

    ## Rewards
    Chosen by ``reward_name`` under Robot SF's names and semantics (``crowdnav.rewards``); default
    ``route_completion_v2``. Each step's reward inputs are in ``info["meta"]`` under Robot SF's keys.

    ## Starting State
    Robot at a random point of the spawn zone of a random robot route, facing its first waypoint; crowd spawned
    along pedestrian routes and in crowded zones (count from ``ped_density``).

    ## Episode End
    Terminated on success (within ``goal_radius`` of the goal) or collision (obstacle, pedestrian, map edge);
    truncated after the scenario's ``max_episode_steps`` (kept in the env because it differs per scenario).

    ## Arguments
    ``scenario`` (a :class:`~trainers.envs.scenarios.Scenario`), ``env_overrides``, ``reward_name``,
    ``reward_kwargs``, ``render_mode`` (``rgb_array``).

    ## Version History
    * v0: first version.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}  # noqa: RUF012 (gymnasium declares it per instance)

    def __init__(
        self,
        scenario: Scenario,
        env_overrides: Mapping[str, Any] | None = None,
        *,
        reward_name: str | None = None,
        reward_kwargs: Mapping[str, Any] | None = None,
        render_mode: str | None = None,
    ) -> None:
        super().__init__()
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode {render_mode!r} not supported; use 'rgb_array' or None")
        self.render_mode = render_mode
        self.env_overrides = dict(env_overrides or {})
        self.signature = observation_signature(merged_overrides(self.env_overrides, scenario.as_overrides()))
        self.observation_space = space_from_signature(self.signature)
        self.action_space = action_space()
        self._reward = make_reward(reward_name, reward_kwargs)
        self._pending_seed: int | None = None
        self.load_scenario(scenario)

    # ------------------------------------------------------------------ scenario
    def load_scenario(self, scenario: Scenario) -> None:
        """Switch to ``scenario`` (same observation space required; the switching env checks that first)."""
        self.scenario = scenario
        self.settings: EnvSettings = build_settings(self.env_overrides, scenario.as_overrides())
        self.map: MapDefinition = load_svg_map(scenario.map_path)
        self.robot = RobotState(self.settings.robot)
        self.crowd = Crowd(self.map, self.settings, scenario.single_pedestrians)
        s = self.settings
        self._socnav = s.observation_mode == "socnav_struct"
        self.rays = None if self._socnav else RayCaster(self.map, s.num_rays, s.max_scan_dist, s.visual_angle_portion)
        self.grid = OccupancyGrid(self.map, s.grid, s.robot.radius) if s.grid_in_observation else None
        self._vmax = max_speed(s.robot)
        self._wmax = s.robot.max_angular_speed if s.robot.type == "differential_drive" else 1.0
        self._diag = math.hypot(self.map.width, self.map.height)
        self._segs = self.map.segments
        self._steps = 0
        self._meta = StepMetaTracker(s.sim.time_per_step_in_secs, s.sim.max_episode_steps)

    def seed_next_reset(self, seed: int | None) -> None:
        """Seed the next ``reset()`` called without a seed (the factory's ``seed=``)."""
        self._pending_seed = seed

    # ------------------------------------------------------------------ gym API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if seed is None and self._pending_seed is not None:
            seed, self._pending_seed = self._pending_seed, None
        super().reset(seed=seed)
        rng = self.np_random
        route = self.map.robot_routes[int(rng.integers(len(self.map.robot_routes)))]
        start, goal = self._route_ends(route, rng)
        self.waypoints = np.concatenate([route.waypoints, goal[None, :]])
        self.wp_index = 0
        first = self.waypoints[0] if np.linalg.norm(self.waypoints[0] - start) > 1e-6 else self.waypoints[-1]
        self.robot.reset(start, math.atan2(first[1] - start[1], first[0] - start[0]))
        self.crowd.reset(rng, start, self.settings.robot.radius)
        self._skip_reached_waypoints()
        self._steps = 0
        self._path_length = 0.0
        self._shortest = float(
            np.linalg.norm(np.diff(np.concatenate([start[None], self.waypoints]), axis=0), axis=1).sum()
        )
        self._comfort_steps = 0
        self._success = self._collision = False
        self._collision_kind = ""
        self.last_meta: dict[str, Any] = {}
        self._meta.reset(start, self._goal_distance())
        stack = self.settings.sim.stack_steps
        if not self._socnav:
            self._drive = np.repeat(self._drive_state()[None], stack, axis=0)
            self._rays = np.repeat(self._ray_state()[None], stack, axis=0)
        return self._get_obs(), self._info()

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        dt = self.settings.sim.time_per_step_in_secs
        action = np.asarray(action, dtype=np.float64)
        old_pos = self.robot.pos
        self.robot.step(action, dt)
        self.crowd.step(dt, self.robot.pos, self.robot.theta, self.settings.robot.radius, self.settings.sim.prf_active)
        self._steps += 1
        self._path_length += float(np.linalg.norm(self.robot.pos - old_pos))
        passed = self._skip_reached_waypoints()
        self._success = self.wp_index >= len(self.waypoints)
        ped_gap = self._nearest_ped_gap()
        self._comfort_steps += int(ped_gap < COMFORT_DISTANCE)
        self._collision_kind = self._check_collision(ped_gap)
        self._collision = bool(self._collision_kind)
        terminated = self._success or self._collision
        truncated = (not terminated) and self._steps >= self.settings.sim.max_episode_steps
        meta = self._meta.step(
            step=self._steps,
            action=action,
            robot_pos=self.robot.pos,
            distance_to_goal=self._goal_distance(),
            ped_pos=self.crowd.pos,
            ped_forces=self.crowd.forces,
            collision_kind=self._collision_kind,
            waypoint_reached=passed > 0,
            route_complete=self._success,
            timeout=truncated,
        )
        reward = float(self._reward(meta))
        self.last_meta = meta
        if not self._socnav:
            self._drive = np.concatenate([self._drive[1:], self._drive_state()[None]])
            self._rays = np.concatenate([self._rays[1:], self._ray_state()[None]])
        return self._get_obs(), reward, terminated, truncated, self._info()

    def render(self) -> np.ndarray:
        from trainers.envs.crowdnav.render import render_frame

        return render_frame(self)

    # ------------------------------------------------------------------ helpers
    def _route_ends(self, route: Any, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        def pick(zones: list, idx: int, fallback: np.ndarray) -> np.ndarray:
            if not zones or idx >= len(zones):
                return fallback.copy()
            zone = zones[idx]
            margin = min(self.settings.robot.radius * 0.5, (zone.xmax - zone.xmin) / 4, (zone.ymax - zone.ymin) / 4)
            for _ in range(20):
                p = zone.sample(rng)[0]
                p = np.clip(p, [zone.xmin + margin, zone.ymin + margin], [zone.xmax - margin, zone.ymax - margin])
                if not self.map.inside_obstacle(p[None])[0]:
                    return p
            return zone.center

        start = pick(self.map.robot_spawn_zones, route.spawn_id, route.waypoints[0])
        goal = pick(self.map.robot_goal_zones, route.goal_id, route.waypoints[-1])
        return start, goal

    def _goal_distance(self) -> float:
        """Straight-line distance to the route's last point (Robot SF's ``distance_to_goal``)."""
        d = self.waypoints[-1] - self.robot.pos
        return math.hypot(d[0], d[1])

    def _dist_to_waypoint(self) -> float:
        if self.wp_index >= len(self.waypoints):
            return 0.0
        d = self.waypoints[self.wp_index] - self.robot.pos
        return math.hypot(d[0], d[1])

    def _skip_reached_waypoints(self) -> int:
        passed = 0
        radius = self.settings.sim.goal_radius
        while self.wp_index < len(self.waypoints) and self._dist_to_waypoint() <= radius:
            self.wp_index += 1
            passed += 1
        return passed

    def _nearest_ped_gap(self) -> float:
        if self.crowd.n == 0:
            return math.inf
        d = self.crowd.pos - self.robot.pos
        return float(np.sqrt((d * d).sum(1)).min()) - self.settings.robot.radius - self.crowd.radius

    def _check_collision(self, ped_gap: float) -> str:
        if ped_gap < 0:
            return "pedestrian"
        x, y = self.robot.pos
        if x < 0 or y < 0 or x > self.map.width or y > self.map.height:
            return "map_edge"
        segs = self._segs
        if len(segs):
            a = segs[:, :2]
            ab = segs[:, 2:] - a
            ap = self.robot.pos - a
            t = np.clip((ap * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-12), 0, 1)
            near = ap - t[:, None] * ab
            # A step moves the robot far less than its radius, so it cannot jump inside an obstacle unseen.
            if float((near * near).sum(1).min()) < self.settings.robot.radius**2:
                return "obstacle"
        return ""

    def _targets(self) -> tuple[np.ndarray, np.ndarray]:
        last = len(self.waypoints) - 1
        cur = self.waypoints[min(self.wp_index, last)]
        nxt = self.waypoints[min(self.wp_index + 1, last)]
        return cur, nxt

    def _drive_state(self) -> np.ndarray:
        cur, nxt = self._targets()
        pos, theta = self.robot.pos, self.robot.theta
        d = cur - pos
        ang = _wrap(math.atan2(d[1], d[0]) - theta)
        dn = nxt - pos
        ang_next = _wrap(math.atan2(dn[1], dn[0]) - theta)
        state = np.array(
            [
                self.robot.v / self._vmax,
                self.robot.omega / self._wmax,
                min(1.0, math.hypot(d[0], d[1]) / self._diag),
                ang / math.pi,
                ang_next / math.pi,
            ],
            dtype=np.float32,
        )
        return np.clip(state, -1.0, 1.0)

    def _ray_state(self) -> np.ndarray:
        assert self.rays is not None
        dist = self.rays.cast(self.robot.pos, self.robot.theta, self.crowd.pos, self.crowd.radius)
        return (dist / self.rays.max_dist).astype(np.float32)

    def _get_obs(self) -> dict[str, np.ndarray]:
        if not self._socnav:
            return {"drive_state": self._drive.copy(), "rays": self._rays.copy()}
        return self._socnav_obs()

    def _socnav_obs(self) -> dict[str, np.ndarray]:
        s = self.settings
        f32 = np.float32
        n_max = s.max_pedestrians
        robot = self.robot
        positions = np.zeros((n_max, 2), dtype=f32)
        velocities = np.zeros((n_max, 2), dtype=f32)
        count = 0
        if self.crowd.n:
            rel = self.crowd.pos - robot.pos
            order = np.argsort((rel * rel).sum(1), kind="stable")[:n_max]
            count = len(order)
            positions[:count] = self.crowd.pos[order]
            c, sn = math.cos(robot.theta), math.sin(robot.theta)
            v = self.crowd.vel[order]
            velocities[:count, 0] = c * v[:, 0] + sn * v[:, 1]
            velocities[:count, 1] = -sn * v[:, 0] + c * v[:, 1]
        cur, nxt = self._targets()
        obs: dict[str, np.ndarray] = {
            "goal_current": cur.astype(f32),
            "goal_next": nxt.astype(f32),
            "map_size": np.array([self.map.width, self.map.height], dtype=f32),
            "pedestrians_count": np.array([count], dtype=f32),
            "pedestrians_positions": positions,
            "pedestrians_radius": np.array([self.crowd.radius], dtype=f32),
            "pedestrians_velocities": velocities,
            "robot_heading": np.array([robot.theta], dtype=f32),
            "robot_position": robot.pos.astype(f32),
            "robot_radius": np.array([s.robot.radius], dtype=f32),
            "robot_speed": np.array([robot.v, robot.omega], dtype=f32),
            "sim_timestep": np.array([s.sim.time_per_step_in_secs], dtype=f32),
        }
        if s.extended_socnav_keys:
            obs["robot_velocity_xy"] = robot.vel.astype(f32)
            obs["robot_angular_velocity"] = np.array([robot.omega], dtype=f32)
        if self.grid is not None:
            grid, origin, _theta = self.grid.compute(robot.pos, robot.theta, self.crowd.pos, self.crowd.radius)
            g = s.grid
            corner = origin - (np.array([g.width, g.height]) / 2 if g.center_on_robot else 0.0)
            obs.update(
                {
                    "occupancy_grid": grid,
                    "occupancy_grid_meta_center_on_robot": np.array([float(g.center_on_robot)], dtype=f32),
                    "occupancy_grid_meta_channel_indices": self.grid.channel_indices.copy(),
                    "occupancy_grid_meta_origin": np.asarray(corner, dtype=f32),
                    "occupancy_grid_meta_resolution": np.array([g.resolution], dtype=f32),
                    "occupancy_grid_meta_robot_pose": np.array([*robot.pos, robot.theta], dtype=f32),
                    "occupancy_grid_meta_size": np.array([g.width, g.height], dtype=f32),
                    "occupancy_grid_meta_use_ego_frame": np.array([float(g.use_ego_frame)], dtype=f32),
                }
            )
        return obs

    def _info(self) -> dict[str, Any]:
        steps = max(1, self._steps)
        efficiency = min(1.0, self._shortest / self._path_length) if self._success and self._path_length > 0 else 0.0
        return {
            "scenario_id": self.scenario.name,
            "steps": self._steps,
            "success": self._success,
            "collision": self._collision,
            "collision_kind": self._collision_kind,
            "path_efficiency": efficiency,
            "comfort_exposure": self._comfort_steps / steps,
            "route_progress": self.wp_index / len(self.waypoints),
            "num_pedestrians": self.crowd.n,
            "is_success": self._success,
            "meta": self.last_meta,
        }


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi
