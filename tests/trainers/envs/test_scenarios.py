from __future__ import annotations

from pathlib import Path

import pytest

from trainers.envs.resources import default_matrix_path
from trainers.envs.scenarios import ScenarioError, load_scenario_matrix, select_scenarios


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("key", ["includes", "include", "scenario_files"])
def test_includes_are_relative_to_the_including_file(tmp_path: Path, simple_map: Path, key: str) -> None:
    _write(tmp_path / "sub" / "part.yaml", "scenarios:\n- name: a\n  map_file: ../simple.svg\n")
    top = _write(tmp_path / "top.yaml", f"{key}: [sub/part.yaml]\nscenarios:\n- name: b\n  map_file: simple.svg\n")
    scenarios = load_scenario_matrix(top)
    assert [s.name for s in scenarios] == ["a", "b"]
    assert all(s.map_path == simple_map.resolve() for s in scenarios)


def test_include_cycle_is_an_error(tmp_path: Path, simple_map: Path) -> None:
    _write(tmp_path / "a.yaml", "includes: [b.yaml]\n")
    _write(tmp_path / "b.yaml", "include: a.yaml\nscenarios:\n- name: x\n  map_file: simple.svg\n")
    with pytest.raises(ScenarioError, match="include cycle"):
        load_scenario_matrix(tmp_path / "a.yaml")


def test_map_id_through_map_search_paths(tmp_path: Path, simple_map: Path) -> None:
    top = _write(
        tmp_path / "cfg" / "m.yaml", "map_search_paths: [..]\nscenarios:\n- scenario_id: s\n  map_id: simple\n"
    )
    (scenario,) = load_scenario_matrix(top)
    assert scenario.name == "s" and scenario.map_path == simple_map.resolve()


def test_missing_map_file_names_the_scenario(tmp_path: Path) -> None:
    top = _write(tmp_path / "m.yaml", "scenarios:\n- name: lost\n  map_file: nowhere.svg\n")
    with pytest.raises(ScenarioError, match=r"'lost'.*nowhere.svg"):
        load_scenario_matrix(top)


def test_duplicate_names_are_an_error(tmp_path: Path, simple_map: Path) -> None:
    top = _write(
        tmp_path / "m.yaml", "scenarios:\n- {name: a, map_file: simple.svg}\n- {name: a, map_file: simple.svg}\n"
    )
    with pytest.raises(ScenarioError, match="appears twice"):
        load_scenario_matrix(top)


def test_fields_carried(tmp_path: Path, simple_map: Path) -> None:
    top = _write(
        tmp_path / "m.yaml",
        "scenarios:\n- name: a\n  map_file: simple.svg\n  simulation_config: {max_episode_steps: 7, ped_density: 0.1}\n"
        "  robot_config: {type: holonomic}\n  seeds: [4, 5]\n  metadata: {archetype: x}\n"
        "  single_pedestrians:\n  - {id: p, start: [3, 3], trajectory: [[5, 3], [8, 3]], speed_m_s: 0.8,"
        " wait_at: [{waypoint_index: 1, wait_s: 2.0}]}\n",
    )
    (s,) = load_scenario_matrix(top)
    assert s.simulation_config["max_episode_steps"] == 7 and s.robot_config == {"type": "holonomic"}
    assert s.seeds == (4, 5) and s.metadata == {"archetype": "x"} and s.single_pedestrians[0]["id"] == "p"


@pytest.mark.parametrize(
    ("ped", "match"),
    [
        ("{start: [1, 1]}", "needs an id"),
        ("{id: p, role: boss}", "role"),
        ("{id: p, colour: red}", "unknown keys"),
        ("{id: p, wait_at: [{waypoint_index: 0}]}", "wait_s"),
    ],
    ids=["no-id", "bad-role", "unknown-key", "wait-without-seconds"],
)
def test_bad_single_pedestrians(tmp_path: Path, simple_map: Path, ped: str, match: str) -> None:
    top = _write(tmp_path / "m.yaml", f"scenarios:\n- name: a\n  map_file: simple.svg\n  single_pedestrians: [{ped}]\n")
    with pytest.raises(ScenarioError, match=match):
        load_scenario_matrix(top)


def test_select_and_hold_outs(simple_matrix: Path) -> None:
    scenarios = load_scenario_matrix(simple_matrix)
    assert [s.name for s in select_scenarios(scenarios, exclude=["simple_high"])] == ["simple_low", "simple_empty"]
    assert [s.name for s in select_scenarios(scenarios, scenario_id="simple_high")] == ["simple_high"]
    with pytest.raises(ScenarioError, match=r"unknown scenario name\(s\) \['nope'\]"):
        select_scenarios(scenarios, exclude=["nope"])
    with pytest.raises(ScenarioError, match="unknown"):
        select_scenarios(scenarios, scenario_id="nope")


def test_reference_scenario_files_load(reference_dir: Path) -> None:
    files = sorted((reference_dir / "configs" / "scenarios").rglob("*.yaml"))
    assert len(files) >= 5  # the folder only grows (README section 8 added the join-group scenario)
    names = [s.name for f in files for s in load_scenario_matrix(f)]
    assert {"classic_crossing_low", "francis2023_following_human", "francis2023_join_group"} <= set(names)


def test_shipped_matrix_covers_the_archetypes() -> None:
    scenarios = load_scenario_matrix(default_matrix_path())
    names = {s.name for s in scenarios}
    assert "easy_open_low" in names
    for archetype in (
        "crossing",
        "head_on_corridor",
        "overtaking",
        "bottleneck",
        "doorway",
        "t_intersection",
        "merging",
        "group_crossing",
    ):
        for level in ("low", "medium", "high"):
            assert f"{archetype}_{level}" in names
