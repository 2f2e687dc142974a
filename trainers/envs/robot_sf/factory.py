"""``make_robot_sf_env``: a Robot SF env from the same arguments as :func:`trainers.envs.make_env`.

One scenario (``scenario_id``): Robot SF's ``make_robot_env(config=...)`` on the config
:meth:`RobotSFMatrix.build_config` returns. A matrix: Robot SF's ``ScenarioSampler`` (hold-outs excluded, ``random``
or ``cycle``) inside its ``ScenarioSwitchingEnv``, which builds a fresh env per episode through the same config
builder, as Robot SF's PPO trainer does. A seeded reset rebuilds either from that seed (:class:`RebuildOnSeed`).
Dreamer's ``flatten_keys`` use orch's :class:`~trainers.envs.wrappers.FlattenKeys`. The action space stays Robot SF's
own (raw units); see :func:`.wrappers.normalized_actions`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym

from trainers.envs.resources import DEFAULT_SCENARIO, default_matrix_path
from trainers.envs.robot_sf.imports import import_robot_sf
from trainers.envs.robot_sf.overrides import obstacle_forces_flag
from trainers.envs.robot_sf.scenarios import RobotSFMatrix
from trainers.envs.robot_sf.wrappers import OrchInfo, RebuildOnSeed
from trainers.envs.wrappers import FlattenKeys

__all__ = ["make_robot_sf_env", "quiet_robot_sf_logs"]

SUITE = "orch"
# Robot SF factory keywords orch passes through (viewer and recording only).
PASSTHROUGH_KWARGS = frozenset(
    {"debug", "recording_enabled", "record_video", "video_path", "video_fps", "recording_dir", "use_jsonl_recording"}
)


def quiet_robot_sf_logs() -> None:
    """Silence Robot SF's loguru lines (dozens per env) and pygame's banner, unless ``ORCH_ROBOT_SF_LOGS=1``."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    if os.environ.get("ORCH_ROBOT_SF_LOGS") == "1":
        return
    try:
        from loguru import logger
    except ImportError:  # Robot SF depends on loguru; without it the import error comes from Robot SF itself
        return
    for name in ("robot_sf", "pysocialforce"):
        logger.disable(name)


def _checked_overrides(
    env_overrides: Mapping[str, Any] | None, factory_kwargs: dict[str, Any], switching: str
) -> dict[str, Any]:
    """The env overrides with the deprecated ``peds_have_obstacle_forces`` factory keyword folded in (taken out of
    ``factory_kwargs``, as the embedded factory does); an unknown keyword or switching mode raises ``ValueError``."""
    overrides = dict(env_overrides or {})
    if "peds_have_obstacle_forces" in factory_kwargs:
        overrides.setdefault("peds_have_static_obstacle_forces", bool(factory_kwargs.pop("peds_have_obstacle_forces")))
    unknown = sorted(set(factory_kwargs) - PASSTHROUGH_KWARGS)
    if unknown:
        raise ValueError(
            f"make_env got unknown keyword(s) {unknown}; known factory keywords: "
            f"{sorted(PASSTHROUGH_KWARGS | {'peds_have_obstacle_forces'})}"
        )
    if switching not in ("random", "cycle"):
        raise ValueError(f"switching mode {switching!r} is not one of random, cycle")
    return overrides


def make_robot_sf_env(
    env_overrides: Mapping[str, Any] | None,
    *,
    scenario_config: str | Path | None,
    scenario_id: str | None,
    exclude_scenarios: Sequence[str] = (),
    seed: int | None = None,
    reward_name: str | None = None,
    reward_kwargs: Mapping[str, Any] | None = None,
    flatten_keys: Sequence[str] | None = None,
    switching: str = "random",
    **factory_kwargs: Any,
) -> gym.Env:
    """A Robot SF env for one scenario or a whole matrix; see the module docstring. Raises ``ValueError`` naming a
    bad key or name, :class:`~trainers.envs.robot_sf.imports.RobotSFNotInstalled` without Robot SF."""
    quiet_robot_sf_logs()
    overrides = _checked_overrides(env_overrides, factory_kwargs, switching)
    if scenario_config is None:
        scenario_config = default_matrix_path()
        scenario_id = scenario_id or DEFAULT_SCENARIO
    matrix = RobotSFMatrix.load(scenario_config)
    chosen = matrix.select(scenario_id=scenario_id, exclude=exclude_scenarios)
    first_config = matrix.build_config(chosen[0], overrides)  # fails here, naming the key, before any env exists
    reward = {"reward_name": reward_name, "reward_kwargs": dict(reward_kwargs or {})}
    kwargs = {"peds_have_obstacle_forces": obstacle_forces_flag(first_config, overrides), **reward, **factory_kwargs}

    def build(episode_seed: int | None) -> gym.Env:
        if scenario_id:
            factory = import_robot_sf("robot_sf.gym_env.environment_factory")
            config = first_config if episode_seed == seed else matrix.build_config(chosen[0], overrides)
            env = factory.make_robot_env(
                config=config,
                seed=episode_seed,
                suite_name=SUITE,
                scenario_name=scenario_id,
                algorithm_name=SUITE,
                **kwargs,
            )
            return OrchInfo(env, scenario_id)
        sampling = import_robot_sf("robot_sf.training.scenario_sampling")
        sampler = sampling.ScenarioSampler(
            matrix.scenarios, exclude_scenarios=tuple(exclude_scenarios), seed=episode_seed, strategy=switching
        )
        switching_env = sampling.ScenarioSwitchingEnv(
            scenario_sampler=sampler,
            scenario_path=matrix.path,
            config_builder=lambda scenario: matrix.build_config(scenario, overrides),
            env_factory_kwargs=kwargs,
            suite_name=SUITE,
            algorithm_name=SUITE,
            seed=episode_seed,
        )
        return OrchInfo(switching_env)

    env: gym.Env = RebuildOnSeed(build, seed)
    if flatten_keys:
        env = FlattenKeys(env, flatten_keys)
    return env
