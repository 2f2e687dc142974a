"""``env_overrides`` (Robot SF semantics, README section 3) merged with a scenario into typed settings.

Precedence, lowest first, as in Robot SF's PPO trainer (``build_robot_config_from_scenario``, then
``_apply_env_overrides``): Robot SF's defaults, the scenario's ``simulation_config`` and ``robot_config``, then
``env_overrides``. An ``env_overrides.robot_config`` with a ``type`` replaces the scenario's robot; without one it
changes the scenario's robot field by field. Keys that change the observation (``stack_steps``,
``max_total_pedestrians``, grid and lidar settings) normally come from ``env_overrides``; a scenario that sets them
differently from its siblings is reported by the switching env. Every default below is Robot SF's.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trainers.envs.contracts import (
    DEFAULT_GRID_CONFIG,
    DEFAULT_LIDAR_CONFIG,
    DEFAULT_MAX_PEDESTRIANS,
    DEFAULT_STACK_STEPS,
    GRID_CHANNEL_ORDER,
)

__all__ = ["EnvSettings", "GridSettings", "RobotSettings", "SimSettings", "build_settings", "merged_overrides"]

ROBOT_TYPES = {
    "differential_drive": "differential_drive",
    "diff": "differential_drive",
    "differential": "differential_drive",
    "diff_drive": "differential_drive",
    "bicycle": "bicycle",
    "bicycle_drive": "bicycle",
    "holonomic": "holonomic",
}


@dataclass(frozen=True)
class RobotSettings:
    """Robot kinematics and limits: Robot SF's drive settings (``DifferentialDriveSettings`` etc., radius 1 m)."""

    type: str = "differential_drive"
    radius: float = 1.0
    max_linear_speed: float = 2.0  # differential drive and holonomic, m/s
    max_angular_speed: float = 1.0  # differential drive, rad/s
    wheelbase: float = 1.0  # bicycle, m
    max_steer: float = 0.78  # bicycle, rad
    max_velocity: float = 3.0  # bicycle, m/s
    max_accel: float = 1.0  # bicycle, m/s^2
    allow_backwards: bool = False


@dataclass(frozen=True)
class GridSettings:
    """Occupancy grid geometry and channels (contracts.DEFAULT_GRID_CONFIG plus robot radius and range)."""

    resolution: float = 0.1
    width: float = 20.0
    height: float = 20.0
    channels: tuple[str, ...] = ("obstacles", "pedestrians")
    use_ego_frame: bool = False
    center_on_robot: bool = False
    max_distance: float | None = None
    robot_radius: float = 0.3  # the robot channel's disc (Robot SF's GridConfig; not the collision radius)


@dataclass(frozen=True)
class SimSettings:
    """Crowd and episode parameters: Robot SF's sim_config merged with a scenario's simulation_config.

    ``ped_density`` unset means Robot SF's ``ped_density_by_difficulty[difficulty]``; ``max_episode_steps`` is Robot
    SF's ``sim_time_in_secs`` (200 s) over the step time; ``prf_*`` is ``prf_config`` (pedestrians pushed away from
    the robot, on by default in Robot SF).
    """

    time_per_step_in_secs: float = 0.1
    peds_speed_mult: float = 1.3
    ped_radius: float = 0.4
    goal_radius: float = 1.0
    stack_steps: int = DEFAULT_STACK_STEPS
    max_peds_per_group: int = 3
    max_total_pedestrians: int | None = None
    ped_density: float | None = None
    ped_density_by_difficulty: tuple[float, ...] = (0.01, 0.02, 0.04, 0.08)
    max_episode_steps: int = 2000
    route_spawn_distribution: str = "cluster"
    route_spawn_jitter_frac: float = 0.0
    route_spawn_seed: int | None = None
    route_width: float = 3.0
    prf_active: bool = True
    prf_activation_threshold: float = 2.0
    prf_force_multiplier: float = 10.0
    difficulty: int = 0
    use_next_goal: bool = True
    sim_time_in_secs: float | None = None  # Robot SF's episode time limit; unset: max_episode_steps x step time

    @property
    def time_limit(self) -> float:
        """Seconds after which an episode times out (Robot SF: elapsed time strictly above the limit)."""
        if self.sim_time_in_secs is not None:
            return float(self.sim_time_in_secs)
        return self.max_episode_steps * self.time_per_step_in_secs

    @property
    def max_sim_steps(self) -> int:
        """Robot SF's ``max_sim_steps``: the time limit in steps, rounded up."""
        return math.ceil(round(self.time_limit / self.time_per_step_in_secs, 9))

    @property
    def density(self) -> float:
        """Pedestrians per square metre of route corridor and crowded zone."""
        if self.ped_density is not None:
            return float(self.ped_density)
        table = self.ped_density_by_difficulty
        return float(table[min(max(self.difficulty, 0), len(table) - 1)])


