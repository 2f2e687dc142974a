"""The embedded simulator against Robot SF itself (../shared/vendor/robot_sf, installed by .ci/run).

Deterministic checks first (the same force terms as PySocialForce on the same state, the same robot and scripted
pedestrian trajectories from the same start, identical observation spaces, the same rewards on the same step
quantities), then episode statistics under scripted policies on the near-deterministic shared scenarios. Every test
skips, saying why, where Robot SF is not installed or ../shared is absent. One Robot SF import (and numba compile)
serves the whole session.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from trainers.envs import make_env
from trainers.envs.parity import RobotView, compare, run_episodes, summarize
from trainers.envs.robot_sf import robot_sf_available
from trainers.envs.scenarios import load_scenario_matrix
from trainers.envs.tools import CONTRACT_OVERRIDES

pytestmark = pytest.mark.skipif(
    not robot_sf_available(), reason="Robot SF is not installed (../shared/vendor/install-robot-sf.sh installs it)"
)

REPO = Path(__file__).resolve().parents[3]
MATRIX = REPO / "configs" / "scenarios" / "crowdnav_matrix.yaml"
OVERRIDES_403 = {  # expert_ppo_issue_403_grid.yaml's env_overrides (bicycle, backwards)
    **CONTRACT_OVERRIDES["socnav_grid"],
    "robot_config": {"type": "bicycle", "allow_backwards": True},
    "peds_have_static_obstacle_forces": True,
    "sim_config": {"prf_config": {"is_active": True}, "max_peds_per_group": 3},
}
OVERRIDES_576 = {  # expert_ppo_issue_576_*.yaml's (differential drive, 3 m/s, backwards)
    **CONTRACT_OVERRIDES["socnav_grid"],
    "robot_config": {"type": "differential_drive", "max_linear_speed": 3.0, "max_angular_speed": 1.0},
    "peds_have_obstacle_forces": True,
    "sim_config": {"prf_config": {"is_active": True}, "max_peds_per_group": 3},
}
OVERRIDES_576["robot_config"]["allow_backwards"] = True


@pytest.fixture(scope="session")
def shared_matrices(reference_dir_session: Path) -> list[Path]:
    """Every scenario file of the reference folder, plus orch's own matrix."""
    return [*sorted((reference_dir_session / "configs" / "scenarios").rglob("*.yaml")), MATRIX]


@pytest.fixture(scope="session")
def reference_dir_session() -> Path:
    from tests.conftest import REFERENCE

    if not REFERENCE.is_dir():
        pytest.skip(f"{REFERENCE} is absent: the shared reference files exist only in the dev/CI workspace")
    return REFERENCE


def _scenarios(path: Path) -> list[str]:
    return [s.name for s in load_scenario_matrix(path)]


def _both(overrides: dict[str, Any], path: Path, scenario: str, seed: int = 0) -> tuple[Any, Any]:
    ours = make_env(overrides, scenario_config=path, scenario_id=scenario, seed=seed)
    theirs = make_env(overrides, scenario_config=path, scenario_id=scenario, seed=seed, backend="robot_sf")
    return ours, theirs


def _bounds_table(space: Any) -> dict[str, tuple[tuple[int, ...], str, list[float], list[float]]]:
    return {
        k: (tuple(b.shape), str(b.dtype), np.asarray(b.low).ravel().tolist(), np.asarray(b.high).ravel().tolist())
        for k, b in sorted(space.spaces.items())
    }


