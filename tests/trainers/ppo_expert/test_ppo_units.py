"""Small parts of the PPO trainer: schedule, statistics, best tracker, spaces check, threads, progress lines."""

from __future__ import annotations

import io

import gymnasium as gym
import numpy as np
import pytest
import torch

from trainers.ppo_expert.envsource import split_scenarios
from trainers.ppo_expert.schedule import EvalSchedule, evaluation_steps, expand_step_schedule
from trainers.ppo_expert.spaces import check_observation_space, space_from_signature, space_signature
from trainers.ppo_expert.state import BestTracker, capture_rng, restore_rng
from trainers.ppo_expert.stats import bootstrap_ci95, summarize
from trainers.ppo_expert.train import configure_threads, ppo_kwargs


def test_reference_schedule_expands_like_upstream() -> None:
    schedule = [{"until_step": 3_000_000, "every_steps": 500_000}, {"every_steps": 1_000_000}]
    assert expand_step_schedule(schedule, 10_000_000) == [
        500_000, 1_000_000, 1_500_000, 2_000_000, 2_500_000, 3_000_000,
        4_000_000, 5_000_000, 6_000_000, 7_000_000, 8_000_000, 9_000_000, 10_000_000,
    ]  # fmt: skip
    assert expand_step_schedule([{"every_steps": 300}], 1000) == [300, 600, 900, 1000]


def test_resolved_eval_steps_win_and_always_include_the_end() -> None:
    settings = {
        "total_timesteps": 1000,
        "evaluation": {"eval_steps": [500, 1000], "step_schedule": [{"every_steps": 1}]},
    }
    assert evaluation_steps(settings) == [500, 1000]


def test_schedule_consumes_each_step_once_and_resumes_from_its_index() -> None:
    schedule = EvalSchedule([200, 400, 512])
    assert schedule.due(128) == []
    assert schedule.due(256) == [200]
    assert schedule.due(256) == []
    resumed = EvalSchedule([200, 400, 512], next_index=schedule.next_index)
    assert resumed.due(512) == [400, 512] and resumed.remaining == []


def test_summary_has_upstream_shape_and_seeded_bootstrap() -> None:
    values = [0.0, 1.0, 1.0, 0.0, 1.0]
    summary = summarize(values, seed=7)
    assert summary["mean"] == pytest.approx(0.6) and summary["median"] == 1.0 and summary["p95"] == 1.0
    low, high = summary["ci95"]
    assert 0.0 <= low <= 0.6 <= high <= 1.0
    assert bootstrap_ci95(values, seed=7) == bootstrap_ci95(values, seed=7)
    assert summarize([])["mean"] is None


def test_best_tracker_prefers_metric_then_lower_collision_then_earlier() -> None:
    best = BestTracker("success_rate")
    assert best.update(100, {"success_rate": 0.5, "collision_rate": 0.3}, {})
    assert not best.update(200, {"success_rate": 0.4, "collision_rate": 0.0}, {})
    assert best.update(300, {"success_rate": 0.5, "collision_rate": 0.1}, {})  # tie -> lower collision
    assert not best.update(400, {"success_rate": 0.5, "collision_rate": 0.1}, {})  # full tie -> keep earlier
    assert best.step == 300
    lower = BestTracker("collision_rate")
    lower.update(1, {"collision_rate": 0.4}, {})
    assert lower.update(2, {"collision_rate": 0.2}, {})


def test_rng_round_trip() -> None:
    blob = capture_rng()
    a = (np.random.rand(), torch.rand(1).item())
    restore_rng(blob)
    assert (np.random.rand(), torch.rand(1).item()) == a


def test_space_check_names_every_difference() -> None:
    signature = {"a": {"shape": [2], "dtype": "float32"}, "b": {"shape": [3, 4], "dtype": "int32"}}
    space = space_from_signature(signature)
    assert space_signature(space) == signature
    check_observation_space(space, signature)
    wrong = gym.spaces.Dict({"a": gym.spaces.Box(0, 1, (3,), np.float32), "c": gym.spaces.Box(0, 1, (1,))})
    with pytest.raises(ValueError) as err:
        check_observation_space(wrong, signature)
    assert (
        "missing key b" in str(err.value) and "unexpected key c" in str(err.value) and "a: env gives" in str(err.value)
    )


def test_hold_outs_never_train_and_are_what_evaluates() -> None:
    ids = ["a", "b", "c"]
    assert split_scenarios(ids, scenario_id=None, hold_out=["c"]) == (["a", "b"], ["c"])
    assert split_scenarios(ids, scenario_id=None, hold_out=[]) == (ids, ids)
    assert split_scenarios(ids, scenario_id="a", hold_out=[]) == (["a"], ["a"])
    with pytest.raises(ValueError, match="not in the scenario matrix"):
        split_scenarios(ids, scenario_id=None, hold_out=["zzz"])


def test_threads_leave_a_cpu_per_env_worker() -> None:
    before = torch.get_num_threads()
    try:
        assert configure_threads(6, "subproc", cpus=8) == {"allocated_cpus": 8, "torch_threads": 2, "env_workers": 6}
        assert configure_threads(22, "subproc", cpus=24)["torch_threads"] == 2
        assert configure_threads(30, "subproc", cpus=24)["torch_threads"] == 1
        assert configure_threads(2, "dummy", cpus=8)["torch_threads"] == 4
    finally:
        torch.set_num_threads(before)


def test_ppo_hyperparams_keep_reference_names_and_reject_unknown() -> None:
    settings = {"ppo_hyperparams": {"learning_rate": 1e-4, "batch_size": 256, "target_kl": 0.02, "n_steps": 1024}}
    assert ppo_kwargs(settings, num_envs=4, dry_run=False)["target_kl"] == 0.02
    assert ppo_kwargs(settings, num_envs=4, dry_run=True)["n_steps"] == 16
    with pytest.raises(ValueError, match="lr_typo"):
        ppo_kwargs({"ppo_hyperparams": {"lr_typo": 1}}, num_envs=1, dry_run=False)


def test_progress_prints_plain_lines_off_a_terminal() -> None:
    from trainers.ppo_expert.callbacks import ProgressCallback

    class _Model:
        num_timesteps = 0

    stream = io.StringIO()
    cb = ProgressCallback(1000, stream=stream, interval_sec=0.0)
    cb.model = _Model()  # type: ignore[assignment]
    cb._on_training_start()
    cb.model.num_timesteps = 500
    cb.update(force=True)
    assert "[ppo_expert] step 500/1000 (50.0%)" in stream.getvalue() and "no eval yet" in stream.getvalue()
