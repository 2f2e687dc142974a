"""Reading run directories: tolerant of torn lines, nulls, missing files and missing fields; sweeps expand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from rundirs import standing_still_metrics, write_run

from orchestrator.gate.rundata import GateError, expand_run_paths, load_run, load_runs


def test_reads_manifest_resolved_and_series(standing_still_sweep: Path) -> None:
    runs = load_runs([standing_still_sweep])
    assert [r.seed for r in runs] == [0, 1, 2]
    run = runs[0]
    assert (run.trainer, run.mode, run.status) == ("dreamerv3", "standing_still", "completed")
    assert run.code["git_commit"].startswith("8205e59")
    series = run.series("obs_nll", step_key="opt_steps")
    assert series.steps[:3] == [1.0, 2.0, 3.0]
    assert len(series) == 40 and all(math.isfinite(v) for v in series.values)
    assert "kl_dyn" in run.metric_keys()


def test_torn_line_nulls_and_missing_fields_are_tolerated(tmp_path: Path) -> None:
    metrics = standing_still_metrics(0, updates=5, nan_at=4)
    metrics[1].pop("obs_nll")  # a line without the field
    run_dir = write_run(
        tmp_path, "ss", trainer="dreamerv3", mode="standing_still", seed=0, config_hash="x" * 8, metrics=metrics
    )
    with open(run_dir / "metrics.jsonl", "a", encoding="utf-8") as handle:
        handle.write('not json\n{"env_steps": 9999, "obs_nll": 1.0')  # garbage, then a torn last line
    series = load_run(run_dir).series("obs_nll", step_key="opt_steps")
    assert series.steps == [1.0, 3.0]
    assert series.nonfinite_steps == [4.0, 5.0]


def test_a_run_with_only_run_json_loads_empty(tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"run_id": "r", "trainer": "ppo_expert", "name": "r"}))
    run = load_run(run_dir)
    assert run.metrics == [] and run.episodes == [] and len(run.series("success_rate")) == 0


def test_episode_metrics_are_averaged_per_eval_step(ppo_sweep: Path) -> None:
    run = load_runs([ppo_sweep])[0]
    series = run.series("success_rate", step_key="eval_step")
    assert series.steps[0] == 4096.0 and len(series) == 8
    assert all(0.0 <= v <= 1.0 for v in series.values)


def test_expand_rejects_paths_without_runs(tmp_path: Path) -> None:
    with pytest.raises(GateError, match="no such run"):
        expand_run_paths([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(GateError, match="holds no run directories"):
        expand_run_paths([tmp_path / "empty"])
