"""Baselines: medians over step ranges across seeds, with config hash and code identity, stored under baselines/."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from orchestrator.gate.baseline import build_baseline, create_baseline, load_baseline, range_medians
from orchestrator.gate.rundata import GateError, load_runs


def test_baseline_holds_medians_across_seeds_at_matching_steps(standing_still_sweep: Path) -> None:
    runs = load_runs([standing_still_sweep])
    doc = build_baseline(runs, name="ss")
    assert doc["gate"] == "dreamer_standing_still" and doc["trainer"] == "dreamerv3"
    assert doc["config_hash"] == "c0ffee" * 4 and [r["seed"] for r in doc["runs"]] == [0, 1, 2]
    assert doc["code"]["runs"] == [{"git_commit": "8205e59" + "0" * 33, "git_dirty": False}]
    assert "git_commit" in doc["code"]["created_with"]
    assert set(doc["metrics"]) == {"obs_nll", "reward_nll", "kl_dyn", "kl_rep"}
    obs = doc["metrics"]["obs_nll"]
    assert obs["step_key"] == "opt_steps" and len(obs["ranges"]) == 10
    first = obs["ranges"][0]
    # Recompute the first range by hand: per-seed median of the values in [lo, hi), then the median of those.
    per_seed = [
        statistics.median(v for x, v in zip(s.steps, s.values, strict=True) if first["lo"] <= x < first["hi"])
        for s in (r.series("obs_nll", step_key="opt_steps") for r in runs)
    ]
    assert first["median"] == pytest.approx(statistics.median(per_seed))
    assert first["min"] == pytest.approx(min(per_seed)) and first["n_runs"] == 3
    assert obs["ranges"][-1]["hi"] == 40.0  # ranges end at the shortest run's last step


def test_sparse_evaluation_steps_become_their_own_ranges(ppo_sweep: Path) -> None:
    doc = build_baseline(load_runs([ppo_sweep]), name="ppo")
    success = doc["metrics"]["success_rate"]
    assert success["step_key"] == "eval_step"
    assert [r["center"] for r in success["ranges"]] == [4096.0 * k for k in range(1, 9)]


def test_create_saves_json_and_refuses_to_overwrite(standing_still_sweep: Path, baselines_dir: Path) -> None:
    path, _ = create_baseline([standing_still_sweep], name="ss_v1")
    assert path == baselines_dir / "ss_v1.json"
    assert json.loads(path.read_text())["name"] == "ss_v1"
    with pytest.raises(GateError, match="--force"):
        create_baseline([standing_still_sweep], name="ss_v1")
    create_baseline([standing_still_sweep], name="ss_v1", force=True)
    assert load_baseline("ss_v1")["gate"] == "dreamer_standing_still"


def test_bad_names_missing_and_mixed_inputs_are_reported(
    standing_still_sweep: Path, ppo_sweep: Path, baselines_dir: Path
) -> None:
    with pytest.raises(GateError, match="letters, digits"):
        create_baseline([standing_still_sweep], name="../escape")
    with pytest.raises(GateError, match="not found"):
        load_baseline("nope")
    with pytest.raises(GateError, match="different gates"):
        create_baseline([standing_still_sweep, ppo_sweep], name="mixed")


def test_range_medians_skip_runs_without_points() -> None:
    from orchestrator.gate.rundata import Series

    series = [Series([1, 2, 3], [1.0, 2.0, 3.0]), Series([10], [5.0])]
    out = range_medians(series, [{"lo": 0, "hi": 4}, {"lo": 4, "hi": 20}])
    assert out == [(2.0, [2.0]), (5.0, [5.0])]
