"""``env_overrides`` (Robot SF semantics, README section 3) merged with a scenario into typed settings.

Precedence follows Robot SF's PPO trainer, lowest first: built-in defaults, the scenario's ``simulation_config`` and
``robot_config`` (``build_robot_config_from_scenario``), then ``env_overrides`` (``_apply_env_overrides``): an
``env_overrides.robot_config`` with a ``type`` replaces the scenario's robot, one without a type changes single
fields of it; ``env_overrides.sim_config`` keys replace the scenario's. A scenario's ``ped_density`` is the density
at its ``difficulty``; without one, ``ped_density_by_difficulty[difficulty]`` applies, as in Robot SF.

Every default is Robot SF's (drive settings, ``SimulationSettings``, ``GridConfig``, ``LidarScannerSettings``).
Every key is known or an error naming it with the keys allowed there (Robot SF ignores unknown keys silently, which
burnt users): :func:`settings_problems` lists them all (``orch validate``), :func:`build_settings` raises the first.
"""

from __future__ import annotations

import difflib
import math
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

__all__ = [
    "EnvSettings",
    "GridSettings",
    "RobotSettings",
    "SimSettings",
    "build_settings",
    "merged_overrides",
    "settings_problems",
]

ROBOT_TYPES = {
    "differential_drive": "differential_drive",
    "diff": "differential_drive",
    "differential": "differential_drive",
    "diff_drive": "differential_drive",
    "bicycle": "bicycle",
    "bicycle_drive": "bicycle",
    "bike": "bicycle",
    "holonomic": "holonomic",
    "omni": "holonomic",
    "omnidirectional": "holonomic",
}
# Robot SF's drive settings fields per type (DifferentialDriveSettings, BicycleDriveSettings, HolonomicDriveSettings).
ROBOT_FIELDS = {
    "differential_drive": frozenset(
        {"radius", "max_linear_speed", "max_angular_speed", "wheel_radius", "interaxis_length", "allow_backwards"}
    ),
    "bicycle": frozenset({"radius", "wheelbase", "max_steer", "max_velocity", "max_accel", "allow_backwards"}),
    "holonomic": frozenset({"radius", "max_speed", "max_linear_speed", "max_angular_speed", "command_mode"}),
}
# What a scenario's simulation_config may set (Robot SF's scenario loader reads exactly these).
SCENARIO_SIM_KEYS = frozenset(
    {
        "max_episode_steps",
        "difficulty",
        "ped_density",
        "max_peds_per_group",
        "peds_speed_mult",
        "ped_radius",
        "goal_radius",
        "route_spawn_distribution",
        "route_spawn_jitter_frac",
        "route_spawn_seed",
    }
)
DEFAULT_DENSITY_BY_DIFFICULTY = (0.01, 0.02, 0.04, 0.08)  # Robot SF's SimulationSettings.ped_density_by_difficulty


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

    ``max_episode_steps`` defaults to Robot SF's ``sim_time_in_secs`` (200 s) over the step time; ``prf_*`` is
    ``prf_config`` (pedestrians pushed away from the robot, on by default in Robot SF).
    """

    time_per_step_in_secs: float = 0.1
    peds_speed_mult: float = 1.3
    ped_radius: float = 0.4
    goal_radius: float = 1.0
    stack_steps: int = DEFAULT_STACK_STEPS
    max_peds_per_group: int = 3
    max_total_pedestrians: int | None = None
    ped_density: float = DEFAULT_DENSITY_BY_DIFFICULTY[0]
    max_episode_steps: int = 2000
    route_spawn_distribution: str = "cluster"
    route_spawn_jitter_frac: float = 0.0
    route_width: float = 3.0
    prf_active: bool = True
    prf_activation_threshold: float = 2.0
    prf_force_multiplier: float = 10.0
    difficulty: int = 0
    route_spawn_seed: int | None = None
    use_next_goal: bool = True
    sim_time_in_secs: float | None = None  # Robot SF's episode time limit when given instead of max_episode_steps

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
        # Robot SF viewer and planner keys: the viewer ones are accepted and have no effect here
        "show_occupancy_grid",
        "grid_visualization_alpha",
        "use_planner",
        "planner_backend",
        "planner_clearance_margin",
    }
)
GRID_KEYS = frozenset({*GridSettings.__dataclass_fields__, "robot_radius", "dtype"})
LIDAR_KEYS = frozenset({"num_rays", "max_scan_dist", "visual_angle_portion", "scan_noise", "detect_other_robots"})
PRF_KEYS = frozenset({"is_active", "robot_radius", "activation_threshold", "force_multiplier"})
SIM_KEYS = frozenset(
    (set(SimSettings.__dataclass_fields__) - {"prf_active", "prf_activation_threshold", "prf_force_multiplier"})
    | {"prf_config", "sim_time_in_secs", "ped_density_by_difficulty", "use_next_goal"}
)


def _unknown(keys: Any, known: frozenset[str], where: str) -> list[tuple[str, str]]:
    out = []
    for key in sorted(set(keys) - known):
        close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.7)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(known))}"
        out.append((f"{where}.{key}", f"unknown key ({hint})"))
    return out


def _section(value: Any, where: str, problems: list[tuple[str, str]]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.append((where, f"expected a mapping, got {value!r}"))
        return {}
    return dict(value)


def _robot_problems(robot: Mapping[str, Any], where: str) -> list[tuple[str, str]]:
    raw_type = str(robot.get("type", robot.get("model", "differential_drive"))).strip().lower()
    if raw_type not in ROBOT_TYPES:
        return [(f"{where}.type", f"{raw_type!r} is not one of bicycle, differential_drive, holonomic")]
    rtype = ROBOT_TYPES[raw_type]
    problems = []
    if rtype == "holonomic" and str(robot.get("command_mode", "vx_vy")).strip().lower() != "vx_vy":
        problems.append((f"{where}.command_mode", "the embedded holonomic robot takes vx_vy commands only"))
    for key in sorted(set(robot) - ROBOT_FIELDS[rtype] - {"type", "model"}):
        owners = [t for t, fields in ROBOT_FIELDS.items() if key in fields]
        hint = f"a {' / '.join(owners)} setting" if owners else "unknown"
        problems.append((f"{where}.{key}", f"{hint}, not one of {rtype}'s: {', '.join(sorted(ROBOT_FIELDS[rtype]))}"))
    return problems


def settings_problems(
    env_overrides: Mapping[str, Any] | None, scenario: Mapping[str, Any] | None = None
) -> list[tuple[str, str]]:
    """Every problem of ``env_overrides`` (and a scenario's sections) as (key path, message); [] when they build."""
    o = dict(env_overrides or {})
    problems = _unknown(o, KNOWN_TOP_LEVEL, "env_overrides")
    robot = _section(o.get("robot_config"), "env_overrides.robot_config", problems)
    problems += _robot_problems(robot, "env_overrides.robot_config") if robot else []
    problems += _unknown(
        _section(o.get("grid_config"), "env_overrides.grid_config", problems), GRID_KEYS, "env_overrides.grid_config"
    )
    problems += _unknown(
        _section(o.get("lidar_config"), "env_overrides.lidar_config", problems),
        LIDAR_KEYS,
        "env_overrides.lidar_config",
    )
    sim = _section(o.get("sim_config"), "env_overrides.sim_config", problems)
    problems += _unknown(sim, SIM_KEYS, "env_overrides.sim_config")
    prf = _section(sim.get("prf_config"), "env_overrides.sim_config.prf_config", problems)
    problems += _unknown(prf, PRF_KEYS, "env_overrides.sim_config.prf_config")
    if o.get("use_planner"):
        problems.append(
            (
                "env_overrides.use_planner",
                "the embedded simulator has no global planner: set it to false, or env.backend: robot_sf",
            )
        )
    if o.get("use_image_obs"):
        problems.append(("env_overrides.use_image_obs", "image observations are not supported; set it to false"))
    if scenario:
        scenario_sim = _section(scenario.get("simulation_config"), "simulation_config", problems)
        problems += _unknown(scenario_sim, SCENARIO_SIM_KEYS, "simulation_config")
        scenario_robot = _section(scenario.get("robot_config"), "robot_config", problems)
        problems += _robot_problems(scenario_robot, "robot_config") if scenario_robot else []
    if not problems:
        try:
            _build(o, scenario)
        except (TypeError, ValueError, IndexError) as exc:
            problems.append(("env_overrides", str(exc)))
    return problems


def merged_overrides(env_overrides: Mapping[str, Any] | None, scenario: Mapping[str, Any] | None) -> dict[str, Any]:
    """``env_overrides`` over a scenario's simulation_config/robot_config, in Robot SF's trainer order."""
    merged = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in (env_overrides or {}).items()}
    scenario = scenario or {}
    sim = {k: v for k, v in (scenario.get("simulation_config") or {}).items() if v is not None}
    sim.update(merged.get("sim_config") or {})
    merged["sim_config"] = sim
    scenario_robot = {k: v for k, v in (scenario.get("robot_config") or {}).items() if v is not None}
    if "model" in scenario_robot:
        scenario_robot.setdefault("type", scenario_robot.pop("model"))
    robot = dict(merged.get("robot_config") or {})
    merged["robot_config"] = robot if "type" in robot else {**scenario_robot, **robot}
    return merged