@dataclass(frozen=True)
class EnvSettings:
    """Everything one CrowdNav env is built from."""

    observation_mode: str = "default_gym"
    grid_in_observation: bool = False
    use_occupancy_grid: bool = False
    robot: RobotSettings = field(default_factory=RobotSettings)
    grid: GridSettings = field(default_factory=GridSettings)
    sim: SimSettings = field(default_factory=SimSettings)
    num_rays: int = 272
    max_scan_dist: float = 10.0
    visual_angle_portion: float = 1.0
    scan_noise: tuple[float, float] = (0.005, 0.002)  # Robot SF's lidar: P(ray lost), P(ray corrupted)
    peds_have_static_obstacle_forces: bool = True
    extended_socnav_keys: bool = False

    @property
    def max_pedestrians(self) -> int:
        """Capacity of the pedestrian arrays (socnav's N)."""
        return int(self.sim.max_total_pedestrians or DEFAULT_MAX_PEDESTRIANS)


KNOWN_TOP_LEVEL = frozenset(
    {
        "observation_mode",
        "use_occupancy_grid",
        "include_grid_in_observation",
        "robot_config",
        "grid_config",
        "sim_config",
        "lidar_config",
        "peds_have_static_obstacle_forces",
        "peds_have_obstacle_forces",
        "peds_have_robot_repulsion",
        "map_id",
        "socnav_key_set",
        "use_image_obs",
        "image_config",
    }
)


def _warn_unknown(keys: set[str], known: set[str] | frozenset[str], where: str) -> None:
    unknown = sorted(keys - known)
    if unknown:
        warnings.warn(
            f"{where}: the embedded simulator ignores {unknown} (known: {sorted(known)})", UserWarning, stacklevel=3
        )


def _pick(section: Mapping[str, Any], cls: Any, aliases: Mapping[str, str] | None = None) -> dict[str, Any]:
    names = set(cls.__dataclass_fields__)
    out: dict[str, Any] = {}
    for key, value in section.items():
        key = (aliases or {}).get(key, key)
        if key in names and value is not None:
            out[key] = value
    return out


def merged_overrides(env_overrides: Mapping[str, Any] | None, scenario: Mapping[str, Any] | None) -> dict[str, Any]:
    """``env_overrides`` over a scenario's simulation_config/robot_config (Robot SF's PPO trainer order)."""
    merged = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in (env_overrides or {}).items()}
    scenario = scenario or {}
    sim = {k: v for k, v in (scenario.get("simulation_config") or {}).items() if v is not None}
    sim.update(merged.get("sim_config") or {})
    merged["sim_config"] = sim
    robot = {k: v for k, v in (scenario.get("robot_config") or {}).items() if v is not None}
    override = dict(merged.get("robot_config") or {})
    merged["robot_config"] = override if "type" in override else {**robot, **override}
    return merged


def _scan_noise(value: Any) -> tuple[float, float]:
    try:
        loss, corruption = (float(p) for p in value)
    except (TypeError, ValueError):
        raise ValueError(f"lidar_config.scan_noise: expected [P(loss), P(corruption)], got {value!r}") from None
    if not (0 <= loss <= 1 and 0 <= corruption <= 1):
        raise ValueError(f"lidar_config.scan_noise: probabilities must be in [0, 1], got {value!r}")
    return loss, corruption


