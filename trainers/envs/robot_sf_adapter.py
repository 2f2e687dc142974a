"""``env.backend: robot_sf``: build the env through Robot SF's own factory where ``robot_sf`` is importable.

Robot SF is not on PyPI; without it this backend fails with :class:`RobotSFNotInstalled`, whose message says how to
install it. With it, the resolved ``env_overrides`` are applied to a ``RobotSimulationConfig`` key by key: a key the
installed Robot SF does not know is an error naming it (upstream silently ignores unknown keys, which burnt users).
One scenario per env (``scenario_id``, or a matrix with a single scenario after hold-outs); its SVG map is loaded by
Robot SF's own parser.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["INSTALL_HINT", "RobotSFNotInstalled", "make_robot_sf_env"]

INSTALL_HINT = (
    "the robot_sf backend needs Robot SF, which is not on PyPI: install it into this environment with "
    "`pip install git+https://github.com/ll7/robot_sf_ll7` (or `pip install -e <checkout>`), "
    "or set env.backend: embedded to use orch's built-in simulator"
)
_SECTIONS = {"sim_config", "robot_config", "grid_config", "lidar_config"}
_HANDLED_HERE = {"observation_mode", "peds_have_obstacle_forces", "peds_have_robot_repulsion", "map_id"}


class RobotSFNotInstalled(ImportError):
    """``robot_sf`` cannot be imported."""


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise RobotSFNotInstalled(f"{INSTALL_HINT} (import {name} failed: {exc})") from None


def _apply(target: Any, values: Mapping[str, Any], where: str) -> None:
    for key, value in values.items():
        if not hasattr(target, key):
            raise ValueError(f"env_overrides.{where}{key}: the installed Robot SF has no such setting")
        current = getattr(target, key)
        if isinstance(value, Mapping) and current is not None and not isinstance(current, Mapping):
            _apply(current, value, f"{where}{key}.")
        else:
            setattr(target, key, value)


def _robot_settings(robot_cfg: Mapping[str, Any]) -> Any | None:
    if not robot_cfg:
        return None
    cfg = dict(robot_cfg)
    kind = str(cfg.pop("type", "differential_drive")).lower()
    if kind == "bicycle":
        module, cls = "robot_sf.robot.bicycle_drive", "BicycleDriveSettings"
    elif kind in ("differential_drive", "diff", "differential"):
        module, cls = "robot_sf.robot.differential_drive", "DifferentialDriveSettings"
    else:
        module, cls = "robot_sf.robot.holonomic_drive", "HolonomicDriveSettings"
    settings = getattr(_import(module), cls)()
    _apply(settings, cfg, "robot_config.")
    return settings


def make_robot_sf_env(
    env_overrides: Mapping[str, Any] | None,
    *,
    scenario_config: str | Path | None,
    scenario_id: str | None,
    exclude_scenarios: Sequence[str],
    seed: int | None,
    reward_name: str | None,
    reward_kwargs: Mapping[str, Any] | None,
    flatten_keys: Sequence[str] | None,
) -> Any:
    """One Robot SF env for one scenario, with ``env_overrides`` applied; see the module docstring."""
    factory = _import("robot_sf.gym_env.environment_factory")
    unified = _import("robot_sf.gym_env.unified_config")
    obs_mode = _import("robot_sf.gym_env.observation_mode")
    from trainers.envs.crowdnav.settings import merged_overrides
    from trainers.envs.scenarios import load_scenario_matrix, select_scenarios

    config = unified.RobotSimulationConfig()
    scenario = None
    if scenario_config is not None:
        chosen = select_scenarios(
            load_scenario_matrix(scenario_config), scenario_id=scenario_id, exclude=exclude_scenarios
        )
        if len(chosen) != 1:
            raise ValueError("the robot_sf backend runs one scenario per env: set scenario_id")
        scenario = chosen[0]
        parser = _import("robot_sf.nav.svg_map_parser")
        pool_module = _import("robot_sf.nav.map_config")
        map_def = parser.convert_map(str(scenario.map_path))
        config.map_pool = pool_module.MapDefinitionPool(map_defs={scenario.name: map_def})
    overrides = merged_overrides(env_overrides, scenario.as_overrides() if scenario else None)
    mode = overrides.get("observation_mode", "default_gym")
    config.observation_mode = obs_mode.ObservationMode(mode) if hasattr(obs_mode, "ObservationMode") else mode
    robot = _robot_settings(overrides.get("robot_config") or {})
    if robot is not None:
        config.robot_config = robot
    sim = dict(overrides.get("sim_config") or {})
    sim.pop("max_episode_steps", None)  # scenario keys Robot SF reads elsewhere
    for section, values in (
        ("sim_config", sim),
        ("grid_config", overrides.get("grid_config") or {}),
        ("lidar_config", overrides.get("lidar_config") or {}),
    ):
        if values:
            _apply(getattr(config, section), values, f"{section}.")
    rest = {k: v for k, v in overrides.items() if k not in _SECTIONS | _HANDLED_HERE}
    if "peds_have_obstacle_forces" in overrides:
        rest.setdefault("peds_have_static_obstacle_forces", overrides["peds_have_obstacle_forces"])
    _apply(config, rest, "")
    kwargs: dict[str, Any] = {"config": config, "debug": False}
    if reward_name or reward_kwargs:
        kwargs["reward_name"] = reward_name
        kwargs["reward_kwargs"] = dict(reward_kwargs or {})
    env = factory.make_robot_env(**kwargs)
    if seed is not None:
        env.reset(seed=seed)
    if flatten_keys:
        from trainers.envs.wrappers import FlattenKeys

        env = FlattenKeys(env, flatten_keys)
    return env