def build_settings(env_overrides: Mapping[str, Any] | None, scenario: Mapping[str, Any] | None = None) -> EnvSettings:
    """Typed settings for one scenario; raises ``ValueError`` naming the first bad key and what is allowed there."""
    problems = settings_problems(env_overrides, scenario)
    if problems:
        key, message = problems[0]
        raise ValueError(f"{key}: {message}")
    return _build(dict(env_overrides or {}), scenario)


def _pick(section: Mapping[str, Any], cls: Any, aliases: Mapping[str, str] | None = None) -> dict[str, Any]:
    names = set(cls.__dataclass_fields__)
    out: dict[str, Any] = {}
    for key, value in section.items():
        key = (aliases or {}).get(key, key)
        if key in names and value is not None:
            out[key] = value
    return out


def _sim_settings(sim_raw: Mapping[str, Any]) -> SimSettings:
    sim_kwargs = _pick(sim_raw, SimSettings)
    prf = sim_raw.get("prf_config") or {}
    if isinstance(prf, Mapping):
        for key, name in (
            ("activation_threshold", "prf_activation_threshold"),
            ("force_multiplier", "prf_force_multiplier"),
        ):
            if prf.get(key) is not None:
                sim_kwargs[name] = float(prf[key])
    sim_kwargs["prf_active"] = bool(prf.get("is_active", True)) if isinstance(prf, Mapping) else True
    difficulty = int(sim_raw.get("difficulty", 0))
    sim_kwargs["difficulty"] = difficulty
    if "ped_density" not in sim_raw:  # Robot SF: the density registered for the difficulty
        table = list(sim_raw.get("ped_density_by_difficulty") or DEFAULT_DENSITY_BY_DIFFICULTY)
        if not 0 <= difficulty < len(table):
            raise ValueError(f"sim_config.difficulty: {difficulty} has no entry in ped_density_by_difficulty {table}")
        sim_kwargs["ped_density"] = float(table[difficulty])
    sim_kwargs.pop("sim_time_in_secs", None)
    if "sim_time_in_secs" in sim_raw and "max_episode_steps" not in sim_raw:
        dt = float(sim_raw.get("time_per_step_in_secs", SimSettings.time_per_step_in_secs))
        sim_kwargs["max_episode_steps"] = max(1, math.ceil(float(sim_raw["sim_time_in_secs"]) / dt))
        sim_kwargs["sim_time_in_secs"] = float(sim_raw["sim_time_in_secs"])  # the exact limit Robot SF tests
    for key in ("max_peds_per_group", "max_episode_steps"):
        if key in sim_kwargs:
            sim_kwargs[key] = int(sim_kwargs[key])
    if sim_kwargs.get("route_spawn_distribution", "cluster") not in ("cluster", "spread"):
        raise ValueError(
            f"simulation_config.route_spawn_distribution: {sim_kwargs['route_spawn_distribution']!r} is not one of "
            "cluster, spread"
        )
    return SimSettings(**sim_kwargs)


