"""The gate rules of issue 8 on hand-written runs: each rule passes a good run and fails the regression it targets."""

from __future__ import annotations

from pathlib import Path

import pytest
from rundirs import full_metrics, full_run, ppo_run_records, standing_still_metrics, standing_still_run, write_run

from orchestrator.gate.baseline import build_baseline
from orchestrator.gate.compare import compare_runs
from orchestrator.gate.rundata import load_run, load_runs


def _ss(tmp_path: Path, name: str, **kwargs: object) -> Path:
    return standing_still_run(tmp_path / name, 7, **kwargs)


@pytest.fixture
def ss_baseline(standing_still_sweep: Path) -> dict:
    return build_baseline(load_runs([standing_still_sweep]), name="ss")


def test_standing_still_new_seed_passes(tmp_path: Path, ss_baseline: dict) -> None:
    result = compare_runs([load_run(_ss(tmp_path, "good"))], ss_baseline)
    assert result.passed, result.verdict
    assert result.verdict.startswith("PASS dreamer_standing_still vs baseline ss")
    assert result.summary["config_hash_match"] is True
    assert {c["metric"] for c in result.summary["checks"]} == {"obs_nll", "reward_nll", "kl_dyn", "kl_rep"}


@pytest.mark.parametrize(
    ("kwargs", "metric"),
    [({"kl_scale": 0.5}, "kl_dyn"), ({"kl_scale": 1.2}, "kl_rep"), ({"obs_scale": 1.2}, "obs_nll")],
    ids=["kl_halved", "kl_plus_20pct", "obs_plus_20pct"],
)
def test_standing_still_outside_15_percent_fails(tmp_path: Path, ss_baseline: dict, kwargs: dict, metric: str) -> None:
    result = compare_runs([load_run(_ss(tmp_path, "bad", **kwargs))], ss_baseline)
    assert not result.passed
    failing = {c["metric"] for c in result.summary["checks"] if not c["passed"]}
    assert metric in failing and metric in result.verdict


def test_standing_still_tolerance_is_configurable(tmp_path: Path, ss_baseline: dict) -> None:
    run = load_run(_ss(tmp_path, "bad", obs_scale=1.2))
    assert compare_runs([run], ss_baseline, overrides={"obs_nll.rtol": 0.3}).passed
    assert not compare_runs([run], ss_baseline, overrides={"kl_dyn.rtol": 0.3}).passed


def test_standing_still_any_nonfinite_fails(tmp_path: Path, ss_baseline: dict) -> None:
    result = compare_runs([load_run(_ss(tmp_path, "nan", nan_at=40))], ss_baseline)  # one null line at the end
    assert not result.passed and "non-finite" in result.verdict


def test_a_failed_run_fails_the_gate(tmp_path: Path, ss_baseline: dict) -> None:
    run_dir = write_run(
        tmp_path / "f",
        "ss",
        trainer="dreamerv3",
        mode="standing_still",
        seed=7,
        config_hash="c0",
        metrics=standing_still_metrics(7),
        status="failed",
        error="non-finite loss_model at step 9",
    )
    result = compare_runs([load_run(run_dir)], ss_baseline)
    assert not result.passed and "non-finite loss_model at step 9" in result.verdict
    assert result.summary["config_hash_match"] is False


def test_a_short_run_is_compared_on_the_ranges_it_reached(tmp_path: Path, ss_baseline: dict) -> None:
    half = compare_runs([load_run(_ss(tmp_path, "half", updates=25))], ss_baseline)
    assert half.passed, half.verdict
    tiny = compare_runs([load_run(_ss(tmp_path, "tiny", updates=8))], ss_baseline)
    assert not tiny.passed and "step ranges reached" in tiny.verdict


def test_dreamer_full_return_rule(tmp_path: Path, full_sweep: Path) -> None:
    baseline = build_baseline(load_runs([full_sweep]), name="full")
    assert baseline["gate"] == "dreamer_full" and "episode_return" in baseline["metrics"]

    def run(scale: float) -> Path:
        return full_run(tmp_path / f"r{scale}", 9, return_scale=scale)

    assert compare_runs([load_run(run(0.7))], baseline).passed  # 0.7x the baseline still clears 0.6x
    slow = compare_runs([load_run(run(0.4))], baseline)
    assert not slow.passed and "episode_return" in slow.verdict


def test_dreamer_full_tolerates_a_blip_but_not_sustained_nonfinite(tmp_path: Path, full_sweep: Path) -> None:
    baseline = build_baseline(load_runs([full_sweep]), name="full")
    metrics = full_metrics(9)
    metrics[10]["loss_model"] = None
    blip = write_run(
        tmp_path / "blip", "full", trainer="dreamerv3", mode="full", seed=9, config_hash="b", metrics=metrics
    )
    assert compare_runs([load_run(blip)], baseline).passed
    for i in (20, 21, 22):
        metrics[i]["loss_critic"] = None
    sustained = write_run(
        tmp_path / "sus", "full", trainer="dreamerv3", mode="full", seed=9, config_hash="b", metrics=metrics
    )
    result = compare_runs([load_run(sustained)], baseline)
    assert not result.passed and "longest streak 3" in result.verdict


@pytest.mark.parametrize(
    ("kwargs", "passed", "metric"),
    [
        ({}, True, None),
        ({"success_scale": 0.3}, False, "success_rate"),
        ({"collision_add": 0.5}, False, "collision_rate"),
    ],
    ids=["same_config", "success_drops", "collisions_rise"],
)
def test_ppo_rules(tmp_path: Path, ppo_sweep: Path, kwargs: dict, passed: bool, metric: str | None) -> None:
    baseline = build_baseline(load_runs([ppo_sweep]), name="ppo")
    metrics, episodes = ppo_run_records(11, **kwargs)
    run_dir = write_run(
        tmp_path / "c", "ppo", trainer="ppo_expert", seed=11, config_hash="feed" * 6, metrics=metrics, episodes=episodes
    )
    result = compare_runs([load_run(run_dir)], baseline)
    assert result.passed is passed, result.verdict
    if metric:
        assert metric in result.verdict


def test_seeds_of_a_candidate_config_are_compared_as_one(tmp_path: Path, ss_baseline: dict) -> None:
    for seed in (5, 6, 7):
        standing_still_run(tmp_path / "cand", seed)
    result = compare_runs(load_runs([tmp_path / "cand"]), ss_baseline)
    assert result.passed, result.verdict
    assert [r["seed"] for r in result.summary["runs"]] == [5, 6, 7]


def test_a_baseline_of_another_trainer_is_a_usage_error(ppo_sweep: Path, ss_baseline: dict) -> None:
    from orchestrator.gate.rundata import GateError

    with pytest.raises(GateError, match="pick a baseline of the same trainer"):
        compare_runs(load_runs([ppo_sweep]), ss_baseline)
