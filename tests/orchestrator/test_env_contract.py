"""The env an example config builds reports exactly the observation signature ``orch validate --resolve`` computes."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from orchestrator.config.resolve import resolve_config
from trainers.envs import make_env
from trainers.envs.contracts import signature_to_json
from trainers.envs.crowdnav.spaces import signature_of_space

REPO = Path(__file__).resolve().parents[2]
MATRIX = REPO / "configs" / "scenarios" / "crowdnav_matrix.yaml"
EXAMPLES = sorted((REPO / "configs" / "ppo_expert").glob("*.yaml")) + sorted(
    (REPO / "configs" / "dreamerv3").glob("*.yaml")
)


def _env_for(settings: dict, trainer: str):
    if trainer == "ppo_expert":
        factory = dict(settings.get("env_factory_kwargs") or {})
        return make_env(
            settings.get("env_overrides") or {},
            scenario_config=settings.get("scenario_config"),
            scenario_id="easy_open_low",
            reward_name=factory.get("reward_name"),
            seed=0,
        )
    env = dict(settings["env"])
    if env.get("id", "crowdnav") != "crowdnav":  # a Gymnasium id: Dreamer names a single Box "observation"
        import gymnasium as gym

        space = gym.make(env["id"]).observation_space
        return SimpleNamespace(observation_space=gym.spaces.Dict({"observation": space}))
    keys = env.get("flatten_keys") if env.get("flatten_observation", True) else None
    return make_env(
        env.get("config") or {},
        scenario_config=env.get("scenario_config"),
        flatten_keys=keys,
        seed=0,
        **dict(env.get("factory_kwargs") or {}),
    )


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_configs(path: Path) -> None:
    resolved = resolve_config(path)
    env = _env_for(dict(resolved.settings), resolved.trainer)
    assert signature_to_json(signature_of_space(env.observation_space)) == dict(resolved.observation_signature)


@pytest.mark.parametrize(
    ("relpath", "key"),
    [
        ("ppo_imitation/expert_ppo_issue_403_grid.yaml", "scenario_config"),
        ("rllib_dreamerv3/drive_state_rays.yaml", "env.scenario_config"),
    ],
)
def test_reference_configs(reference_dir: Path, relpath: str, key: str) -> None:
    # the shipped matrix has none of the reference config's hold-out scenarios: train on all of it instead
    overrides = [f"{key}={MATRIX}"] + (["evaluation.hold_out_scenarios=[]"] if key == "scenario_config" else [])
    resolved = resolve_config(reference_dir / "configs" / "training" / relpath, overrides=overrides)
    env = _env_for(dict(resolved.settings), resolved.trainer)
    assert signature_to_json(signature_of_space(env.observation_space)) == dict(resolved.observation_signature)
