"""Scripted single pedestrians with Robot SF's semantics: map + scenario resolution, roles, waits, errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tests.trainers.envs.conftest import SIMPLE_BODY, write_svg
from trainers.envs import make_env
from trainers.envs.crowdnav.mapdef import MapError
from trainers.envs.crowdnav.singles import (
    DEFAULT_ROLE_OFFSETS,
    GOAL_THRESHOLD,
    SingleBehaviour,
    SinglePedestrian,
    resolve_single_pedestrians,
)
from trainers.envs.crowdnav.svgmap import load_svg_map
from trainers.envs.scenarios import ScenarioError, load_scenario_matrix

PEDS_BODY = SIMPLE_BODY + (
    '<circle cx="6" cy="3" r="0.5" inkscape:label="single_ped_a_start"/>'
    '<circle cx="14" cy="3" r="0.5" inkscape:label="single_ped_a_goal"/>'
    '<circle cx="6" cy="7" r="0.5" inkscape:label="single_ped_b_start"/>'
    '<circle cx="12" cy="7" r="0.4" class="poi" inkscape:label="poi_corner"/>'
    '<circle cx="14" cy="7" r="0.4" class="poi" inkscape:label="poi_far"/>'
)


@pytest.fixture
def peds_map(tmp_path: Path) -> Path:
    return write_svg(tmp_path, "peds.svg", PEDS_BODY)


def _matrix(folder: Path, peds: str, map_name: str = "peds.svg") -> Path:
    path = folder / "m.yaml"
    path.write_text(
        f"scenarios:\n- name: s\n  map_file: {map_name}\n  simulation_config: {{ped_density: 0.0}}\n"
        f"  single_pedestrians: {peds}\n",
        encoding="utf-8",
    )
    return path


def _resolve(peds_map: Path, tmp_path: Path, peds: str) -> tuple[SinglePedestrian, ...]:
    (scenario,) = load_scenario_matrix(_matrix(tmp_path, peds))
    return resolve_single_pedestrians(load_svg_map(peds_map), scenario.single_pedestrians)


def test_map_pedestrians_spawn_and_scenario_entries_override_them(peds_map: Path, tmp_path: Path) -> None:
    a, b = _resolve(peds_map, tmp_path, "[]")
    np.testing.assert_allclose(a.goal, [14, 3])  # from single_ped_a_goal
    assert b.goal is None and not b.starts_moving  # no goal circle: a static pedestrian
    a, b = _resolve(peds_map, tmp_path, "[{id: a, goal_poi: poi_corner, speed_m_s: 0.9}, {id: b, role: WAIT}]")
    np.testing.assert_allclose(a.goal, [12, 7])
    assert a.speed == 0.9 and b.role == "wait"
    (a, b) = _resolve(peds_map, tmp_path, "[{id: a, goal: null, trajectory_poi: [corner, poi_far]}]")
    assert a.goal is None and [list(p) for p in a.trajectory] == [[12, 7], [14, 7]]


@pytest.mark.parametrize(
    ("peds", "match"),
    [
        ("[{id: a, trajectory: [[8, 3]]}]", "both a goal and a trajectory"),
        ("[{id: a, goal_poi: nowhere}]", "POI 'nowhere'"),
        ("[{id: ghost, goal: [3, 3]}]", "not on the map"),
        ("[{id: b, role: join, role_target_id: zed}]", "'zed' is not a pedestrian"),
        ("[{id: b, role: follow, role_target_id: 'robot:1'}]", "names no robot"),
        ("[{id: a, goal: null, trajectory_poi: [corner], wait_at: [{poi: far, wait_s: 1}]}]", "'far' is not a label"),
        ("[{id: a, goal: null, trajectory: [[8, 3]], wait_at: [{waypoint_index: 3, wait_s: 1}]}]", "outside"),
    ],
)
def test_map_dependent_errors(peds_map: Path, tmp_path: Path, peds: str, match: str) -> None:
    with pytest.raises(MapError, match=match):
        _resolve(peds_map, tmp_path, peds)


@pytest.mark.parametrize(
    ("peds", "match"),
    [
        ("[{id: a, role: dance}]", "wait, follow, lead, accompany, join, leave"),
        ("[{id: a, role_offset: [1]}]", "role_offset"),
        ("[{id: a, speed_m_s: 0}]", "speed_m_s"),
        ("[{id: a, goal: [1, 1], trajectory: [[2, 2]]}]", "mutually exclusive"),
        ("[{id: a, wait_at: [{waypoint_index: 0, wait_s: 1}]}]", "need a trajectory"),
        ("[{id: a, goal: null, trajectory: [[2, 2]], wait_at: [{waypoint_index: 0, wait_s: -1}]}]", "wait_s"),
        ("[{id: a}, {id: a}]", "more than once"),
    ],
)
def test_static_errors(peds_map: Path, tmp_path: Path, peds: str, match: str) -> None:
    with pytest.raises(ScenarioError, match=match):
        load_scenario_matrix(_matrix(tmp_path, peds))


def _crowd_env(tmp_path: Path, peds: str):
    env = make_env({}, scenario_config=_matrix(tmp_path, peds), scenario_id="s", seed=0)
    env.reset()
    return env


def _run(env, steps: int, robot=(3.0, 5.0), theta: float = 0.0) -> list[np.ndarray]:
    env.robot.reset(np.array(robot), theta)
    out = []
    for _ in range(steps):
        env.crowd.step(0.1, env.robot.pos, theta, 1.0, False)
        out.append(env.crowd.pos.copy())
    return out


def test_goal_walker_and_static_pedestrian(peds_map: Path, tmp_path: Path) -> None:
    env = _crowd_env(tmp_path, "[]")
    track = _run(env, 200)
    assert np.linalg.norm(track[-1][0] - [14, 3]) < 0.5  # walked to its map goal and stopped there
    speeds = np.linalg.norm(np.diff([t[0] for t in track], axis=0), axis=1) / 0.1
    assert speeds.max() <= 0.5 * 1.3 + 1e-9  # Robot SF's top speed: initial speed x peds_speed_mult
    np.testing.assert_allclose(track[-1][1], [6, 7])  # no goal, no role: never moves


def test_wait_role_holds_even_when_pushed(peds_map: Path, tmp_path: Path) -> None:
    env = _crowd_env(tmp_path, "[{id: a, goal: [6, 6.2]}, {id: b, role: wait}]")  # a walks into b
    track = _run(env, 150)
    np.testing.assert_allclose(track[-1][1], [6, 7])
    assert np.linalg.norm(track[-1][0] - [6, 7]) > 0.5  # a is stopped by b, not b moved by a


def test_trajectory_with_poi_wait(peds_map: Path, tmp_path: Path) -> None:
    env = _crowd_env(
        tmp_path, "[{id: a, goal: null, trajectory_poi: [corner, far], wait_at: [{poi: corner, wait_s: 2.0}]}]"
    )
    xs = np.array([t[0] for t in _run(env, 300)])
    near_corner = np.linalg.norm(xs[1:] - [12, 7], axis=1) <= GOAL_THRESHOLD + 0.3
    standing = np.linalg.norm(np.diff(xs, axis=0), axis=1) < 0.01  # held: velocity zeroed each step
    assert (near_corner & standing).sum() >= 19  # about 2 s standing at the corner
    assert np.linalg.norm(xs[-1] - [14, 7]) < 0.5


@pytest.mark.parametrize("role", ["follow", "accompany", "lead"])
def test_robot_relative_roles_default_offsets(peds_map: Path, tmp_path: Path, role: str) -> None:
    env = _crowd_env(tmp_path, f"[{{id: b, role: {role}}}]")
    robot, theta = np.array([10.0, 5.0]), math.pi / 2
    track = _run(env, 250, robot=tuple(robot), theta=theta)
    forward, lateral = DEFAULT_ROLE_OFFSETS[role]
    c, s = math.cos(theta), math.sin(theta)
    expected = robot + np.array([forward * c - lateral * s, forward * s + lateral * c])
    assert np.linalg.norm(track[-1][1] - expected) < 0.35, (role, track[-1][1], expected)


def test_lead_with_a_goal_walks_its_goal(peds_map: Path, tmp_path: Path) -> None:
    env = _crowd_env(tmp_path, "[{id: a, role: lead}]")  # a keeps its map goal (14, 3): lead then means walk it
    track = _run(env, 250, robot=(10.0, 6.0))
    assert np.linalg.norm(track[-1][0] - [14, 3]) < 0.5


def test_join_heads_for_the_target_group_and_joins_when_close() -> None:
    peds = [
        SinglePedestrian(id="h1", start=np.array([13.0, 12.0]), role="wait"),
        SinglePedestrian(id="h3", start=np.array([5.5, 12.5]), role="join", target="h1"),
    ]
    behaviour = SingleBehaviour(peds, first=2)
    behaviour.reset()
    pos = np.array([[1.0, 1.0], [2.0, 1.0], [13.0, 12.0], [5.5, 12.5]])
    group = np.array([0, 0, -1, -1])
    targets, hold = behaviour.update(pos, group, np.zeros(2), 0.0, 0.1)
    assert group[2] == 1  # the lone target became a group of one (Robot SF's ensure_group_for_ped)
    np.testing.assert_allclose(targets[1], [13, 12])
    assert hold.tolist() == [True, False]
    pos[3] = [13.0, 12.1]  # within the goal threshold of the group's centroid: it joins
    behaviour.update(pos, group, np.zeros(2), 0.0, 0.1)
    assert group[3] == 1


def test_join_nearest_group_and_leave() -> None:
    peds = [
        SinglePedestrian(id="j", start=np.array([0.0, 0.0]), role="join"),
        SinglePedestrian(id="l", start=np.array([9.0, 9.0]), goal=np.array([20.0, 9.0]), role="leave"),
    ]
    behaviour = SingleBehaviour(peds, first=4)
    behaviour.reset()
    pos = np.array([[10.0, 0.0], [10.0, 1.0], [3.0, 0.0], [3.0, 1.0], [0.0, 0.0], [9.0, 9.0]])
    group = np.array([0, 0, 1, 1, -1, 1])
    targets, _ = behaviour.update(pos, group, np.zeros(2), 0.0, 0.1)
    assert group[5] == -1  # left its group on the first step (after j, which comes first, chose that group)
    np.testing.assert_allclose(targets[0], [5.0, 10 / 3])  # the nearest group's centroid, leaver still in it
    np.testing.assert_allclose(targets[1], [20.0, 9.0])
    targets, _ = behaviour.update(pos, group, np.zeros(2), 0.0, 0.1)
    np.testing.assert_allclose(targets[0], [3.0, 0.5])  # the same group, now without the leaver


def test_francis_join_group_scenario(reference_dir: Path) -> None:
    path = reference_dir / "configs/scenarios/single/francis2023_join_group.yaml"
    env = make_env({}, scenario_config=path, scenario_id="francis2023_join_group", seed=255)
    env.reset()
    assert env.crowd.n == 3
    track = _run(env, 300, robot=(4.0, 5.0))
    np.testing.assert_allclose(track[-1][0], [13.0, 12.0])  # h1 and h2 wait where the map puts them
    np.testing.assert_allclose(track[-1][1], [14.0, 10.5])
    assert np.linalg.norm(track[-1][2] - [13.0, 12.0]) < 1.5  # h3 walked the 7.5 m to h1's group
