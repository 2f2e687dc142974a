"""``make_env``: the one way trainers build a crowd-navigation env from resolved settings.

Also registers the Gymnasium id ``orch/CrowdNav-v0`` (``gymnasium.make("orch/CrowdNav-v0", **make_env kwargs)``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym

from trainers.envs.crowdnav.env import CrowdNavEnv
from trainers.envs.resources import DEFAULT_SCENARIO, default_matrix_path
from trainers.envs.scenarios import load_scenario_matrix, select_scenarios
from trainers.envs.switching import ScenarioSwitchingEnv
from trainers.envs.wrappers import FlattenKeys

__all__ = ["ENV_ID", "make_env", "register_envs"]

ENV_ID = "orch/CrowdNav-v0"
BACKENDS = ("embedded", "robot_sf")
# Robot SF factory keywords that only affect its debug viewer and recordings: accepted so users' env factory_kwargs
# work unchanged, and ignored by the embedded simulator (it has no viewer; use render()).
VIEWER_KWARGS = frozenset(
    {"debug", "recording_enabled", "record_video", "video_path", "video_fps", "recording_dir", "use_jsonl_recording"}
)


def make_env(
    env_overrides: Mapping[str, Any] | None = None,
    *,
    scenario_config: str | Path | None = None,
    scenario_id: str | None = None,
    exclude_scenarios: Sequence[str] = (),
    seed: int | None = None,
    backend: str = "embedded",
    reward_name: str | None = None,
    reward_kwargs: Mapping[str, Any] | None = None,
    flatten_keys: Sequence[str] | None = None,
    switching: str = "random",
    render_mode: str | None = None,
    **factory_kwargs: Any,
) -> gym.Env:
    """Build one env.

    ``scenario_config`` None means the shipped matrix's easy scenario (``easy_open_low``) unless ``scenario_id``
    names another of its scenarios. With ``scenario_id`` the env runs that scenario only; without it, a
    :class:`ScenarioSwitchingEnv` samples the matrix's scenarios minus ``exclude_scenarios`` (hold-outs).
    ``seed`` seeds the first ``reset()`` (and scenario switching); ``flatten_keys`` concatenates those observation
    keys into one vector. The observation space equals ``contracts.observation_signature(env_overrides,
    flatten_keys=flatten_keys)``. ``factory_kwargs`` takes Robot SF's factory keywords: ``peds_have_obstacle_forces``
    (folded into env_overrides) and the viewer/recording ones (ignored); anything else is an error.
    """
    if backend not in BACKENDS:
        raise ValueError(f"env backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if backend == "robot_sf":
        if render_mode is not None:
            raise ValueError("render_mode is for the embedded backend; Robot SF renders through its debug viewer")
        from trainers.envs.robot_sf import make_robot_sf_env

        return make_robot_sf_env(
            env_overrides,
            scenario_config=scenario_config,
            scenario_id=scenario_id,
            exclude_scenarios=exclude_scenarios,
            seed=seed,
            reward_name=reward_name,
            reward_kwargs=reward_kwargs,
            flatten_keys=flatten_keys,
            switching=switching,
            **factory_kwargs,
        )
    if scenario_config is None:
        scenario_config = default_matrix_path()
        if scenario_id is None:
            scenario_id = DEFAULT_SCENARIO
    env_kwargs = {"reward_name": reward_name, "reward_kwargs": reward_kwargs, "render_mode": render_mode}
    env = _embedded_env(
        load_scenario_matrix(scenario_config),
        _fold_factory_kwargs(env_overrides, factory_kwargs),
        scenario_id=scenario_id,
        exclude=exclude_scenarios,
        seed=seed,
        switching=switching,
        **env_kwargs,
    )
    if seed is not None:
        env.action_space.seed(seed)
    if flatten_keys:
        env = FlattenKeys(env, flatten_keys)
    return env


def _embedded_env(
    scenarios: Sequence[Any],
    env_overrides: Mapping[str, Any],
    *,
    scenario_id: str | None,
    exclude: Sequence[str],
    seed: int | None,
    switching: str,
    **env_kwargs: Any,
) -> gym.Env:
    """The embedded simulator on one scenario (``scenario_id``), or switching between the matrix's scenarios."""
    if scenario_id is None:
        return ScenarioSwitchingEnv(scenarios, env_overrides, exclude=exclude, mode=switching, seed=seed, **env_kwargs)
    (scenario,) = select_scenarios(scenarios, scenario_id=scenario_id, exclude=exclude)
    env = CrowdNavEnv(scenario, env_overrides, **env_kwargs)
    env.seed_next_reset(seed)
    return env


def _fold_factory_kwargs(env_overrides: Mapping[str, Any] | None, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    overrides = dict(env_overrides or {})
    unknown = sorted(set(kwargs) - VIEWER_KWARGS - {"peds_have_obstacle_forces"})
    if unknown:
        raise ValueError(
            f"make_env got unknown keyword(s) {unknown}; known factory keywords: "
            f"{sorted(VIEWER_KWARGS | {'peds_have_obstacle_forces'})}"
        )
    if "peds_have_obstacle_forces" in kwargs:
        overrides.setdefault("peds_have_static_obstacle_forces", bool(kwargs["peds_have_obstacle_forces"]))
    return overrides


def register_envs() -> None:
    """Register ``orch/CrowdNav-v0`` with Gymnasium (idempotent)."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point="trainers.envs.factory:make_env", disable_env_checker=False)


register_envs()