# ------------------------------------------------------------------------------------------------ physics
def test_force_terms_equal_pysocialforce() -> None:
    """Each of our force terms against PySocialForce's own class (Robot SF's configuration) on the same state."""
    from pysocialforce import forces as pysf
    from pysocialforce.config import SimulatorConfig
    from pysocialforce.scene import EnvState, PedState
    from robot_sf.ped_npc.ped_robot_force import PedRobotForce, PedRobotForceConfig

    from trainers.envs.crowdnav import crowd as ours

    env = make_env({}, scenario_config=MATRIX, scenario_id="crossing_high", seed=3)
    env.reset()
    crowd, segments = env.unwrapped.crowd, env.unwrapped.map.segments
    rng = np.random.default_rng(0)
    config = SimulatorConfig()
    for trial in range(5):
        n = 12
        crowd.pos, crowd.vel = rng.uniform(2, 28, (n, 2)), rng.normal(0, 0.5, (n, 2))
        crowd.goal, crowd.max_speed, crowd.n = rng.uniform(2, 28, (n, 2)), np.full(n, 0.65), n
        crowd.group = np.array([0, 0, 0, 1, 1, -1, 2, 2, -1, -1, 3, 3])
        crowd._not_self, crowd._layout_for = ~np.eye(n, dtype=bool), None
        groups = [list(np.flatnonzero(crowd.group == g)) for g in range(4)]
        state = np.concatenate([crowd.pos, crowd.vel, crowd.goal, np.full((n, 1), 0.5)], axis=1)
        peds = PedState(state.copy(), groups, config.scene_config)
        peds.max_speeds = crowd.max_speed.copy()
        walls = EnvState([(x0, x1, y0, y1) for x0, y0, x1, y1 in segments])  # PySocialForce's line order
        sim = SimpleNamespace(peds=peds, get_raw_obstacles=lambda walls=walls: walls.obstacles_raw)
        robot = rng.uniform(5, 25, 2)
        prf = PedRobotForce(PedRobotForceConfig(robot_radius=1.0), peds, lambda robot=robot: tuple(robot))
        theirs = {
            "desired": pysf.DesiredForce(config.desired_force_config, peds)(),
            "social": pysf.SocialForce(config.social_force_config, peds)(),
            "obstacle": pysf.ObstacleForce(config.obstacle_force_config, sim)(),
            "group": pysf.GroupCoherenceForceAlt(config.group_coherence_force_config, peds)()
            + pysf.GroupRepulsiveForce(config.group_repulsive_force_config, peds)()
            + pysf.GroupGazeForceAlt(config.group_gaze_force_config, peds)(),
            "robot": prf(),
        }
        mine = {
            "desired": crowd._desired(),
            "social": crowd._social(),
            "obstacle": ours._obstacle_forces(crowd.pos, crowd._walls),
            "group": crowd._group_forces(),
            "robot": ours._robot_force(crowd.pos, robot, 2.0 + ours.PRF_PED_RADIUS + 1.0, 10.0),
        }
        for name in theirs:
            np.testing.assert_allclose(mine[name], theirs[name], rtol=1e-6, atol=1e-9, err_msg=f"{name}, trial {trial}")


@pytest.mark.parametrize("overrides", [{}, OVERRIDES_576], ids=["default_robot", "issue_576_robot"])
def test_same_actions_same_robot_trajectory_and_drive_state(reference_dir_session: Path, overrides: dict) -> None:
    path = reference_dir_session / "configs/scenarios/archetypes/classic_crossing.yaml"
    base = {k: v for k, v in overrides.items() if k in ("robot_config",)}
    ours, theirs = _both(base, path, "classic_crossing_low")
    ours.reset(seed=0)
    theirs.reset(seed=0)
    ours.unwrapped.robot.reset(np.array([6.0, 6.0]), 0.3)
    theirs.unwrapped.simulator.robots[0].reset_state(((6.0, 6.0), 0.3))
    a, b = RobotView(ours), RobotView(theirs)
    low, high = b.raw_bounds()
    np.testing.assert_allclose(a.raw_bounds(), (low, high))
    rng = np.random.default_rng(1)
    for _ in range(40):
        raw = rng.uniform(low, high)
        obs_a, _, _, _, info_a = ours.step(a.to_action(raw))
        obs_b, _, _, _, info_b = theirs.step(b.to_action(raw))
        np.testing.assert_allclose(info_a["meta"]["action"], info_b["meta"]["action"], atol=1e-5)  # raw units
        np.testing.assert_allclose(a.pose()[0], b.pose()[0], atol=1e-5)
        np.testing.assert_allclose(a.speeds(), b.speeds(), atol=1e-5)
        np.testing.assert_allclose(obs_a["drive_state"][-1], obs_b["drive_state"][-1], atol=1e-5)


