"""``env_overrides`` applied to a Robot SF ``RobotSimulationConfig``, in the order and with the meaning that Robot SF's
PPO trainer gives them (``scripts/training/train_expert_ppo.py``), after the scenario built the config:

* top-level flags (``observation_mode``, ``use_occupancy_grid``, ``include_grid_in_observation``, the pedestrian
  force flags, ``map_id``, ...) are set on the config;
* ``robot_config`` with a ``type`` replaces the scenario's robot by a fresh one of that type, then sets its fields;
  without ``type`` it changes the scenario's robot;
* ``grid_config`` replaces the grid configuration (unset fields take Robot SF's defaults);
* ``sim_config`` is set field by field, nested sections (``prf_config``) included.

Two differences, both deliberate: a key the installed Robot SF does not have is an error naming it (upstream drops
it silently, which burnt users), and ``sim_config.max_episode_steps`` / ``ped_density`` / ``difficulty`` are accepted
with the meaning the scenario loader gives them. ``lidar_config`` (which the upstream trainer ignores) is applied too,
so both backends honour the same keys.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from trainers.envs.robot_sf.imports import import_robot_sf

__all__ = ["SIMPLE_KEYS", "apply_env_overrides", "obstacle_forces_flag"]

SIMPLE_KEYS = (
    "use_occupancy_grid",
    "include_grid_in_observation",
    "show_occupancy_grid",
    "use_planner",
    "planner_backend",
    "planner_clearance_margin",
    "peds_have_obstacle_forces",
    "peds_have_static_obstacle_forces",
    "peds_have_robot_repulsion",
    "map_id",
)
_SECTIONS = ("observation_mode", "robot_config", "grid_config", "sim_config", "lidar_config")
_ACCEPTED_ELSEWHERE = ("socnav_key_set", "use_image_obs", "image_config")
_ROBOT_TYPES = {
    "differential_drive": ("robot_sf.robot.differential_drive", "DifferentialDriveSettings"),
    "diff": ("robot_sf.robot.differential_drive", "DifferentialDriveSettings"),
    "differential": ("robot_sf.robot.differential_drive", "DifferentialDriveSettings"),
    "diff_drive": ("robot_sf.robot.differential_drive", "DifferentialDriveSettings"),
    "bicycle": ("robot_sf.robot.bicycle_drive", "BicycleDriveSettings"),
    "bicycle_drive": ("robot_sf.robot.bicycle_drive", "BicycleDriveSettings"),
    "bike": ("robot_sf.robot.bicycle_drive", "BicycleDriveSettings"),
    "holonomic": ("robot_sf.robot.holonomic_drive", "HolonomicDriveSettings"),
    "omni": ("robot_sf.robot.holonomic_drive", "HolonomicDriveSettings"),
}


def apply_env_overrides(config: Any, overrides: Mapping[str, Any] | None) -> None:
    """Change ``config`` (built from a scenario) by ``overrides``; raises ``ValueError`` naming a bad key."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(SIMPLE_KEYS) - set(_SECTIONS) - set(_ACCEPTED_ELSEWHERE))
    if unknown:
        raise ValueError(
            f"env_overrides: {unknown} not known to the robot_sf backend "
            f"(known: {sorted({*SIMPLE_KEYS, *_SECTIONS, *_ACCEPTED_ELSEWHERE})})"
        )
    _refuse_unsupported(overrides)
    if "observation_mode" in overrides:
        mode = import_robot_sf("robot_sf.gym_env.observation_mode").ObservationMode
        try:
            config.observation_mode = mode(str(overrides["observation_mode"]))
        except ValueError:
            raise ValueError(
                f"env_overrides.observation_mode: {overrides['observation_mode']!r} is not one of "
                f"{', '.join(m.value for m in mode)}"
            ) from None
    for key in SIMPLE_KEYS:
        if key in overrides:
            setattr(config, key, overrides[key])
    if overrides.get("robot_config") is not None:
        _apply_robot(config, _mapping(overrides["robot_config"], "robot_config"))
    if overrides.get("grid_config") is not None:
        config.grid_config = _grid_config(_mapping(overrides["grid_config"], "grid_config"))
    if overrides.get("sim_config") is not None:
        _apply_sim(config, _mapping(overrides["sim_config"], "sim_config"))
    if overrides.get("lidar_config") is not None:
        config.lidar_config = _replace(config.lidar_config, _mapping(overrides["lidar_config"], "lidar_config"), "")
    _settle_grid(config)


