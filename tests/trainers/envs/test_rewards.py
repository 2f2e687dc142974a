"""Rewards under Robot SF's names: hand-computed values, keyword checks, and equality with Robot SF's own functions."""

from __future__ import annotations

import importlib.util
import math
from typing import Any

import numpy as np
import pytest

from trainers.envs.crowdnav.rewards import PROFILE_WEIGHTS, TERMS, check_reward, make_reward, reward_terms

BASE: dict[str, Any] = {
    "step_of_episode": 7,
    "max_sim_steps": 400,
    "is_pedestrian_collision": False,
    "is_robot_collision": False,
    "is_obstacle_collision": False,
    "is_waypoint_complete": False,
    "is_route_complete": False,
    "is_timesteps_exceeded": False,
    "distance_to_goal": 9.7,
    "prev_distance_to_goal": 10.0,
    "near_misses": 0.0,
    "force_exceed_events": 1.0,
    "comfort_exposure": 0.25,
    "jerk_mean": 2.0,
    "action": (0.5, 0.1),
    "last_action": (0.2, 0.5),
    "distance_to_robot": 3.0,
}


def test_route_completion_v2_by_hand() -> None:
    # progress 0.3 x 2.5, living -0.01, comfort 0.25 x -0.4, smoothness 2/5 x -0.15
    assert make_reward("route_completion_v2")(dict(BASE)) == pytest.approx(0.75 - 0.01 - 0.1 - 0.06)
    meta = {**BASE, "is_route_complete": True, "distance_to_goal": 5.0}  # progress is bounded to 1
    assert make_reward("route_completion")(meta) == pytest.approx(2.5 - 0.01 - 0.1 - 0.06 + 2.0)
    assert meta["reward_terms"]["terminal_bonus"] == 2.0 and meta["reward_total"] == pytest.approx(4.33)


def test_v3_timeout_and_stagnation_and_weights_override() -> None:
    meta = {**BASE, "is_timesteps_exceeded": True, "distance_to_goal": 10.4, "jerk_mean": 50.0}
    # progress -0.4 x 2.2, living -0.01, comfort -0.125, smoothness 1 x -0.2, timeout -3, stagnation 0.4 x -1.2
    expected = -0.88 - 0.01 - 0.125 - 0.2 - 3.0 - 0.48
    assert make_reward("route_completion_v3")(dict(meta)) == pytest.approx(expected)
    custom = make_reward("route_completion_v3", {"weights": {"timeout": 0.0, "progress": 1.0}})
    assert custom(dict(meta)) == pytest.approx(expected + 3.0 + 0.88 - 0.4)
    collided = {**meta, "is_obstacle_collision": True}
    assert reward_terms(collided)["timeout"] == 0.0 and reward_terms(collided)["collision"] == 1.0


def test_simple_punish_action_and_ped_rewards_by_hand() -> None:
    meta = {**BASE, "is_pedestrian_collision": True}
    assert make_reward("simple")(meta) == pytest.approx(-0.1 / 400 - 5)
    assert make_reward("simple_reward", {"ped_coll_penalty": -1})(meta) == pytest.approx(-0.1 / 400 - 1)
    change = math.hypot(0.3, -0.4)
    assert make_reward("punish_action")(dict(BASE)) == pytest.approx(-0.1 / 400 - 0.1 * change)
    assert make_reward("punish_action_reward", {"punish_action": False})(dict(BASE)) == pytest.approx(-0.1 / 400)
    assert make_reward("punish_action")({**BASE, "last_action": None}) == pytest.approx(-0.1 / 400)
    assert make_reward("simple_ped_reward")(dict(BASE)) == pytest.approx(-0.1 / 400 - 0.003)
    assert make_reward("sparse")({**BASE, "is_route_complete": True}) == 1.0


def test_ttc_from_meta_and_non_finite_values() -> None:
    assert reward_terms({**BASE, "time_to_collision": 4.0})["ttc_risk"] == 0.25
    assert reward_terms({**BASE, "near_misses": 1.0})["ttc_risk"] == 1.0
    assert reward_terms({**BASE, "jerk_mean": float("nan")})["smoothness"] == 0.0


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("nope", {}, "unknown reward_name"),
        ("snqi_step", {}, "only in Robot SF"),
        ("route_completion_v2", {"scale": 2}, r"not accepted by 'route_completion_v2'; it takes \['weights'\]"),
        ("route_completion_v3", {"weights": {"collison": -1}}, r"\['collison'\]: not terms"),
        ("route_completion_v2", {"weights": {"progress": "high"}}, "finite number"),
        ("simple", {"weights": {}}, "not accepted by 'simple_reward'"),
    ],
)
def test_bad_names_and_keywords(name: str, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        check_reward(name, kwargs)


def test_robot_sf_only_rewards_pass_on_that_backend() -> None:
    assert check_reward("snqi_step", {"terminal_bonus": 1.0}, backend="robot_sf") == "snqi_step"


def _random_metas(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    metas = []
    for i in range(n):
        prev = float(rng.uniform(0, 30))
        metas.append(
            {
                **BASE,
                "step_of_episode": i,
                "max_sim_steps": int(rng.integers(100, 2000)),
                "is_pedestrian_collision": bool(rng.random() < 0.1),
                "is_obstacle_collision": bool(rng.random() < 0.1),
                "is_route_complete": bool(rng.random() < 0.1),
                "is_timesteps_exceeded": bool(rng.random() < 0.1),
                "prev_distance_to_goal": prev,
                "distance_to_goal": prev + float(rng.normal(0, 0.8)),
                "near_misses": float(rng.random() < 0.2),
                "comfort_exposure": float(rng.random()),
                "jerk_mean": float(rng.exponential(4.0)),
                "action": tuple(rng.uniform(-1, 1, 2)),
                "last_action": None if i % 9 == 0 else tuple(rng.uniform(-1, 1, 2)),
                "distance_to_robot": float(rng.uniform(0, 10)),
            }
        )
    return metas


ROBOT_SF_CASES = [
    ("simple_reward", {}),
    ("simple_reward", {"ped_coll_penalty": -3, "reach_route_reward": 4}),
    ("punish_action_reward", {}),
    ("punish_action_reward", {"punish_action_penalty": -0.4}),
    ("route_completion_v2", {}),
    ("route_completion_v2", {"weights": dict(PROFILE_WEIGHTS["route_completion_v2"], progress=2.0)}),
    ("route_completion_v3", {}),
    ("route_completion_v3", {"weights": {t: 0.5 for t in TERMS}}),
    ("social_quality_v1", {}),
]


@pytest.mark.skipif(importlib.util.find_spec("robot_sf") is None, reason="Robot SF is not installed in this env")
@pytest.mark.parametrize(("name", "kwargs"), ROBOT_SF_CASES)
def test_equal_to_robot_sf_reward_functions(name: str, kwargs: dict[str, Any]) -> None:
    reward = importlib.import_module("robot_sf.gym_env.reward")
    theirs = reward.build_reward_function(name, reward_kwargs=kwargs)
    ours = make_reward(name, kwargs)
    for meta in _random_metas(300):
        assert ours(dict(meta)) == pytest.approx(theirs(dict(meta)), abs=1e-6), meta


@pytest.mark.skipif(importlib.util.find_spec("robot_sf") is None, reason="Robot SF is not installed in this env")
def test_simple_ped_reward_equals_robot_sf() -> None:
    theirs = importlib.import_module("robot_sf.gym_env.reward").simple_ped_reward
    for meta in _random_metas(100, seed=1):
        assert make_reward("simple_ped_reward")(dict(meta)) == pytest.approx(theirs(dict(meta)), abs=1e-6)
