from __future__ import annotations

from pathlib import Path

import pytest

from trainers.envs import ScenarioSwitchingEnv, load_scenario_matrix, make_env
from trainers.envs.scenarios import ScenarioError


def _episodes(env, n: int) -> list[str]:
    names = []
    for _ in range(n):
        _, info = env.reset()
        names.append(info["scenario_id"])
    return names


def test_hold_outs_are_never_played(simple_matrix: Path) -> None:
    env = make_env({}, scenario_config=simple_matrix, exclude_scenarios=["simple_high"], seed=0)
    assert isinstance(env, ScenarioSwitchingEnv)
    names = _episodes(env, 30)
    assert "simple_high" not in names and set(names) == {"simple_low", "simple_empty"}
    assert sum(env.coverage.values()) == 30 and "simple_high" not in env.coverage


def test_unknown_hold_out_is_an_error(simple_matrix: Path) -> None:
    with pytest.raises(ScenarioError, match="unknown scenario"):
        make_env({}, scenario_config=simple_matrix, exclude_scenarios=["classic_bottleneck_low"])


def test_cycle_mode_visits_in_order(simple_matrix: Path) -> None:
    env = make_env({}, scenario_config=simple_matrix, switching="cycle", seed=0)
    assert _episodes(env, 6) == ["simple_low", "simple_high", "simple_empty"] * 2
    assert env.coverage == {"simple_low": 2, "simple_high": 2, "simple_empty": 2}


def test_random_mode_is_seeded(simple_matrix: Path) -> None:
    a = _episodes(make_env({}, scenario_config=simple_matrix, seed=5), 12)
    b = _episodes(make_env({}, scenario_config=simple_matrix, seed=5), 12)
    assert a == b and len(set(a)) > 1


def test_observation_space_mismatch_names_both(tmp_path: Path, simple_map: Path) -> None:
    matrix = tmp_path / "mm.yaml"
    matrix.write_text(
        "scenarios:\n- {name: a, map_file: simple.svg}\n"
        "- {name: b, map_file: simple.svg, simulation_config: {stack_steps: 5}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError, match=r"'a' and 'b'.*drive_state"):
        ScenarioSwitchingEnv(load_scenario_matrix(matrix), {})


def test_switching_and_flattened_envs_pass_the_checker(simple_matrix: Path) -> None:
    from gymnasium.utils.env_checker import check_env

    check_env(make_env({}, scenario_config=simple_matrix, seed=0), skip_render_check=True)
    flat = make_env({}, scenario_config=simple_matrix, flatten_keys=["drive_state", "rays"], seed=0)
    assert flat.observation_space.shape == (831,)
    check_env(flat, skip_render_check=True)
