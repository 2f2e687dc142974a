"""End to end on the real single-node Slurm cluster (partition debug, 2 CPUs): arrays, failures, cancel,
requeue with resume, time limits, stalls. Each job asks for 1 CPU and little memory and lasts seconds.

The time-limit job is slow by nature (Slurm signals it up to ~45 s in), so it is submitted first, by a
module fixture, and checked last; the other tests run beside it on the second CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from manifests import load_run_manifest
from orchestrator.cancel import cancel_runs, plan_cancel
from orchestrator.cli import main
from orchestrator.launch.clusters import ClusterProfile, load_cluster
from orchestrator.launch.submit import SubmitResult, submit
from orchestrator.status import StallPolicy, collect_status
from tests.orchestrator.launch.launch_helpers import release_begin_time_hold, wait_until
from tests.orchestrator.launch.toy_trainer import resolve_toy

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster")]

REPO_ROOT = Path(__file__).resolve().parents[3]


def _profile(**overrides: Any) -> ClusterProfile:
    env = {"PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    return load_cluster(
        "localslurm", {"env": env, "mem_gb": "300M", "time_min": 5, "python": sys.executable, **overrides}
    )


def _config(folder: Path, name: str, **values: Any) -> Path:
    import yaml

    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"trainer": "toy", "name": name, **values}))
    return path


def _submit(root: Path, name: str, profile: ClusterProfile | None = None, **values: Any) -> SubmitResult:
    config = _config(root, name, **values)
    return submit([config], root=root, resolver=resolve_toy, profile=profile or _profile())


def _sacct(job_id: str) -> str:
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", job_id.split("_")[0]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {a: b for a, b in (line.split("|", 1) for line in out.splitlines() if "|" in line)}.get(job_id, "")


def _wait_done(root: Path, ref: str, timeout: float = 180, release: str | None = None) -> Any:
    def done() -> Any:
        if release:
            release_begin_time_hold(release)
        report = collect_status(root, ref)
        return (
            report
            if report.runs and all(r.status in ("completed", "failed", "cancelled") for r in report.runs)
            else None
        )

    return wait_until(done, timeout, interval=1.0, what=f"runs of {ref} to end")


@pytest.fixture(scope="module")
def slurm_root(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("slurm")
    yield root
    runs = root / "runs"
    if runs.exists():  # leave the cluster empty even when a test failed half-way
        cancel_runs(plan_cancel(list(runs.iterdir()))[0])


@pytest.fixture(scope="module")
def time_limit_job(slurm_root: Path, slurm_cluster: None) -> SubmitResult:
    """A 1-minute job that hangs on its first attempt: Slurm's USR2 (45 s before the limit) must requeue it."""
    profile = _profile(time_min=1, signal_delay_s=45, max_requeues=3)
    return _submit(slurm_root, "timelimit", profile, total_steps=6, step_sleep_s=0.1, hang_at_step=3)


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
    manifest = load_run_manifest(run_dir)
    assert [a.state for a in manifest.attempts] == ["requeued", "completed"]
    assert "without notice" in (manifest.attempts[0].reason or "")
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    resumed = lines[-1]["resumed_from"]
    assert resumed >= 3 and [x["step"] for x in lines if x["resumed_from"] == resumed] == list(range(resumed + 1, 9))
    assert "resume=True" in (run_dir / "logs" / "attempt_2.out").read_text()


def test_time_limit_requeues_and_finishes(slurm_root: Path, time_limit_job: SubmitResult) -> None:
    job_id, run_dir = time_limit_job.runs[0]["job_id"], Path(time_limit_job.runs[0]["run_dir"])
    report = _wait_done(slurm_root, time_limit_job.sweep_id, timeout=150, release=job_id)
    row = report.runs[0]
    assert row.status == "completed" and row.step == 6, row.error
    manifest = load_run_manifest(run_dir)
    assert manifest.requeue_count >= 1 and manifest.attempts[0].state == "requeued"
    assert manifest.attempts[0].reason == "time limit reached; saved at step 3"  # saved at the signal, while hanging
    assert manifest.attempts[-1].state == "completed"
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["step"] == 6 and lines[-1]["resumed_from"] == 3
    assert os.path.exists(run_dir / "logs" / "attempt_2.out")
