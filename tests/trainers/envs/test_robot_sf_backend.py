"""``env.backend: robot_sf``: Robot SF's own loader, factory, sampler and switching env behind ``make_env``.

Skips, saying why, where Robot SF is not installed or ../shared is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gymnasium import spaces

from trainers.envs import make_env
from trainers.envs.robot_sf import robot_sf_available
from trainers.envs.robot_sf.wrappers import normalized_actions

pytestmark = pytest.mark.skipif(
    not robot_sf_available(), reason="Robot SF is not installed (../shared/vendor/install-robot-sf.sh installs it)"
)

GRID_403 = {
    "observation_mode": "socnav_struct",
    "use_occupancy_grid": True,
    "include_grid_in_observation": True,
    "robot_config": {"type": "bicycle", "allow_backwards": True},
    "grid_config": {"resolution": 0.2, "width": 32, "height": 32, "channels": ["obstacles", "pedestrians", "combined"]},
    "sim_config": {"prf_config": {"is_active": False}, "max_peds_per_group": 2},
}


@pytest.fixture
def crossing(reference_dir: Path) -> Path:
    return reference_dir / "configs" / "scenarios" / "archetypes" / "classic_crossing.yaml"


def test_env_overrides_reach_robot_sfs_config_after_the_scenario(crossing: Path) -> None:
    env = make_env(GRID_403, scenario_config=crossing, scenario_id="classic_crossing_medium", backend="robot_sf")
    config = env.unwrapped.env_config
    assert type(config.robot_config).__name__ == "BicycleDriveSettings" and config.robot_config.allow_backwards
    assert config.grid_config.resolution == 0.2 and [c.value for c in config.grid_config.channels][-1] == "combined"
    assert config.observation_mode.value == "socnav_struct"
    assert config.sim_config.prf_config.is_active is False and config.sim_config.max_peds_per_group == 2
    # the scenario's own keys, through Robot SF's loader: 600 steps -> 60 s, density at difficulty 0
    assert config.sim_config.sim_time_in_secs == pytest.approx(60.0)
    assert config.sim_config.ped_density_by_difficulty[0] == pytest.approx(0.05)
    assert env.observation_space["occupancy_grid"].shape == (3, 160, 160)


def test_deprecated_obstacle_force_flag_survives_robot_sfs_factory(crossing: Path) -> None:
    off = {"peds_have_obstacle_forces": False}
    env = make_env(off, scenario_config=crossing, scenario_id="classic_crossing_low", backend="robot_sf")
    assert env.unwrapped.env_config.peds_have_static_obstacle_forces is False
    env = make_env({}, scenario_config=crossing, scenario_id="classic_crossing_low", backend="robot_sf", debug=False)
    assert env.unwrapped.env_config.peds_have_static_obstacle_forces is True


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sim_config": {"colour": 1}}, r"sim_config\.colour: the installed Robot SF has no such setting"),
        ({"robot_config": {"wheels": 3}}, r"robot_config: \['wheels'\] not in"),
        ({"grid_config": {"resolution": 0.2, "pixels": 4}}, r"grid_config: \['pixels'\]"),
        ({"colour": "red"}, r"env_overrides: \['colour'\] not known"),
        ({"robot_config": {"type": "tank"}}, r"robot_config\.type: 'tank'"),
        ({"socnav_key_set": "extended"}, "legacy SocNav keys"),
    ],
)
def test_unknown_keys_are_errors_naming_them(crossing: Path, overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_env(overrides, scenario_config=crossing, scenario_id="classic_crossing_low", backend="robot_sf")


def test_a_matrix_switches_scenarios_and_never_plays_a_hold_out(crossing: Path) -> None:
    env = make_env(
        {}, scenario_config=crossing, exclude_scenarios=["classic_crossing_low"], switching="cycle", backend="robot_sf"
    )
    seen = []
    for episode in range(4):
        _, info = env.reset(seed=0 if episode == 0 else None)  # a seeded reset starts the cycle again
        seen.append(info["scenario_id"])
        _, _, _, _, info = env.step(env.action_space.sample())
        assert info["scenario_id"] == seen[-1] and info["steps"] == 1 and info["num_pedestrians"] > 0
    assert "classic_crossing_low" not in seen and set(seen) == {"classic_crossing_medium", "classic_crossing_high"}
    with pytest.raises(ValueError, match="unknown scenario name"):
        make_env({}, scenario_config=crossing, exclude_scenarios=["nope"], backend="robot_sf")


def test_flattened_keys_for_dreamer_and_the_default_matrix() -> None:
    env = make_env({}, flatten_keys=["drive_state", "rays"], backend="robot_sf", seed=0)
    assert env.observation_space.shape == (831,)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (831,) and env.observation_space.contains(obs)


def test_same_seed_same_episode(crossing: Path) -> None:
    """A seeded reset rebuilds the env from that seed, crowd included (Robot SF keeps its crowd across resets)."""
    env = make_env({}, scenario_config=crossing, scenario_id="classic_crossing_high", backend="robot_sf")

    def rollout(seed: int) -> list[np.ndarray]:
        env.reset(seed=seed)
        sim = env.unwrapped.simulator
        out = []
        for _ in range(5):
            env.step(np.array([1.0, 0.2], dtype=np.float32))
            # positions, not rays: Robot SF's lidar noise comes from numba's generator, which seeding cannot reach
            out.append(np.concatenate([np.ravel(sim.ped_pos), np.ravel(sim.robots[0].pose[0])]))
        return out

    a, b, c = rollout(4), rollout(4), rollout(5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_normalized_actions_map_onto_robot_sfs_raw_bounds(crossing: Path) -> None:
    raw = make_env({}, scenario_config=crossing, scenario_id="classic_crossing_low", backend="robot_sf")
    np.testing.assert_allclose(raw.action_space.low, [0.0, -1.0])  # differential drive: a change of speed per step
    env = normalized_actions(raw)
    assert env.action_space == spaces.Box(-1.0, 1.0, (2,), np.float32)
    env.reset(seed=0)
    env.step(np.array([-1.0, 1.0], dtype=np.float32))
    assert env.unwrapped.simulator.robots[0].current_speed == pytest.approx((0.0, 1.0))


def test_a_map_robot_sf_cannot_load_is_an_error(tmp_path: Path) -> None:
    matrix = tmp_path / "m.yaml"
    matrix.write_text("scenarios:\n- name: s\n  map_file: missing.svg\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"cannot load map_file 'missing\.svg'"):
        make_env({}, scenario_config=matrix, scenario_id="s", backend="robot_sf")