def build_settings(env_overrides: Mapping[str, Any] | None, scenario: Mapping[str, Any] | None = None) -> EnvSettings:
    """Typed settings for one scenario; raises ``ValueError`` naming the bad key and the allowed values."""
    o = merged_overrides(env_overrides, scenario)
    _warn_unknown(set(o), KNOWN_TOP_LEVEL, "env_overrides")
    if o.get("use_image_obs"):
        raise ValueError("env_overrides.use_image_obs: image observations are not supported; set it to false")
    mode = o.get("observation_mode", "default_gym")
    if mode not in ("default_gym", "socnav_struct"):
        raise ValueError(f"env_overrides.observation_mode: {mode!r} is not one of default_gym, socnav_struct")
    robot_raw = dict(o.get("robot_config") or {})
    rtype = str(robot_raw.pop("type", "differential_drive")).lower()
    if rtype not in ROBOT_TYPES:
        raise ValueError(f"robot_config.type: {rtype!r} is not one of bicycle, differential_drive, holonomic")
    _warn_unknown(set(robot_raw), set(RobotSettings.__dataclass_fields__) | {"max_speed"}, "robot_config")
    robot = RobotSettings(type=ROBOT_TYPES[rtype], **_pick(robot_raw, RobotSettings, {"max_speed": "max_linear_speed"}))
    grid_raw = {**DEFAULT_GRID_CONFIG, **(o.get("grid_config") or {})}
    channels = tuple(str(c) for c in grid_raw.get("channels") or ())
    bad = [c for c in channels if c not in GRID_CHANNEL_ORDER]
    if bad:
        raise ValueError(f"grid_config.channels: {bad} not in {list(GRID_CHANNEL_ORDER)}")
    grid_raw["channels"] = channels
    _warn_unknown(set(grid_raw), set(GridSettings.__dataclass_fields__) | {"robot_radius"}, "grid_config")
    grid = GridSettings(**_pick(grid_raw, GridSettings))
    sim_raw = dict(o.get("sim_config") or {})
    prf = sim_raw.get("prf_config") or {}
    sim_kwargs = _pick(sim_raw, SimSettings)
    if isinstance(prf, Mapping):
        for key, name in (
            ("is_active", "prf_active"),
            ("activation_threshold", "prf_activation_threshold"),
            ("force_multiplier", "prf_force_multiplier"),
        ):
            if prf.get(key) is not None:
                sim_kwargs[name] = prf[key]
        sim_kwargs["prf_active"] = bool(sim_kwargs.get("prf_active", True))
    for key in ("difficulty", "max_peds_per_group", "max_episode_steps"):
        if key in sim_kwargs:
            sim_kwargs[key] = int(sim_kwargs[key])
    if "ped_density_by_difficulty" in sim_kwargs:
        sim_kwargs["ped_density_by_difficulty"] = tuple(float(x) for x in sim_kwargs["ped_density_by_difficulty"])
    if sim_kwargs.get("route_spawn_distribution", "cluster") not in ("cluster", "spread"):
        raise ValueError(
            f"simulation_config.route_spawn_distribution: {sim_kwargs['route_spawn_distribution']!r} is not one of "
            "cluster, spread"
        )
    sim = SimSettings(**sim_kwargs)
    lidar = {**DEFAULT_LIDAR_CONFIG, **(o.get("lidar_config") or {})}
    static_forces = o.get("peds_have_static_obstacle_forces", o.get("peds_have_obstacle_forces", True))
    use_grid = bool(o.get("use_occupancy_grid", False))
    return EnvSettings(
        observation_mode=mode,
        grid_in_observation=use_grid and bool(o.get("include_grid_in_observation", False)),
        use_occupancy_grid=use_grid,
        robot=robot,
        grid=grid,
        sim=sim,
        num_rays=int(lidar["num_rays"]),
        max_scan_dist=float(lidar["max_scan_dist"]),
        visual_angle_portion=float(lidar["visual_angle_portion"]),
        scan_noise=_scan_noise(lidar.get("scan_noise", (0.005, 0.002))),
        peds_have_static_obstacle_forces=bool(static_forces),
        extended_socnav_keys=o.get("socnav_key_set", "legacy") == "extended",
    )
