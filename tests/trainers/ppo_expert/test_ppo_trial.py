"""The PPO trainer as a study's trial: every scheduled evaluation is reported (step and mean metrics), and a trial the
study prunes at a report stops there without its run being recorded as failed."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import pytest
from ppo_helpers import toy_resolved
from ppo_toy_env import ToySource

from manifests import load_run_manifest
from trainers.common.checkpoints import list_checkpoints
from trainers.common.job import TrainJob
from trainers.common.trial import TrialPruned, reporting_to
from trainers.ppo_expert.evaluation import EVAL_METRICS
from trainers.ppo_expert.train import run_training


def _train(run_dir: Path) -> None:
    run_training(
        TrainJob(resolved=toy_resolved(), run_dir=run_dir), env_source=ToySource(), progress_stream=io.StringIO()
    )


def test_every_evaluation_is_reported_and_a_pruned_trial_stops_without_failing(tmp_path: Path) -> None:
    reports: list[tuple[int, dict[str, float]]] = []

    def listen(step: int, metrics: Mapping[str, float]) -> None:
        reports.append((step, dict(metrics)))

    with reporting_to(listen):
        _train(tmp_path / "runs" / "listened")
    assert [step for step, _ in reports] == [200, 400, 512]  # every 200 up to 512, and the end
    assert all(set(EVAL_METRICS) <= set(metrics) for _, metrics in reports)

    def prune_at_400(step: int, metrics: Mapping[str, float]) -> None:
        if step >= 400:
            raise TrialPruned(step, "a test pruner")

    pruned = tmp_path / "runs" / "pruned"
    with reporting_to(prune_at_400), pytest.raises(TrialPruned) as stop:
        _train(pruned)
    assert stop.value.step == 400
    manifest = load_run_manifest(pruned)
    assert manifest.status != "failed" and manifest.error is None and not (pruned / "failures").exists()
    kinds = {c.kind for c in list_checkpoints(pruned)}
    assert "final" not in kinds and (pruned / "checkpoints" / "step_400.json").exists()  # saved before the report


def test_outside_a_study_reports_go_nowhere(tmp_path: Path) -> None:
    _train(tmp_path / "runs" / "plain")  # no listener: training is unchanged
    assert load_run_manifest(tmp_path / "runs" / "plain").status == "completed"