@pytest.mark.parametrize("scenario", ["francis2023_join_group", "francis2023_following_human"])
def test_scripted_pedestrians_walk_identically(reference_dir_session: Path, scenario: str) -> None:
    path = reference_dir_session / f"configs/scenarios/single/{scenario}.yaml"
    ours, theirs = _both({}, path, scenario)
    ours.reset(seed=0)
    theirs.reset(seed=0)
    ours.unwrapped.robot.reset(np.array([4.0, 10.0]), 0.0)
    theirs.unwrapped.simulator.robots[0].reset_state(((4.0, 10.0), 0.0))
    a, b = RobotView(ours), RobotView(theirs)
    np.testing.assert_allclose(a.pedestrians(), b.pedestrians())
    for step in range(200):
        raw = np.array([0.4, 0.2 * math.sin(step / 20)]) - np.asarray(b.speeds())
        _, _, done_a, _, _ = ours.step(a.to_action(raw))
        _, _, done_b, _, _ = theirs.step(b.to_action(raw))
        np.testing.assert_allclose(a.pedestrians(), b.pedestrians(), atol=1e-6, err_msg=f"step {step}")
        assert done_a == done_b
        if done_a:
            break


def _copy_crowd(ours: Any, theirs: Any) -> None:
    """Put Robot SF's robot pose and whole crowd (states, groups, route waypoints) into the embedded env."""
    from trainers.envs.crowdnav.crowd import _Groups

    sim, crowd = theirs.unwrapped.simulator, ours.unwrapped.crowd
    (x, y), theta = sim.robots[0].pose
    ours.unwrapped.robot.reset(np.array([x, y]), theta)
    state = sim.pysf_state.pysf_states()
    assert crowd.n == len(state)
    crowd.pos, crowd.vel, crowd.goal = state[:, 0:2].copy(), state[:, 2:4].copy(), state[:, 4:6].copy()
    crowd.max_speed = sim.pysf_sim.peds.max_speeds.copy()
    zones, routes = sim.peds_behaviors[0], sim.peds_behaviors[1]
    members, zone, route, waypoint = [], [], [], []
    for ids in zones.groups.groups.values():
        rows = np.array(sorted(ids))
        members.append(rows), zone.append(zones.zone_assignments[rows[0]]), route.append(-1), waypoint.append(0)
    offset = sum(len(ids) for ids in zones.groups.groups.values())
    for gid, ids in routes.groups.groups.items():
        path = np.asarray(routes.route_assignments[gid].waypoints)
        members.append(np.array(sorted(ids)) + offset), zone.append(-1)
        route.append(next(k for k, w in enumerate(crowd._routes) if w.shape == path.shape and np.allclose(w, path)))
        waypoint.append(routes.navigators[gid].waypoint_id)
    crowd.group = np.full(crowd.n, -1)
    for gid, rows in enumerate(members):
        crowd.group[rows] = gid
    crowd._groups = _Groups(
        members, crowd.group[: crowd._n_crowd].copy(), np.array(zone), np.array(route), np.array(waypoint)
    )
    crowd._layout_for = None


@pytest.mark.parametrize("scenario", ["classic_head_on_corridor_low", "classic_crossing_high"])
def test_same_crowd_same_episode(reference_dir_session: Path, scenario: str) -> None:
    """From Robot SF's own start state, route groups, robot and outcome evolve identically on both backends (until
    a group restarts its route, which draws a random point)."""
    name = scenario.rsplit("_", 1)[0].replace("classic_", "")
    path = reference_dir_session / f"configs/scenarios/archetypes/classic_{name}.yaml"
    ours, theirs = _both({}, path, scenario, seed=1)
    ours.reset(seed=1)
    theirs.reset(seed=1)
    _copy_crowd(ours, theirs)
    a, b = RobotView(ours), RobotView(theirs)
    for step in range(120):
        pos, theta = b.pose()
        d = b.final_goal() - pos
        error = (math.atan2(d[1], d[0]) - theta + math.pi) % (2 * math.pi) - math.pi
        raw = np.array([2.0, float(np.clip(2 * error, -1, 1))]) - np.asarray(b.speeds())
        _, _, done_a, _, info_a = ours.step(a.to_action(raw))
        _, _, done_b, _, info_b = theirs.step(b.to_action(raw))
        assert done_a == done_b, step
        respawned = np.abs(b.pedestrians() - a.pedestrians()).max(1) > 0.3  # a restart: a new random point
        # 1 cm: Robot SF takes float32 actions, and the robot's push on a pedestrian close by amplifies the rounding
        np.testing.assert_allclose(a.pedestrians()[~respawned], b.pedestrians()[~respawned], atol=0.01)
        np.testing.assert_allclose(a.pose()[0], b.pose()[0], atol=1e-3)
        if done_a:
            assert (info_a["success"], info_a["collision"]) == (info_b["success"], info_b["collision"])
            break
    assert done_a, "the episode should end (collision or goal) within 120 steps"


