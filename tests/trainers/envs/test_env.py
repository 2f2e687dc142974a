from __future__ import annotations

import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
from gymnasium.utils.env_checker import check_env

from trainers.envs import ENV_ID, make_env
from trainers.envs.contracts import observation_signature
from trainers.envs.crowdnav.robot import RobotState
from trainers.envs.crowdnav.settings import RobotSettings
from trainers.envs.crowdnav.spaces import signature_of_space
from trainers.envs.scenarios import load_scenario_matrix

GRID_403 = {
    "observation_mode": "socnav_struct",
    "use_occupancy_grid": True,
    "include_grid_in_observation": True,
    "robot_config": {"type": "bicycle", "allow_backwards": True},
    "grid_config": {
        "resolution": 0.2,
        "width": 32.0,
        "height": 32.0,
        "channels": ["obstacles", "pedestrians", "combined"],
        "use_ego_frame": True,
        "center_on_robot": True,
    },
    "peds_have_static_obstacle_forces": True,
    "peds_have_robot_repulsion": True,
    "sim_config": {"prf_config": {"is_active": True}, "max_peds_per_group": 3},
}
CONFIGS = {
    "default_gym": ({}, None),
    "drive_state_rays_flat": ({}, ["drive_state", "rays"]),
    "issue_403_grid": (GRID_403, None),
    "socnav_no_grid": ({"observation_mode": "socnav_struct", "sim_config": {"max_total_pedestrians": 12}}, None),
    "socnav_extended_world_grid": (
        {
            "observation_mode": "socnav_struct",
            "socnav_key_set": "extended",
            "use_occupancy_grid": True,
            "include_grid_in_observation": True,
            "grid_config": {"channels": ["robot", "obstacles"]},
        },
        None,
    ),
    "stack_5_rays_90": ({"sim_config": {"stack_steps": 5}, "lidar_config": {"num_rays": 90}}, None),
}


@pytest.mark.parametrize("name", list(CONFIGS), ids=list(CONFIGS))
def test_observation_space_equals_contract_signature(name: str) -> None:
    overrides, flatten = CONFIGS[name]
    env = make_env(overrides, flatten_keys=flatten, seed=0)
    assert signature_of_space(env.observation_space) == observation_signature(overrides, flatten_keys=flatten)
    obs, _ = env.reset()
    assert env.observation_space.contains(obs)


def test_reference_403_config_env_overrides_match(reference_dir: Path) -> None:
    doc = yaml.safe_load((reference_dir / "configs/training/ppo_imitation/expert_ppo_issue_403_grid.yaml").read_text())
    env = make_env(doc["env_overrides"], seed=1)
    assert signature_of_space(env.observation_space) == observation_signature(doc["env_overrides"])
    assert env.observation_space["occupancy_grid"].shape == (3, 160, 160)


@pytest.mark.parametrize("name", ["default_gym", "issue_403_grid"])
def test_check_env(name: str) -> None:
    overrides, _ = CONFIGS[name]
    env = make_env(overrides, seed=0)
    check_env(env, skip_render_check=False)


def test_gymnasium_registration() -> None:
    env = gym.make(ENV_ID, seed=3, render_mode="rgb_array")
    obs, _ = env.reset(seed=3)
    assert set(obs) == {"drive_state", "rays"}
    check_env(env.unwrapped)
    a = _rollout(gym.make(ENV_ID), 11)
    b = _rollout(gym.make(ENV_ID), 11)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def _rollout(env: gym.Env, seed: int, steps: int = 60) -> list[np.ndarray]:
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    out = [np.concatenate([np.ravel(v) for v in obs.values()])]
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        out.append(np.concatenate([np.ravel(v) for v in obs.values()] + [[reward]]))
        if terminated or truncated:
            obs, _ = env.reset()
    return out


