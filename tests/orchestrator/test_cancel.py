"""orch cancel tells the truth: only runs whose job stopped are marked cancelled; the others are named, exit 3."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from manifests import Attempt, RunManifest, load_run_manifest, save_run_manifest
from orchestrator.cancel import cancel_runs, plan_cancel
from orchestrator.cli import main


def _run(root: Path, run_id: str, scheduler: dict, status: str = "running") -> Path:
    run_dir = root / "runs" / run_id
    run_dir.mkdir(parents=True)
    manifest = RunManifest(run_id=run_id, trainer="toy", name="n", status=status, sweep_id="SW", scheduler=scheduler)
    manifest.attempts.append(Attempt(job_id=scheduler.get("job_id"), start="2026-01-01T00:00:00+00:00"))
    save_run_manifest(run_dir, manifest)
    return run_dir


def test_a_run_whose_job_cannot_be_stopped_is_left_running_and_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = _run(tmp_path, "r-elsewhere", {"backend": "local", "job_id": "4242", "submit_host": "gpu-node-9"})
    never_queued = _run(tmp_path, "r-unqueued", {"backend": "slurm"}, status="pending")
    code = main(["cancel", "SW", "-y", "--artifact-root", str(tmp_path)])
    assert code == 3
    captured = capsys.readouterr()
    assert "error: r-elsewhere is still running: its process runs on gpu-node-9" in captured.err
    assert "cancelled 1 run(s)" in captured.out
    kept = load_run_manifest(elsewhere)
    assert kept.status == "running" and kept.attempts[-1].end is None
    assert "cancel_requested_at" not in kept.extra  # withdrawn: its end will not be rewritten as cancelled
    assert load_run_manifest(never_queued).status == "cancelled"


def test_a_stopped_foreground_run_is_cancelled_and_its_attempt_closed(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        sched = {"backend": "inprocess", "job_id": f"pid-{sleeper.pid}", "submit_host": socket.gethostname()}
        run_dir = _run(tmp_path, "r-fg", sched)
        targets, ended = plan_cancel([run_dir])
        result = cancel_runs(targets)
        assert result.cancelled == ["r-fg"] and result.complete and ended == []
        assert sleeper.wait(timeout=10) != 0
    finally:
        sleeper.kill()
    manifest = load_run_manifest(run_dir)
    assert manifest.status == "cancelled" and manifest.attempts[-1].state == "cancelled"
    assert manifest.error == "cancelled by orch cancel"


def test_a_job_the_caller_already_stopped_is_not_signalled_again(tmp_path: Path) -> None:
    """orch cancel STUDY stops the workers first; their trial runs share the workers' job ids, and a second interrupt
    could cut a local controller short while it stops its task (the task then trains on)."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        job = f"pid-{sleeper.pid}"
        sched = {"backend": "inprocess", "job_id": job, "submit_host": socket.gethostname()}
        run_dir = _run(tmp_path, "r-trial", sched)
        targets, _ = plan_cancel([run_dir])
        result = cancel_runs(targets, already_stopped={job})
        assert result.cancelled == ["r-trial"]
        assert sleeper.poll() is None  # not signalled a second time
    finally:
        sleeper.kill()
    assert load_run_manifest(run_dir).status == "cancelled"


def test_a_run_that_completed_before_the_cancel_landed_stays_completed(tmp_path: Path) -> None:
    run_dir = _run(tmp_path, "r-done", {"backend": "slurm"})
    targets, _ = plan_cancel([run_dir])
    save_run_manifest(run_dir, RunManifest(run_id="r-done", trainer="toy", name="n", status="completed"))
    result = cancel_runs(targets)
    assert result.skipped == ["r-done"] and result.cancelled == []
    assert load_run_manifest(run_dir).status == "completed"


def test_a_corrupt_run_json_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "runs" / "r-torn"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text('{"run_id": "r-torn", "status": "runn')  # cut short by a full disk
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # where a crash file would go
    code = main(["cancel", "r-torn", "-y", "--artifact-root", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "run.json" in err and "not valid JSON" in err
    assert not list(tmp_path.glob("orch-crash-*"))
    assert (run_dir / "run.json").read_text() == '{"run_id": "r-torn", "status": "runn'
