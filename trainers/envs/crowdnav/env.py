"""CrowdNavEnv: one robot crossing a social-force crowd on a Robot SF map, with Robot SF's observation contracts."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from trainers.envs.contracts import observation_signature
from trainers.envs.crowdnav.crowd import Crowd
from trainers.envs.crowdnav.geometry import Segments
from trainers.envs.crowdnav.mapdef import MapDefinition
from trainers.envs.crowdnav.rewards import make_reward
from trainers.envs.crowdnav.robot import RobotState, speed_bounds
from trainers.envs.crowdnav.sensors import OccupancyGrid, RayCaster
from trainers.envs.crowdnav.settings import EnvSettings, build_settings, merged_overrides
from trainers.envs.crowdnav.spaces import (
    POSITION_CAP,
    TARGET_DISTANCE_CAP,
    action_space,
    observation_space,
    socnav_speed_cap,
)
from trainers.envs.crowdnav.stepmeta import StepMetaTracker
from trainers.envs.crowdnav.svgmap import load_svg_map
from trainers.envs.scenarios import Scenario

__all__ = ["COMFORT_DISTANCE", "CrowdNavEnv"]

COMFORT_DISTANCE = 0.5  # m between the robot's and a pedestrian's edge: inside it counts as comfort exposure
ROUTE_ONLY_ZONE_EDGE, FALLBACK_ZONE_EDGE = 1.0, 0.1  # Robot SF's synthetic zones for routes without one


class CrowdNavEnv(gym.Env):
    """
    ## Description
    A robot drives from a spawn zone through a route's waypoints to a goal zone while pedestrians, moved by a
    vectorised social-force model, walk their routes. Maps and scenarios use Robot SF's formats.

    ## Action Space
    ``Box(-1, 1, (2,), float32)``, mapped affinely onto Robot SF's raw action space of the robot model (see
    ``crowdnav.robot``: for differential drive, a change of linear and angular speed per step).

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
    As Robot SF: a random spawn zone with robot routes, a random route of it, start and goal sampled in the route's
    spawn and goal zones; the robot faces from the route's first waypoint to its next, at rest. The crowd is
    populated along pedestrian routes and in crowded zones (``crowdnav.crowd``).

    ## Episode End
    Terminated on success (within robot radius + ``goal_radius`` of the goal) or collision (a pedestrian or wall
    segment touched, or the map left); truncated once the elapsed time exceeds the scenario's limit
    (``max_episode_steps``; Robot SF reports that as terminated).

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
        settings = build_settings(self.env_overrides, scenario.as_overrides())
        self.observation_space = observation_space(self.signature, settings)
        self._socnav_speed_cap = socnav_speed_cap(settings.robot)
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
        self.rays = (
            None
            if self._socnav
            else RayCaster(self.map, s.num_rays, s.max_scan_dist, s.visual_angle_portion, s.scan_noise)
        )
        self.grid = OccupancyGrid(self.map, s.grid) if s.grid_in_observation else None
        low, high = speed_bounds(s.robot)
        self._speed_scale = high
        self._drive_low = np.array([low[0] / high[0], -1.0, 0.0, -1.0, -1.0], dtype=np.float32)
        self._proximity = s.robot.radius + s.sim.goal_radius
        self._walls = Segments(self.map.segments)
        self._steps = 0
        self._elapsed = 0.0
        self._meta = StepMetaTracker(s.sim.time_per_step_in_secs, s.sim.max_sim_steps)

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
        self.crowd.reset(rng)
        start, self.waypoints = self._sample_route(rng)
        self.wp_index = 0
        first, second = self.waypoints[0], self.waypoints[1]
        self.robot.reset(start, math.atan2(second[1] - first[1], second[0] - first[0]))
        self._steps = 0
        self._elapsed = 0.0
        self._path_length = 0.0
        self._shortest = float(
            np.linalg.norm(np.diff(np.concatenate([start[None], self.waypoints]), axis=0), axis=1).sum()
        )
        self._comfort_steps = 0
        self._success = self._collision = self._timeout = False
        self._collision_kind = ""
        self.last_meta: dict[str, Any] = {}
        self._meta.reset(start, self._goal_distance())
        stack = self.settings.sim.stack_steps
        if not self._socnav:
            self._drive = np.repeat(self._drive_state()[None], stack, axis=0)
            self._rays = np.repeat(self._ray_state()[None], stack, axis=0)
        return self._get_obs(), self._info()

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        s = self.settings
        dt = s.sim.time_per_step_in_secs
        action = np.asarray(action, dtype=np.float64)
        old_pos = self.robot.pos
        # Robot SF's order: pedestrians move (seeing the robot where it was), then the robot, then the checks.
        self.crowd.step(dt, self.robot.pos, self.robot.theta, s.robot.radius, s.sim.prf_active)
        self.robot.step(action, dt)
        self._steps += 1
        self._elapsed += dt
        self._path_length += float(np.linalg.norm(self.robot.pos - old_pos))
        reached = self._update_waypoint()
        self._success = self._goal_distance() <= self._proximity
        ped_gap = self._nearest_ped_gap()
        self._comfort_steps += int(ped_gap < COMFORT_DISTANCE)
        self._collision_kind = self._check_collision(ped_gap)
        self._collision = bool(self._collision_kind)
        self._timeout = self._elapsed > s.sim.time_limit
        terminated = self._success or self._collision
        truncated = self._timeout and not terminated
        meta = self._meta.step(
            step=self._steps,
            action=self.robot.raw_action(action),  # Robot SF's units, so punish_action_reward agrees with it
            robot_pos=self.robot.pos,
            distance_to_goal=self._goal_distance(),
            ped_pos=self.crowd.pos,
            ped_forces=self.crowd.forces,
            collision_kind=self._collision_kind,
            waypoint_reached=reached,
            route_complete=self._success,
            timeout=self._timeout,
        )
        reward = float(self._reward(meta))
        self.last_meta = meta
        if not self._socnav:
            self._drive = np.concatenate([self._drive[1:], self._drive_state()[None]])
            self._rays = np.concatenate([self._rays[1:], self._ray_state()[None]])
        return self._get_obs(), reward, terminated, truncated, self._info()

    def render(self) -> np.ndarray:  # type: ignore[override,unused-ignore]  # rgb_array only (gymnasium >= 1.2 types it so)
        from trainers.envs.crowdnav.render import render_frame

        return render_frame(self)

    # ------------------------------------------------------------------ helpers
    def _sample_route(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Start point and the waypoints to pass (the route's, then the goal), chosen as Robot SF's sample_route."""
        by_spawn: dict[int, list[Any]] = {}
        for route in self.map.robot_routes:
            by_spawn.setdefault(route.spawn_id, []).append(route)
        spawns = sorted(by_spawn)
        routes = by_spawn[spawns[int(rng.integers(len(spawns)))]]
        route = routes[int(rng.integers(len(routes)))]
        wps = np.asarray(route.waypoints, dtype=np.float64)
        start = self._zone_point(rng, self.map.robot_spawn_zones, route.spawn_id, wps[0])
        goal = self._zone_point(rng, self.map.robot_goal_zones, route.goal_id, wps[-1])
        return start, np.concatenate([wps, goal[None, :]])

    def _zone_point(self, rng: np.random.Generator, zones: list[Any], index: int, anchor: np.ndarray) -> np.ndarray:
        """A point of a zone's triangle off obstacles (a small synthetic zone at ``anchor`` without one)."""
        if zones and 0 <= index < len(zones):
            zone = zones[index]
            low, high = np.array([zone.xmin, zone.ymin]), np.array([zone.xmax, zone.ymax])
        else:
            edge = FALLBACK_ZONE_EDGE if zones else ROUTE_ONLY_ZONE_EDGE
            low, high = anchor, anchor + edge
        for _ in range(20):
            u, v = rng.random(2)
            if u + v > 1.0:
                u, v = 1.0 - u, 1.0 - v
            point = np.array([high[0] - u * (high[0] - low[0]), low[1] + v * (high[1] - low[1])])
            if not self.map.inside_obstacle(point[None])[0]:
                return point
        return point

    def _goal_distance(self) -> float:
        """Straight-line distance to the route's last point (Robot SF's ``distance_to_goal``)."""
        d = self.waypoints[-1] - self.robot.pos
        return math.hypot(d[0], d[1])

    def _update_waypoint(self) -> bool:
        """Robot SF's RouteNavigator: within reach of the current waypoint, target the next (the last one stays)."""
        d = self.waypoints[self.wp_index] - self.robot.pos
        reached = math.hypot(d[0], d[1]) <= self._proximity
        if reached:
            self.wp_index = min(len(self.waypoints) - 1, self.wp_index + 1)
        return reached

    def _nearest_ped_gap(self) -> float:
        if self.crowd.n == 0:
            return math.inf
        d = self.crowd.pos - self.robot.pos
        return math.sqrt(float((d[:, 0] ** 2 + d[:, 1] ** 2).min())) - self.settings.robot.radius - self.crowd.radius

    def _check_collision(self, ped_gap: float) -> str:
        if ped_gap <= 0:
            return "pedestrian"
        x, y = self.robot.pos
        if x < 0 or y < 0 or x > self.map.width or y > self.map.height:
            return "map_edge"
        # A step moves the robot far less than its radius, so it cannot jump inside an obstacle unseen.
        if self._walls.min_distance2(self.robot.pos) <= self.settings.robot.radius**2:
            return "obstacle"
        return ""

    def _targets(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Current waypoint and the one after it (None at the last), as Robot SF's navigator reports them."""
        nxt = self.waypoints[self.wp_index + 1] if self.wp_index + 1 < len(self.waypoints) else None
        return self.waypoints[self.wp_index], nxt

    def _drive_state(self) -> np.ndarray:
        """Robot SF's drive state: speeds over their maxima, then distance (capped at 50 m, over 50), angle to the
        current waypoint and the turn from there to the next one, both over pi."""
        cur, nxt = self._targets()
        pos, theta = self.robot.pos, self.robot.theta
        d = cur - pos
        to_cur = math.atan2(d[1], d[0])
        turn = 0.0
        if nxt is not None and self.settings.sim.use_next_goal:
            turn = _wrap(math.atan2(nxt[1] - cur[1], nxt[0] - cur[0]) - to_cur)
        linear, angular = self.robot.speed_pair()
        state = np.array(
            [
                linear / self._speed_scale[0],
                angular / self._speed_scale[1],
                min(math.hypot(d[0], d[1]), TARGET_DISTANCE_CAP) / TARGET_DISTANCE_CAP,
                _wrap(to_cur - theta) / math.pi,
                turn / math.pi,
            ],
            dtype=np.float32,
        )
        return np.minimum(np.maximum(state, self._drive_low), 1.0)

    def _ray_state(self) -> np.ndarray:
        assert self.rays is not None
        dist = self.rays.cast(self.robot.pos, self.robot.theta, self.crowd.pos, self.crowd.radius, self.np_random)
        return (dist / self.rays.max_dist).astype(np.float32)

    def _get_obs(self) -> dict[str, np.ndarray]:
        if not self._socnav:
            return {"drive_state": self._drive.copy(), "rays": self._rays.copy()}
        return self._socnav_obs()

    def _socnav_obs(self) -> dict[str, np.ndarray]:
        """Robot SF's SocNav keys: positions clipped to [0, 50] m, pedestrians closest first, their velocities in
        the robot frame, the heading wrapped, ``robot_speed`` Robot SF's current speed pair."""
        s = self.settings
        f32 = np.float32
        n_max = s.max_pedestrians
        robot = self.robot
        positions = np.zeros((n_max, 2), dtype=f32)
        velocities = np.zeros((n_max, 2), dtype=f32)
        count = 0
        heading = robot.heading
        if self.crowd.n:
            rel = self.crowd.pos - robot.pos
            order = np.argsort((rel * rel).sum(1), kind="stable")[:n_max]
            count = len(order)
            positions[:count] = np.clip(self.crowd.pos[order], 0.0, POSITION_CAP)
            c, sn = math.cos(heading), math.sin(heading)
            v = self.crowd.vel[order]
            velocities[:count, 0] = c * v[:, 0] + sn * v[:, 1]
            velocities[:count, 1] = -sn * v[:, 0] + c * v[:, 1]
        cur, nxt = self._targets()
        speed_cap = self._socnav_speed_cap
        obs: dict[str, np.ndarray] = {
            "goal_current": np.clip(cur, 0.0, POSITION_CAP).astype(f32),
            "goal_next": np.clip(nxt if nxt is not None else np.zeros(2), 0.0, POSITION_CAP).astype(f32),
            "map_size": np.minimum([self.map.width, self.map.height], POSITION_CAP).astype(f32),
            "pedestrians_count": np.array([count], dtype=f32),
            "pedestrians_positions": positions,
            "pedestrians_radius": np.array([min(self.crowd.radius, POSITION_CAP)], dtype=f32),
            "pedestrians_velocities": np.clip(velocities, -speed_cap, speed_cap),
            "robot_heading": np.array([heading], dtype=f32),
            "robot_position": np.clip(robot.pos, 0.0, POSITION_CAP).astype(f32),
            "robot_radius": np.array([s.robot.radius], dtype=f32),
            "robot_speed": np.clip(robot.speed_pair(), -speed_cap, speed_cap).astype(f32),
            "sim_timestep": np.array([s.sim.time_per_step_in_secs], dtype=f32),
        }
        if s.extended_socnav_keys:
            obs["robot_velocity_xy"] = robot.vel.astype(f32)
            obs["robot_angular_velocity"] = np.array([robot.omega], dtype=f32)
        if self.grid is not None:
            grid, corner = self.grid.compute(robot.pos, robot.theta, self.crowd.pos)
            g = s.grid
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
            "route_progress": 1.0 if self._success else self.wp_index / len(self.waypoints),
            "timeout": self._timeout,
            "num_pedestrians": self.crowd.n,
            "is_success": self._success,
            "meta": self.last_meta,
        }


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi
