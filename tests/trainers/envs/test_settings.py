"""env_overrides over a scenario, in Robot SF's PPO trainer order, and every key known or an error."""

from __future__ import annotations

import pytest

from trainers.envs.crowdnav.settings import build_settings, settings_problems


def test_env_overrides_win_over_the_scenario_as_in_robot_sfs_trainer() -> None:
    scenario = {
        "simulation_config": {"max_peds_per_group": 6, "max_episode_steps": 400, "ped_density": 0.05},
        "robot_config": {"type": "holonomic", "max_speed": 1.5, "radius": 0.5},
    }
    s = build_settings({"sim_config": {"max_peds_per_group": 3}, "robot_config": {"radius": 0.8}}, scenario)
    assert s.sim.max_peds_per_group == 3 and s.sim.max_episode_steps == 400 and s.sim.ped_density == 0.05
    assert s.robot.type == "holonomic" and s.robot.max_linear_speed == 1.5 and s.robot.radius == 0.8
    # a robot_config with a type replaces the scenario's robot (its other fields back at their defaults)
    s = build_settings({"robot_config": {"type": "bicycle", "allow_backwards": True}}, scenario)
    assert s.robot.type == "bicycle" and s.robot.allow_backwards and s.robot.radius == 1.0


def test_density_by_difficulty_and_sim_time() -> None:
    assert build_settings({}).sim.ped_density == 0.01  # Robot SF's difficulty 0
    assert build_settings({}, {"simulation_config": {"difficulty": 2}}).sim.ped_density == 0.04
    s = build_settings({"sim_config": {"ped_density_by_difficulty": [0.3, 0.6], "difficulty": 1}})
    assert s.sim.ped_density == 0.6
    assert build_settings({"sim_config": {"sim_time_in_secs": 30.0}}).sim.max_episode_steps == 300
    with pytest.raises(ValueError, match="difficulty: 5 has no entry"):
        build_settings({}, {"simulation_config": {"difficulty": 5}})


@pytest.mark.parametrize("rtype", ["differential_drive", "diff", "bicycle", "bicycle_drive", "holonomic", "omni"])
def test_every_drive_type_with_allow_backwards_where_it_has_it(rtype: str) -> None:
    robot = {"type": rtype}
    if rtype not in ("holonomic", "omni"):
        robot["allow_backwards"] = True
    s = build_settings({"robot_config": robot})
    assert s.robot.allow_backwards == (rtype not in ("holonomic", "omni"))


def test_all_problems_are_listed_with_their_key() -> None:
    problems = dict(
        settings_problems(
            {"grid_config": {"resolutoin": 0.1}, "sim_config": {"prf_config": {"active": True}}},
            {"simulation_config": {"ped_densty": 0.1}, "robot_config": {"type": "tank"}},
        )
    )
    assert "did you mean 'resolution'" in problems["env_overrides.grid_config.resolutoin"]
    assert "did you mean 'is_active'" in problems["env_overrides.sim_config.prf_config.active"]
    assert "did you mean 'ped_density'" in problems["simulation_config.ped_densty"]
    assert "'tank' is not one of" in problems["robot_config.type"]


def test_the_config_schemas_allow_exactly_the_keys_the_simulator_knows() -> None:
    import json
    from pathlib import Path

    from trainers.envs.crowdnav import settings

    root = Path(__file__).resolve().parents[3] / "schemas"
    defs = [json.loads((root / f"{name}.schema.json").read_text())["$defs"] for name in ("ppo_expert", "dreamerv3")]
    assert defs[0]["env_overrides"] == defs[1]["env_overrides"]  # both trainers read env settings the same way

    def keys(name: str) -> set[str]:
        return set(defs[0][name]["properties"])

    assert keys("env_overrides") == set(settings.KNOWN_TOP_LEVEL)
    assert keys("robot_config") == set().union(*settings.ROBOT_FIELDS.values()) | {"type", "model"}
    assert set(defs[0]["robot_config"]["properties"]["type"]["enum"]) == set(settings.ROBOT_TYPES)
    assert keys("grid_config") == set(settings.GRID_KEYS)
    assert keys("lidar_config") == set(settings.LIDAR_KEYS)
    assert keys("sim_config") == set(settings.SIM_KEYS)
    assert keys("prf_config") == set(settings.PRF_KEYS)
    from trainers.envs.factory import VIEWER_KWARGS
    from trainers.envs.validation import FACTORY_KEYWORDS

    assert (
        keys("factory_kwargs")
        == set(FACTORY_KEYWORDS)
        == set(VIEWER_KWARGS)
        | {
            "reward_name",
            "reward_kwargs",
            "peds_have_obstacle_forces",
        }
    )
