"""orch logs: per-attempt files, the scheduler log as fallback, following across a requeue, split characters."""

from __future__ import annotations

from pathlib import Path

import pytest

from manifests import Attempt, RunManifest, save_run_manifest, update_run_manifest
from orchestrator.errors import StatusError
from orchestrator.logs import _read_from, follow_log, locate_log, read_log


def _run(root: Path, attempts: int, **scheduler: str) -> Path:
    run_dir = root / "runs" / "r1"
    (run_dir / "logs").mkdir(parents=True)
    manifest = RunManifest(run_id="r1", trainer="toy", name="n", status="running", scheduler=dict(scheduler))
    manifest.attempts = [Attempt(job_id="1", state="running") for _ in range(attempts)]
    save_run_manifest(run_dir, manifest)
    return run_dir


def test_latest_attempt_by_default_and_stderr(tmp_path: Path) -> None:
    run_dir = _run(tmp_path, 2)
    for k in (1, 2):
        (run_dir / "logs" / f"attempt_{k}.out").write_text(f"out {k}\n")
        (run_dir / "logs" / f"attempt_{k}.err").write_text(f"err {k}\n")
    assert read_log(locate_log(tmp_path, "r1")) == "out 2\n"
    assert read_log(locate_log(tmp_path, "r1", attempt=1, stderr=True)) == "err 1\n"
    with pytest.raises(StatusError, match=r"--attempt takes 1\.\.2"):
        locate_log(tmp_path, "r1", attempt=3)


def test_scheduler_log_when_the_job_died_before_orch_started(tmp_path: Path) -> None:
    early = tmp_path / "slurm-7.out"
    early.write_text("module: command not found\n")
    _run(tmp_path, 0, stdout=str(early))
    source = locate_log(tmp_path, "r1")
    assert source.from_scheduler and read_log(source) == "module: command not found\n"


def test_follow_goes_on_into_the_next_attempt_and_stops_at_the_end(tmp_path: Path) -> None:
    run_dir = _run(tmp_path, 1)
    (run_dir / "logs" / "attempt_1.out").write_text("step 1\n")
    steps = iter(
        [
            lambda: (run_dir / "logs" / "attempt_1.out").open("a").write("step 2\n"),
            lambda: (
                update_run_manifest(run_dir, lambda m: m.attempts.append(Attempt(job_id="1", state="running"))),
                (run_dir / "logs" / "attempt_2.out").write_text("resumed at 2\n"),
            ),
            lambda: update_run_manifest(run_dir, lambda m: setattr(m, "status", "completed")),
        ]
    )

    def sleep(_: float) -> None:
        next(steps)()

    chunks = list(follow_log(locate_log(tmp_path, "r1"), sleep=sleep, max_idle_polls=10))
    assert "".join(chunks) == "step 1\nstep 2\n\n---- attempt 2 ----\nresumed at 2\n"


def test_a_character_cut_in_half_waits_for_its_end(tmp_path: Path) -> None:
    path = tmp_path / "log"
    data = "né".encode()
    path.write_bytes(data[:-1])
    assert _read_from(path, 0) == "n"
    path.write_bytes(data)
    assert _read_from(path, 0) == "né" and _read_from(path, 1) == "é"


def test_follow_stops_when_the_backend_says_the_job_is_gone(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = finished.stdout.strip()  # a process that ran and exited: what a SIGKILLed trainer leaves
    run_dir = _run(tmp_path, 1, backend="inprocess", job_id=f"pid-{dead_pid}", submit_host=socket.gethostname())
    (run_dir / "logs" / "attempt_1.out").write_text("step 1\n")
    chunks = list(follow_log(locate_log(tmp_path, "r1"), sleep=lambda _: None, alive_every=3, max_idle_polls=50))
    assert chunks[0] == "step 1\n" and "the job is gone; run.json still says running" in chunks[-1]
