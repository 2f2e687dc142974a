"""The DreamerV3 trainer as a study's trial: each evaluation's mean return is reported; a pruned trial stops there
and its run is not recorded as failed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from dreamer_testing import resolved_doc, tiny_settings

from manifests import load_run_manifest
from trainers.common.job import TrainJob
from trainers.common.trial import TrialPruned, reporting_to
from trainers.dreamerv3.train import train


def test_each_evaluation_is_reported_and_a_pruned_trial_is_not_a_failed_run(tmp_path: Path) -> None:
    settings = tiny_settings(tracking={"tensorboard": False, "wandb": {"enabled": False}})
    reports: list[tuple[int, dict[str, float]]] = []

    def listen(step: int, metrics: Mapping[str, float]) -> None:
        reports.append((step, dict(metrics)))
        if step >= 120:
            raise TrialPruned(step, "a test pruner")

    run_dir = tmp_path / "runs" / "dv3"
    with reporting_to(listen), pytest.raises(TrialPruned):
        train(TrainJob(resolved=resolved_doc(settings), run_dir=run_dir))
    assert [step for step, _ in reports] == [60, 120] and all(set(m) == {"eval_return"} for _, m in reports)
    assert load_run_manifest(run_dir).status != "failed"
