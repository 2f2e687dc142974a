""" "Valid" means "runs": every config `orch validate` accepts builds the envs its trainer builds, and they step.

Over every trainer config in configs/ and in Robot SF's reference tree (with the matrices it lacks rebuilt), plus
mutations of them that must be rejected by `orch validate` and by the env factory alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import check_config, resolve_config
from trainers.dreamerv3.envs import env_from_settings
from trainers.ppo_expert.envsource import CrowdNavSource, split_scenarios

REPO = Path(__file__).resolve().parents[3]
SHIPPED = sorted(p for p in (REPO / "configs").glob("*/*.yaml") if p.parent.name in ("ppo_expert", "dreamerv3"))


def _step(env: Any, steps: int) -> None:
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    for _ in range(steps):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
        if terminated or truncated:
            env.reset()


def builds_and_steps(path: Path, *, steps: int = 3) -> list[str]:
    """Resolve ``path`` and build every env its trainer would (training env, each evaluation scenario)."""
    resolved = resolve_config(path, cpus=2)
    settings = resolved.settings
    built = []
    if resolved.trainer == "ppo_expert":
        source = CrowdNavSource.from_settings(settings)
        hold_out = settings["evaluation"]["hold_out_scenarios"]
        _, evaluation = split_scenarios(source.scenario_ids(), scenario_id=settings["scenario_id"], hold_out=hold_out)
        _step(source.make(scenario_id=settings["scenario_id"], exclude=hold_out, seed=0), steps)
        built.append("train")
        for sid in evaluation:
            _step(source.make(scenario_id=sid, exclude=(), seed=1), 1)
            built.append(sid)
    else:
        _step(env_from_settings(settings["env"], seed=0), steps)
        built.append("train")
    return built


@pytest.mark.parametrize("path", SHIPPED, ids=[f"{p.parent.name}/{p.stem}" for p in SHIPPED])
def test_every_shipped_config_builds_its_envs(path: Path) -> None:
    assert check_config(path).valid
    assert builds_and_steps(path)


def test_every_reference_config_builds_its_envs(reference_tree: Path) -> None:
    configs = [p for p in sorted((reference_tree / "configs/training").rglob("*.yaml")) if "optuna" not in p.name]
    assert len(configs) >= 4  # 3 PPO expert families and the RLlib Dreamer config (the folder only grows)
    for path in configs:
        report = check_config(path)
        assert report.valid, [i.format() for i in report.issues]
        built = builds_and_steps(path, steps=2)
        assert built[0] == "train", path


def _francis_join(reference_tree: Path) -> Path:
    return reference_tree / "configs/scenarios/single/francis2023_join_group.yaml"


MUTATIONS = {
    # (file to change, text to replace, replacement, what the error says)
    "unknown role": ("join", "role: join", "role: mingle", "'mingle' is not one of wait, follow"),
    "missing POI": ("join", "goal: null\n    role: join", "goal_poi: poi_nowhere\n    role: join", "POI 'poi_nowhere'"),
    "missing map": ("join", "francis2023_join_group.svg", "francis2023_gone.svg", "map_file"),
    "unknown pedestrian": ("join", "- id: h3", "- id: h9", "'h9' is not on the map"),
    "unknown join target": ("join", "role_target_id: h1", "role_target_id: h7", "'h7' is not a pedestrian"),
    "unknown scenario key": ("join", "max_episode_steps: 400", "max_episode_step: 400", "did you mean"),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_mutated_scenarios_fail_validation_and_construction_alike(reference_tree: Path, name: str) -> None:
    _, old, new, says = MUTATIONS[name]
    scenario_file = _francis_join(reference_tree)
    text = scenario_file.read_text()
    assert old in text
    scenario_file.write_text(text.replace(old, new, 1))
    config = reference_tree / "configs/training/ppo/expert_ppo_issue_576_br06_v3_15m_all_maps_randomized.yaml"
    report = check_config(config)
    assert not report.valid
    (issue,) = [i for i in report.issues if says in i.format()]
    assert issue.file == str(scenario_file) and issue.line is not None  # located in the scenario file, by line
    assert issue.key_path.startswith("scenarios[0].")
    from trainers.envs import make_env

    with pytest.raises(ValueError):  # and the env factory refuses exactly that scenario
        make_env({}, scenario_config=scenario_file, scenario_id="francis2023_join_group")


@pytest.mark.parametrize(
    ("text", "key", "says"),
    [
        ("reward_kwargs: {weights: {collison: -1}}", "env_factory_kwargs.reward_kwargs", "['collison']: not terms"),
        ("reward_kwargs: {scale: 2}", "env_factory_kwargs.reward_kwargs", "not accepted by 'route_completion_v3'"),
        ("reward_name: route_completion_v9", "env_factory_kwargs.reward_name", "unknown reward_name"),
    ],
)
def test_mutated_rewards_fail_validation_and_construction_alike(
    reference_tree: Path, text: str, key: str, says: str
) -> None:
    config = reference_tree / "configs/training/ppo/expert_ppo_issue_576_br06_v3_15m_all_maps_randomized.yaml"
    original = config.read_text()
    mutated = original.replace(
        "  reward_name: route_completion_v3\n", f"  reward_name: route_completion_v3\n  {text}\n"
    )
    if text.startswith("reward_name"):
        mutated = original.replace("  reward_name: route_completion_v3\n", f"  {text}\n")
    config.write_text(mutated)
    report = check_config(config)
    (issue,) = report.issues
    assert issue.key_path == key and says in issue.message and issue.file == str(config) and issue.line
    factory = report_settings = None
    import yaml

    factory = yaml.safe_load(mutated)["env_factory_kwargs"]
    with pytest.raises(ValueError, match="reward"):
        from trainers.envs import make_env

        make_env({}, reward_name=factory.get("reward_name"), reward_kwargs=factory.get("reward_kwargs"))
    del report_settings


def test_a_config_whose_matrix_is_absent_names_the_file(reference_dir: Path) -> None:
    config = reference_dir / "configs/training/ppo_imitation/expert_ppo.yaml"
    report = check_config(config)
    (issue,) = report.issues
    assert issue.key_path == "scenario_config" and "classic_interactions.yaml" in issue.message and issue.line == 5


def test_every_scenario_of_the_shared_matrices_is_checked_in_well_under_a_second(reference_tree: Path) -> None:
    import time

    config = reference_tree / "configs/training/ppo_imitation/expert_ppo_issue_403_grid.yaml"
    check_config(config)  # maps parsed once per process (cached by path and mtime)
    start = time.perf_counter()
    assert check_config(config).valid
    assert time.perf_counter() - start < 0.5


PPO_REFERENCES = (
    "ppo_imitation/expert_ppo.yaml",  # no feature_extractor, no env_overrides: SB3's default on default_gym
    "ppo_imitation/expert_ppo_issue_403_grid.yaml",  # grid_socnav, bicycle with allow_backwards
    "ppo/expert_ppo_issue_576_br06_v3_15m_all_maps_randomized.yaml",  # route_completion_v3, randomize_seeds
)


@pytest.mark.parametrize("relpath", PPO_REFERENCES)
def test_reference_ppo_configs_dry_run(reference_tree: Path, cli: Any, relpath: str) -> None:
    code, out, err = cli("run", "--dry-run", reference_tree / "configs/training" / relpath)
    assert code == 0, err
    assert "completed (dry run" in out
    if "randomized" in relpath:  # the drawn seed is recorded, so the run can be repeated with --seed
        import json

        run_dir = Path(out.split(" -> ")[-1].strip())
        run, resolved = (json.loads((run_dir / name).read_text()) for name in ("run.json", "resolved.json"))
        assert run["seed"] == resolved["seed"] and resolved["randomize_seeds"] is True
        assert run_dir.name.endswith(f"-s{run['seed']}") and run["seed"] not in resolved["seeds"]