# ------------------------------------------------------------------------------------------------ spaces
@pytest.mark.parametrize("contract", sorted(CONTRACT_OVERRIDES))
def test_observation_spaces_identical_on_every_shared_scenario(shared_matrices: list[Path], contract: str) -> None:
    mismatches = []
    for path in shared_matrices:
        for scenario in _scenarios(path):
            ours, theirs = _both(CONTRACT_OVERRIDES[contract], path, scenario)
            a, b = _bounds_table(ours.observation_space), _bounds_table(theirs.observation_space)
            mismatches += [(path.name, scenario, key) for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]
    assert not mismatches


@pytest.mark.parametrize("overrides", [OVERRIDES_403, OVERRIDES_576], ids=["issue_403_grid", "issue_576"])
def test_reference_env_overrides_give_identical_spaces(reference_dir_session: Path, overrides: dict) -> None:
    path = reference_dir_session / "configs/scenarios/archetypes/classic_doorway.yaml"
    ours, theirs = _both(overrides, path, "classic_doorway_medium")
    assert _bounds_table(ours.observation_space) == _bounds_table(theirs.observation_space)
    np.testing.assert_allclose(ours.action_space.low, -1.0)
    assert theirs.action_space.shape == ours.action_space.shape == (2,)


# ------------------------------------------------------------------------------------------------ rewards
REWARDS = [
    ("route_completion_v2", {}),
    ("route_completion_v3", {"weights": {"timeout": -2.0}}),
    ("social_quality_v1", {}),
    ("simple_reward", {"ped_coll_penalty": -3.0}),
    ("punish_action_reward", {}),
]


@pytest.mark.parametrize(("name", "kwargs"), REWARDS, ids=[r[0] for r in REWARDS])
def test_rewards_equal_on_the_same_step_quantities(shared_matrices: list[Path], name: str, kwargs: dict) -> None:
    """Robot SF's reward on its own steps equals ours on the same meta, and the other way round (1e-6)."""
    from robot_sf.gym_env.reward import build_reward_function

    from trainers.envs.crowdnav.rewards import make_reward

    theirs_fn, ours_fn = build_reward_function(name, reward_kwargs=kwargs), make_reward(name, kwargs)
    reward_args = {"reward_name": name, "reward_kwargs": kwargs}
    for path in shared_matrices[:-1]:  # the reference scenarios
        for scenario in _scenarios(path):
            ours, theirs = (
                make_env({}, scenario_config=path, scenario_id=scenario, seed=1, backend=b, **reward_args)
                for b in ("embedded", "robot_sf")
            )
            for env, other in ((theirs, ours_fn), (ours, theirs_fn)):
                env.reset(seed=1)
                env.action_space.seed(1)
                for _ in range(25):
                    _, reward, terminated, truncated, info = env.step(env.action_space.sample())
                    meta = {k: v for k, v in info["meta"].items() if k not in ("reward_terms", "reward_total")}
                    assert other(meta) == pytest.approx(reward, abs=1e-6), (scenario, name)
                    if terminated or truncated:
                        break


# ------------------------------------------------------------------------------------------------ statistics
@pytest.mark.parametrize("policy", ["goal", "stand_still"])
def test_scripted_policy_statistics_agree(reference_dir_session: Path, policy: str) -> None:
    """Episode statistics side by side on a shared scenario whose outcome the policy decides (the broad comparison,
    every scenario with many episodes, is bench/backend_parity.py)."""
    path = reference_dir_session / "configs/scenarios/single/francis2023_following_human.yaml"
    seeds = list(range(4))
    ours = summarize(run_episodes("embedded", path, "francis2023_following_human", policy, seeds))
    theirs = summarize(run_episodes("robot_sf", path, "francis2023_following_human", policy, seeds))
    assert compare(ours, theirs)["within_tolerance"], (ours, theirs)
    assert ours["success_rate"] == theirs["success_rate"] == (1.0 if policy == "goal" else 0.0)