def obstacle_forces_flag(config: Any, overrides: Mapping[str, Any] | None) -> bool:
    """The value for ``make_robot_env(peds_have_obstacle_forces=...)``.

    Robot SF's factory writes that keyword over ``config.peds_have_static_obstacle_forces``, so the resolved flag
    (``peds_have_static_obstacle_forces``, else its deprecated alias, else the config's) must travel as the keyword.
    """
    overrides = overrides or {}
    for key in ("peds_have_static_obstacle_forces", "peds_have_obstacle_forces"):
        if overrides.get(key) is not None:
            return bool(overrides[key])
    return bool(getattr(config, "peds_have_static_obstacle_forces", True))


def _refuse_unsupported(overrides: Mapping[str, Any]) -> None:
    if overrides.get("use_image_obs") or overrides.get("image_config"):
        raise ValueError("env_overrides.use_image_obs: image observations are not supported by orch; set it to false")
    key_set = overrides.get("socnav_key_set", "legacy")
    if key_set not in ("legacy", None):
        raise ValueError(
            f"env_overrides.socnav_key_set: {key_set!r} needs a Robot SF with robot_velocity_xy; the installed "
            "Robot SF has only the legacy SocNav keys (use socnav_key_set: legacy or the embedded backend)"
        )


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"env_overrides.{where}: expected a mapping, got {type(value).__name__}")
    return value


def _field_names(obj: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(obj) if f.init}


def _replace(obj: Any, values: Mapping[str, Any], where: str) -> Any:
    """A copy of dataclass ``obj`` with ``values`` (its own validation runs again); unknown fields are errors."""
    unknown = sorted(set(values) - _field_names(obj))
    if unknown:
        raise ValueError(
            f"env_overrides.{where or type(obj).__name__}: {unknown} not in the installed Robot SF's "
            f"{type(obj).__name__} (fields: {sorted(_field_names(obj))})"
        )
    try:
        return dataclasses.replace(obj, **values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"env_overrides.{where or type(obj).__name__}: {exc}") from None


def _apply_robot(config: Any, robot: Mapping[str, Any]) -> None:
    fields = dict(robot)
    kind = fields.pop("type", None)
    if kind is not None:
        name = str(kind).strip().lower()
        if name not in _ROBOT_TYPES:
            known = ", ".join(sorted(_ROBOT_TYPES))
            raise ValueError(f"env_overrides.robot_config.type: {kind!r} is not one of {known}")
        module, cls = _ROBOT_TYPES[name]
        base = getattr(import_robot_sf(module), cls)()
    else:
        base = config.robot_config
    config.robot_config = _replace(base, fields, "robot_config")


def _grid_config(values: Mapping[str, Any]) -> Any:
    module = import_robot_sf("robot_sf.nav.occupancy_grid")
    payload = dict(values)
    if "channels" in payload:
        try:
            payload["channels"] = [module.GridChannel(str(c)) for c in payload["channels"]]
        except ValueError:
            raise ValueError(
                f"env_overrides.grid_config.channels: {payload['channels']!r}; each must be one of "
                f"{', '.join(c.value for c in module.GridChannel)}"
            ) from None
    return _replace(module.GridConfig(), payload, "grid_config")


def _apply_sim(config: Any, values: Mapping[str, Any]) -> None:
    sim = config.sim_config
    rest = dict(values)
    # The scenario loader's keys, with its meaning: episode length in steps, density at the chosen difficulty.
    if "difficulty" in rest:
        sim.difficulty = int(rest.pop("difficulty"))
    if "max_episode_steps" in rest:
        sim.sim_time_in_secs = max(1, int(rest.pop("max_episode_steps"))) * sim.time_per_step_in_secs
    if "ped_density" in rest:
        index = min(max(sim.difficulty, 0), len(sim.ped_density_by_difficulty) - 1)
        sim.ped_density_by_difficulty[index] = float(rest.pop("ped_density"))
    _set_nested(sim, rest, "sim_config")


def _set_nested(target: Any, values: Mapping[str, Any], where: str) -> None:
    for key, value in values.items():
        if not hasattr(target, key):
            raise ValueError(
                f"env_overrides.{where}.{key}: the installed Robot SF has no such setting "
                f"(fields: {sorted(_field_names(target)) if dataclasses.is_dataclass(target) else '?'})"
            )
        current = getattr(target, key)
        if isinstance(value, Mapping) and dataclasses.is_dataclass(current):
            _set_nested(current, value, f"{where}.{key}")
        else:
            setattr(target, key, value)


def _settle_grid(config: Any) -> None:
    """What ``RobotSimulationConfig.__post_init__`` would do for grid flags set after construction."""
    if getattr(config, "use_occupancy_grid", False) and getattr(config, "grid_config", None) is None:
        config.grid_config = import_robot_sf("robot_sf.nav.occupancy_grid").GridConfig()
    if getattr(config, "include_grid_in_observation", False) and not getattr(config, "use_occupancy_grid", False):
        raise ValueError("env_overrides.include_grid_in_observation: true needs use_occupancy_grid: true")