def test_same_seed_same_episode() -> None:
    matrix = Path(__file__).resolve().parents[3] / "configs/scenarios/crowdnav_matrix.yaml"
    a = _rollout(make_env(GRID_403, scenario_config=matrix, scenario_id="crossing_medium"), 7)
    b = _rollout(make_env(GRID_403, scenario_config=matrix, scenario_id="crossing_medium"), 7)
    c = _rollout(make_env(GRID_403, scenario_config=matrix, scenario_id="crossing_medium"), 8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


@pytest.mark.parametrize("backwards", [False, True])
def test_kinematics_limits(backwards: bool) -> None:
    # Robot SF's differential drive: an action is a change of speed; [-1, 1] maps onto [v_min, v_max] x [-w, w].
    dd = RobotState(
        RobotSettings(type="differential_drive", max_linear_speed=1.5, max_angular_speed=0.4, allow_backwards=backwards)
    )
    dd.reset(np.zeros(2), 0.0)
    dd.step(np.array([5.0, -5.0]), 0.1)  # out-of-range actions are clipped to the largest change
    assert dd.v == pytest.approx(1.5) and dd.omega == pytest.approx(-0.4)
    # midpoint integration: from rest to 1.5 m/s covers 0.075 m; the heading turns to -0.02 rad, on average -0.01
    assert dd.theta == pytest.approx(-0.02)
    np.testing.assert_allclose(dd.pos, 0.075 * np.array([math.cos(-0.01), math.sin(-0.01)]), atol=1e-12)
    dd.step(np.array([-1.0, 0.0]), 0.1)
    # forward-only: the smallest change is 0, so the robot cannot slow down (Robot SF's action space [0, v_max])
    assert dd.v == pytest.approx(0.0 if backwards else 1.5) and dd.omega == pytest.approx(-0.4)
    dd.step(np.array([-1.0, 0.0]), 0.1)
    assert dd.v == pytest.approx(-1.5 if backwards else 1.5)

    bike = RobotState(RobotSettings(type="bicycle", max_velocity=2.0, max_accel=1.0, allow_backwards=backwards))
    bike.reset(np.zeros(2), 0.0)
    for _ in range(50):
        bike.step(np.array([1.0, 0.0]), 0.1)
    assert bike.v == pytest.approx(2.0)
    for _ in range(100):
        bike.step(np.array([-1.0, 1.0]), 0.1)
    assert bike.v == pytest.approx(-2.0 if backwards else 0.0)

    holo = RobotState(RobotSettings(type="holonomic", max_linear_speed=1.0))
    holo.reset(np.zeros(2), 0.0)
    holo.step(np.array([1.0, 1.0]), 1.0)
    assert math.hypot(*holo.vel) == pytest.approx(1.0)
    assert holo.theta == pytest.approx(math.pi / 4)


def test_goal_reached_and_efficiency(simple_matrix: Path) -> None:
    fast = {"robot_config": {"type": "holonomic", "max_linear_speed": 3.0}}
    env = make_env(fast, scenario_config=simple_matrix, scenario_id="simple_empty")
    env.reset(seed=0)
    info = {}
    for _ in range(60):
        goal = env.waypoints[min(env.wp_index, len(env.waypoints) - 1)] - env.robot.pos
        _, reward, terminated, truncated, info = env.step(goal / max(1e-9, np.linalg.norm(goal)))
        if terminated or truncated:
            break
    assert info["success"] and not info["collision"] and info["is_success"]
    assert info["meta"]["is_route_complete"] and info["meta"]["reward_terms"]["terminal_bonus"] == 2.0
    assert reward == pytest.approx(info["meta"]["reward_total"]) and reward > 1.5  # route_completion_v2's bonus
    assert 0.8 < info["path_efficiency"] <= 1.0 and info["scenario_id"] == "simple_empty"


def test_wall_collision(simple_matrix: Path) -> None:
    env = make_env({"robot_config": {"type": "holonomic"}}, scenario_config=simple_matrix, scenario_id="simple_empty")
    env.reset(seed=0)
    for _ in range(60):
        _, reward, terminated, _, info = env.step(np.array([0.0, -1.0]))  # straight into the wall at y = 1
        if terminated:
            break
    assert info["collision"] and info["collision_kind"] == "obstacle" and info["meta"]["is_obstacle_collision"]
    assert reward < -4.5  # route_completion_v2's collision weight, -5


def test_pedestrian_collision_and_comfort(simple_matrix: Path) -> None:
    env = make_env({"robot_config": {"type": "holonomic"}}, scenario_config=simple_matrix, scenario_id="simple_high")
    env.reset(seed=0)
    assert env.crowd.n > 0
    env.crowd.pos[0] = env.robot.pos + np.array([1.0, 0.0])  # overlapping the robot's 1 m radius
    _, _, terminated, _, info = env.step(np.zeros(2))
    assert terminated and info["collision_kind"] == "pedestrian" and info["comfort_exposure"] > 0
    assert info["meta"]["is_pedestrian_collision"] and not info["meta"]["is_obstacle_collision"]


def test_truncation_at_max_episode_steps(simple_matrix: Path) -> None:
    env = make_env({"robot_config": {"type": "holonomic"}}, scenario_config=simple_matrix, scenario_id="simple_empty")
    env.reset(seed=0)
    truncated, steps = False, 0
    while not truncated:
        _, _, terminated, truncated, info = env.step(np.zeros(2))
        assert not terminated
        steps += 1
    # Robot SF times out once the summed step times exceed 60 x 0.1 s; in floating point that is step 61
    assert info["steps"] == 61 and info["timeout"] and info["meta"]["is_timesteps_exceeded"]
    assert info["meta"]["max_sim_steps"] == 60


def test_rays_see_walls_and_pedestrians(simple_matrix: Path) -> None:
    env = make_env({}, scenario_config=simple_matrix, scenario_id="simple_empty")
    env.reset(seed=0)
    rays = env.rays.cast(np.array([10.0, 5.0]), 0.0, np.zeros((0, 2)), 0.4)
    # Walls: inner faces at x = 1, 19 and y = 1, 9 seen from (10, 5).
    assert rays[np.argmin(np.abs(env.rays.rel_angles))] == pytest.approx(9.0)
    assert rays[np.argmin(np.abs(env.rays.rel_angles - math.pi / 2))] == pytest.approx(4.0)
    with_ped = env.rays.cast(np.array([10.0, 5.0]), 0.0, np.array([[12.0, 5.0]]), 0.4)
    assert with_ped[np.argmin(np.abs(env.rays.rel_angles))] == pytest.approx(1.6)


def test_ego_grid_puts_obstacle_ahead(simple_matrix: Path) -> None:
    overrides = {**GRID_403, "grid_config": {**GRID_403["grid_config"], "width": 8.0, "height": 8.0}}
    env = make_env(overrides, scenario_config=simple_matrix, scenario_id="simple_empty")
    env.reset(seed=0)
    env.robot.reset(np.array([16.0, 5.0]), 0.0)  # 3 m before the east wall (x = 19), facing it
    grid = env._socnav_obs()["occupancy_grid"]
    obstacles = grid[0]
    row = obstacles.shape[0] // 2
    assert obstacles[row, -1] == 1.0 and obstacles[row, obstacles.shape[1] // 2] == 0.0
    env.robot.reset(np.array([16.0, 5.0]), math.pi)  # facing west: the wall is now behind
    obstacles = env._socnav_obs()["occupancy_grid"][0]
    assert obstacles[row, 0] == 1.0 and obstacles[row, -1] == 0.0


@pytest.mark.parametrize("reward_name", ["route_completion_v2", "route_completion_v3", "simple", "sparse"])
def test_reward_is_the_named_function_of_the_step_meta(reward_name: str) -> None:
    from trainers.envs.crowdnav.rewards import make_reward

    env = make_env({}, reward_name=reward_name, seed=0)
    env.reset()
    for _ in range(3):
        _, reward, *_, info = env.step(env.action_space.sample())
        meta = {k: v for k, v in info["meta"].items() if k not in ("reward_terms", "reward_total")}
        assert reward == make_reward(reward_name)(meta)
    assert meta["step_of_episode"] == 3 and meta["last_action"] is not None


def test_unknown_reward_and_kwargs_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown reward_name"):
        make_env({}, reward_name="nope")
    with pytest.raises(ValueError, match="not accepted"):
        make_env({}, reward_kwargs={"bogus": 1})


def test_render_is_not_blank() -> None:
    env = make_env({}, seed=0, render_mode="rgb_array")
    env.reset()
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) >= 4  # floor, walls, robot, pedestrians/route


def test_reference_scenarios_run(reference_dir: Path) -> None:
    paths = sorted((reference_dir / "configs" / "scenarios").rglob("*.yaml"))
    assert paths, "the reference tree has no scenario matrices"
    for path in paths:
        for scenario in load_scenario_matrix(path):
            env = make_env(GRID_403, scenario_config=path, scenario_id=scenario.name, seed=scenario.seeds[0])
            obs, _ = env.reset()
            for _ in range(20):
                obs, _, terminated, truncated, _info = env.step(env.action_space.sample())
                if terminated or truncated:
                    obs, _ = env.reset()
            assert env.observation_space.contains(obs), scenario.name


def test_francis_lead_pedestrian_stays_ahead(reference_dir: Path) -> None:
    path = reference_dir / "configs/scenarios/single/francis2023_following_human.yaml"
    env = make_env({}, scenario_config=path, scenario_id="francis2023_following_human", seed=246)
    env.reset()
    assert env.crowd.n == 1
    np.testing.assert_allclose(env.crowd.pos[0], [8.0, 7.0])  # from single_ped_h1_start
    env.robot.reset(np.array([10.0, 5.0]), 0.0)
    for _ in range(40):
        env.crowd.step(0.1, env.robot.pos, 0.0, 1.0, False)
    # Robot SF's top speed: initial 0.5 m/s x peds_speed_mult 1.3, so 4 s cover at most 2.6 m of the 4.5 m.
    assert 1.5 < np.linalg.norm(env.crowd.pos[0] - np.array([8.0, 7.0])) <= 2.6 + 1e-6
    for _ in range(80):
        env.crowd.step(0.1, env.robot.pos, 0.0, 1.0, False)
    assert np.linalg.norm(env.crowd.pos[0] - np.array([12.0, 5.0])) < 0.6  # role_offset [2, 0] ahead


def test_scripted_trajectory_waits(tmp_path: Path, simple_map: Path) -> None:
    matrix = tmp_path / "m.yaml"
    matrix.write_text(
        "scenarios:\n- name: s\n  map_file: simple.svg\n  simulation_config: {ped_density: 0.0}\n"
        "  single_pedestrians:\n  - {id: p, start: [6, 3], trajectory: [[9, 3], [14, 3]], speed_m_s: 1.0,"
        " wait_at: [{waypoint_index: 0, wait_s: 2.0}]}\n",
        encoding="utf-8",
    )
    env = make_env({}, scenario_config=matrix, scenario_id="s", seed=0)
    env.reset()
    env.robot.reset(np.array([3.0, 7.0]), 0.0)
    xs = []
    for _ in range(120):
        env.crowd.step(0.1, env.robot.pos, 0.0, 1.0, False)
        xs.append(env.crowd.pos[0, 0])
    xs = np.array(xs)
    stalled = np.sum(np.abs(np.diff(xs)) < 0.01)  # held: velocity zeroed each step, only walls nudge it
    assert stalled >= 15  # the 2 s wait at the first waypoint
    assert xs[-1] > 13.0  # then it walks on to the end


def test_robot_sf_factory_kwargs() -> None:
    env = make_env({}, debug=False, recording_enabled=False, peds_have_obstacle_forces=False, seed=0)
    assert env.settings.peds_have_static_obstacle_forces is False
    with pytest.raises(ValueError, match="unknown keyword"):
        make_env({}, colour="red")


def test_robot_sf_backend_without_robot_sf_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from trainers.envs.robot_sf import RobotSFNotInstalled

    monkeypatch.setitem(sys.modules, "robot_sf", None)  # importing robot_sf now raises ImportError
    with pytest.raises(RobotSFNotInstalled, match=r"pip install git\+https://github.com/ll7/robot_sf_ll7"):
        make_env({}, backend="robot_sf")


def test_unknown_backend() -> None:
    with pytest.raises(ValueError, match="embedded, robot_sf"):
        make_env({}, backend="carla")


def test_socnav_values_closest_first_and_ego_velocities(simple_matrix: Path) -> None:
    overrides = {"observation_mode": "socnav_struct", "sim_config": {"max_total_pedestrians": 8}}
    env = make_env(overrides, scenario_config=simple_matrix, scenario_id="simple_high", seed=0)
    env.reset()
    env.robot.reset(np.array([10.0, 5.0]), math.pi / 2)  # facing +y
    n = env.crowd.n
    assert n >= 3
    env.crowd.pos = np.array([[10.0 + 3.0 + i, 5.0] for i in range(n)])
    env.crowd.vel = np.tile([1.0, 0.0], (n, 1))  # moving +x in the world = to the robot's right
    obs = env._socnav_obs()
    k = min(n, 8)
    assert obs["pedestrians_count"][0] == k
    np.testing.assert_allclose(obs["pedestrians_positions"][:k, 0], 13.0 + np.arange(k))  # closest first
    np.testing.assert_allclose(obs["pedestrians_velocities"][:k], np.tile([0.0, -1.0], (k, 1)), atol=1e-6)
    assert not obs["pedestrians_positions"][k:].any()
    np.testing.assert_allclose(obs["robot_position"], [10, 5])
    assert obs["robot_heading"][0] == pytest.approx(math.pi / 2)


def test_world_frame_grid_with_robot_and_pedestrian_discs(simple_matrix: Path) -> None:
    overrides = {
        "observation_mode": "socnav_struct",
        "use_occupancy_grid": True,
        "include_grid_in_observation": True,
        "grid_config": {
            "resolution": 0.5,
            "width": 20.0,
            "height": 10.0,
            "channels": ["obstacles", "pedestrians", "robot", "combined"],
        },
    }
    env = make_env(overrides, scenario_config=simple_matrix, scenario_id="simple_high", seed=0)
    env.reset()
    env.robot.reset(np.array([5.0, 5.0]), 0.0)
    env.crowd.pos = np.tile([15.0, 5.0], (env.crowd.n, 1))
    obs = env._socnav_obs()
    grid = obs["occupancy_grid"]
    assert grid.shape == (4, 20, 40)
    assert obs["occupancy_grid_meta_channel_indices"].tolist() == [0, 1, 2, 3]
    assert grid[2, 10, 10] == 1.0 and grid[2, 10, 30] == 0.0  # robot disc at (5, 5)
    assert grid[1, 10, 30] == 1.0 and grid[1, 10, 10] == 0.0  # pedestrian disc at (15, 5)
    assert grid[1].sum() < 8  # a 0.4 m disc covers a few 0.5 m cells, not a band
    np.testing.assert_array_equal(grid[3], np.maximum.reduce(grid[:3]))
    np.testing.assert_allclose(obs["occupancy_grid_meta_origin"], [0, 0])


@pytest.mark.parametrize("scenario_id", ["merging_high", "bottleneck_high", "group_crossing_high", "doorway_high"])
def test_crowd_stays_off_walls_and_open_maps_keep_flowing(scenario_id: str) -> None:
    matrix = Path(__file__).resolve().parents[3] / "configs/scenarios/crowdnav_matrix.yaml"
    env = make_env({}, scenario_config=matrix, scenario_id=scenario_id, seed=0)
    env.reset()
    far = np.array([-100.0, -100.0])
    speeds = []
    for _ in range(300):
        env.crowd.step(0.1, far, 0.0, 1.0, False)
        assert not env.map.inside_obstacle(env.crowd.pos).any()
        speeds.append(np.linalg.norm(env.crowd.vel, axis=1))
    late = np.mean(speeds[-100:], axis=0)
    assert late.max() <= 0.5 * 1.3 + 1e-9  # Robot SF's top speed: 1.3 x the initial 0.5 m/s
    if scenario_id in ("merging_high", "group_crossing_high"):  # open maps: nearly everyone still walking
        assert late.mean() > 0.5 and (late > 0.1).mean() > 0.8
    # bottleneck and doorway at high density jam, in Robot SF too (PySocialForce has no fluctuation term)


def test_unknown_override_keys_are_errors_and_image_obs_is_refused() -> None:
    with pytest.raises(ValueError, match=r"env_overrides.colour: unknown key"):
        make_env({"colour": "red"})
    with pytest.raises(ValueError, match=r"robot_config.wheels: unknown, not one of differential_drive's"):
        make_env({"robot_config": {"wheels": 3}})
    with pytest.raises(ValueError, match=r"robot_config.wheelbase: a bicycle setting, not one of holonomic's"):
        make_env({"robot_config": {"type": "holonomic", "wheelbase": 1.0}})
    with pytest.raises(ValueError, match=r"sim_config.ped_radus: unknown key \(did you mean 'ped_radius'\?\)"):
        make_env({"sim_config": {"ped_radus": 0.3}})
    with pytest.raises(ValueError, match="use_image_obs"):
        make_env({"use_image_obs": True})
    with pytest.raises(ValueError, match="no global planner"):
        make_env({"use_planner": True})
    make_env({"use_image_obs": False})  # the Dreamer reference config says so explicitly
