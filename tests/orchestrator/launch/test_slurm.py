"""End to end on the real single-node Slurm cluster (partition debug, 2 CPUs): arrays, failures, cancel,
requeue with resume, time limits, stalls. Each job asks for 1 CPU and little memory and lasts seconds.

The time-limit job is slow by nature (Slurm signals it up to ~45 s in), so it is submitted first, by a
module fixture, and checked last; the other tests run beside it on the second CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from manifests import load_run_manifest
from orchestrator.cancel import cancel_runs, plan_cancel
from orchestrator.cli import main
from orchestrator.launch.clusters import ClusterProfile
from orchestrator.launch.submit import SubmitResult
from orchestrator.status import StallPolicy, collect_status
from tests.orchestrator.launch.launch_helpers import (
    sacct_state,
    slurm_profile,
    submit_toy,
    wait_done,
    wait_until,
)

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster")]

REPO_ROOT = Path(__file__).resolve().parents[3]


def _profile(**overrides: Any) -> ClusterProfile:
    return slurm_profile(**overrides)


def _submit(root: Path, name: str, profile: ClusterProfile | None = None, **values: Any) -> SubmitResult:
    return submit_toy(root, name, profile, **values)


_sacct = sacct_state
_wait_done = wait_done


@pytest.fixture(scope="module")
def slurm_root(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("slurm")
    yield root
    runs = root / "runs"
    if runs.exists():  # leave the cluster empty even when a test failed half-way
        cancel_runs(plan_cancel(list(runs.iterdir()))[0])


@pytest.fixture(scope="module")
def time_limit_job(slurm_root: Path, slurm_cluster: None) -> SubmitResult:
    """A 2-minute job that hangs on its first attempt at step 7, two steps past its last periodic checkpoint (5):
    Slurm's USR2 (45 s before the limit) must make it save there, and requeue it. (With a 1-minute limit the signal
    came 15 s after the start, before a job on a loaded machine had reached the hang: it saved at step 5.)"""
    profile = _profile(time_min=2, signal_delay_s=45, max_requeues=3)
    return _submit(
        slurm_root, "timelimit", profile, total_steps=10, step_sleep_s=0.1, checkpoint_every=5, hang_at_step=7
    )


def test_three_seeds_one_array_complete(slurm_root: Path, time_limit_job: SubmitResult) -> None:
    result = _submit(slurm_root, "seeds", seeds=[0, 1, 2], total_steps=3, step_sleep_s=0.1, num_envs="auto")
    assert result.arrays == 1
    array_ids = {r["job_id"].split("_")[0] for r in result.runs}
    assert len(array_ids) == 1 and [r["job_id"].split("_")[1] for r in result.runs] == ["0", "1", "2"]
    report = _wait_done(slurm_root, result.sweep_id)
    assert [r.status for r in report.runs] == ["completed"] * 3, [r.error for r in report.runs]
    assert all(r.step == 3 and r.total_steps == 3 for r in report.runs)
    wait_until(lambda: all(_sacct(r["job_id"]) == "COMPLETED" for r in result.runs), 30, what="sacct COMPLETED")
    manifest = load_run_manifest(result.runs[0]["run_dir"])
    assert manifest.extra["resolved_on_node"] == {**manifest.extra["resolved_on_node"], "num_envs": 2, "cpus": 1}
    assert manifest.attempts[0].job_id == result.runs[0]["job_id"] and manifest.host["hostname"]
    (group,) = report.groups
    assert group.n == 3 and group.mean == pytest.approx(0.31)


def test_failing_job_is_failed_with_its_error(
    slurm_root: Path, time_limit_job: SubmitResult, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _submit(slurm_root, "failing", total_steps=4, fail_at_step=2)
    report = _wait_done(slurm_root, result.sweep_id)
    assert report.runs[0].status == "failed"
    wait_until(lambda: _sacct(result.runs[0]["job_id"]) == "FAILED", 30, what="sacct FAILED")
    assert main(["status", result.sweep_id, "--artifact-root", str(slurm_root)]) == 0
    out = capsys.readouterr().out
    assert "failed" in out and "RuntimeError: toy failure at step 2" in out


def test_hanging_trainer_is_stalled_then_cancelled(slurm_root: Path, time_limit_job: SubmitResult) -> None:
    result = _submit(slurm_root, "hang", total_steps=5, step_sleep_s=0.2, hang_at_step=2)
    run_dir = Path(result.runs[0]["run_dir"])
    wait_until(lambda: collect_status(slurm_root, result.sweep_id).runs[0].step == 2, 180, what="step 2")
    policy = StallPolicy(factor=3, min_s=3)
    row = wait_until(
        lambda: (r := collect_status(slurm_root, result.sweep_id, stall=policy).runs[0]).stalled and r,
        30,
        what="STALLED",
    )
    assert row.status == "running" and row.scheduler_state == "RUNNING"
    assert main(["cancel", result.sweep_id, "-y", "--artifact-root", str(slurm_root)]) == 0
    wait_until(
        lambda: (
            _sacct(result.runs[0]["job_id"]) == "CANCELLED by 0"
            or _sacct(result.runs[0]["job_id"]).startswith("CANCELLED")
        ),
        30,
        what="sacct CANCELLED",
    )
    assert collect_status(slurm_root, result.sweep_id).runs[0].status == "cancelled"
    assert load_run_manifest(run_dir).status == "cancelled"
    assert plan_cancel([run_dir])[0] == [] and cancel_runs([]).cancelled == []


def test_scontrol_requeue_resumes_from_checkpoint(slurm_root: Path, time_limit_job: SubmitResult) -> None:
    # 1.5 s a step: Slurm lets the job run KillWait (5 s) after the requeue, which must not reach the end
    result = _submit(slurm_root, "requeue", total_steps=8, step_sleep_s=1.5, resume_step_sleep_s=0.05)
    job_id, run_dir = result.runs[0]["job_id"], Path(result.runs[0]["run_dir"])
    wait_until(lambda: (collect_status(slurm_root, result.sweep_id).runs[0].step or 0) >= 3, 180, what="step 3")
    subprocess.run(["scontrol", "requeue", job_id], check=True, capture_output=True)
    report = _wait_done(slurm_root, result.sweep_id, release=job_id)
    row = report.runs[0]
    assert row.status == "completed" and row.step == 8 and row.requeue_count == 1
    # the trainer marks the run completed a moment before its job closes the attempt: wait for that close
    wait_until(lambda: load_run_manifest(run_dir).attempts[-1].end, 30, what="the attempt closed")
    manifest = load_run_manifest(run_dir)
    assert [a.state for a in manifest.attempts] == ["requeued", "completed"]
    assert "without notice" in (manifest.attempts[0].reason or "")
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    resumed = lines[-1]["resumed_from"]
    assert resumed >= 3 and [x["step"] for x in lines if x["resumed_from"] == resumed] == list(range(resumed + 1, 9))
    assert "resume=True" in (run_dir / "logs" / "attempt_2.out").read_text()


def test_time_limit_requeues_and_finishes(slurm_root: Path, time_limit_job: SubmitResult) -> None:
    job_id, run_dir = time_limit_job.runs[0]["job_id"], Path(time_limit_job.runs[0]["run_dir"])
    report = _wait_done(slurm_root, time_limit_job.sweep_id, timeout=300, release=job_id)
    row = report.runs[0]
    assert row.status == "completed" and row.step == 10, row.error
    manifest = load_run_manifest(run_dir)
    assert manifest.requeue_count >= 1 and manifest.attempts[0].state == "requeued"
    assert manifest.attempts[0].reason == "time limit reached; saved at step 7"  # saved at the signal, while hanging
    assert manifest.attempts[-1].state == "completed"
    sidecar = json.loads((run_dir / "checkpoints" / "step_7.json").read_text())
    assert sidecar["meta"] == {"saved_on": "stop"}  # not a periodic one (every 5): written at the signal
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["step"] == 10 and lines[-1]["resumed_from"] == 7  # later than the periodic checkpoint at 5
    assert os.path.exists(run_dir / "logs" / "attempt_2.out")