def _scan_noise(value: Any) -> tuple[float, float]:
    try:
        loss, corruption = (float(p) for p in value)
    except (TypeError, ValueError):
        raise ValueError(f"lidar_config.scan_noise: expected [P(loss), P(corruption)], got {value!r}") from None
    if not (0 <= loss <= 1 and 0 <= corruption <= 1):
        raise ValueError(f"lidar_config.scan_noise: probabilities must be in [0, 1], got {value!r}")
    return loss, corruption


def _build(o: Mapping[str, Any], scenario: Mapping[str, Any] | None) -> EnvSettings:
    o = merged_overrides(o, scenario)
    mode = o.get("observation_mode", "default_gym")
    if mode not in ("default_gym", "socnav_struct"):
        raise ValueError(f"env_overrides.observation_mode: {mode!r} is not one of default_gym, socnav_struct")
    robot_raw = dict(o.get("robot_config") or {})
    rtype = ROBOT_TYPES[str(robot_raw.pop("type", "differential_drive")).strip().lower()]
    robot = RobotSettings(type=rtype, **_pick(robot_raw, RobotSettings, {"max_speed": "max_linear_speed"}))
    grid_raw = {**DEFAULT_GRID_CONFIG, **(o.get("grid_config") or {})}
    channels = tuple(str(c) for c in grid_raw.get("channels") or ())
    bad = [c for c in channels if c not in GRID_CHANNEL_ORDER]
    if bad:
        raise ValueError(f"grid_config.channels: {bad} not in {list(GRID_CHANNEL_ORDER)}")
    grid_raw["channels"] = channels
    grid = GridSettings(**_pick(grid_raw, GridSettings))
    sim = _sim_settings(dict(o.get("sim_config") or {}))
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
