"""``env_overrides`` (Robot SF semantics, README section 3) merged with a scenario into typed settings.

Precedence, lowest first: built-in defaults, ``env_overrides``, then the scenario's ``simulation_config`` and
``robot_config`` (a scenario describes its own crowd, episode length and, if it wants, its robot). Keys that change
the observation (``stack_steps``, ``max_total_pedestrians``, grid and lidar settings) come from ``env_overrides``
unless a scenario sets them, in which case the switching env reports the mismatch.
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
    """Robot kinematics and limits. Defaults follow Robot SF's drive settings (radius 1 m)."""

    type: str = "differential_drive"
    radius: float = 1.0
    max_linear_speed: float = 2.0  # differential drive and holonomic, m/s
    max_angular_speed: float = 0.5  # differential drive, rad/s
    wheelbase: float = 1.0  # bicycle, m
    max_steer: float = math.pi / 4  # bicycle, rad
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


@dataclass(frozen=True)
class SimSettings:
    """Crowd and episode parameters: Robot SF's sim_config merged with a scenario's simulation_config."""

    time_per_step_in_secs: float = 0.1
    peds_speed_mult: float = 1.3
    ped_radius: float = 0.4
    goal_radius: float = 1.0
    stack_steps: int = DEFAULT_STACK_STEPS
    max_peds_per_group: int = 6
    max_total_pedestrians: int | None = None
    ped_density: float = 0.02
    max_episode_steps: int = 500
    route_spawn_distribution: str = "spread"
    route_spawn_jitter_frac: float = 0.0
    route_width: float = 3.0
    prf_active: bool = False
    difficulty: int = 0


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
    """``env_overrides`` with a scenario's simulation_config/robot_config folded into sim_config/robot_config."""
    merged = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in (env_overrides or {}).items()}
    scenario = scenario or {}
    sim = dict(merged.get("sim_config") or {})
    sim.update({k: v for k, v in (scenario.get("simulation_config") or {}).items() if v is not None})
    merged["sim_config"] = sim
    robot = dict(merged.get("robot_config") or {})
    robot.update({k: v for k, v in (scenario.get("robot_config") or {}).items() if v is not None})
    merged["robot_config"] = robot
    return merged


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
    sim_kwargs["prf_active"] = bool(prf.get("is_active", False)) if isinstance(prf, Mapping) else False
    for key in ("difficulty",):
        if key in sim_kwargs:
            sim_kwargs[key] = int(sim_kwargs[key])
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
        peds_have_static_obstacle_forces=bool(static_forces),
        extended_socnav_keys=o.get("socnav_key_set", "legacy") == "extended",
    )
