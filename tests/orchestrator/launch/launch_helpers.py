"""Helpers shared by the launch tests (imported as tests.orchestrator.launch.launch_helpers)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable


def release_begin_time_hold(job_id: str) -> bool:
    """Slurm holds a requeued job for about two minutes (BeginTime = now + credential lifetime); start it now.

    Only the scheduling delay changes: the requeue, the new attempt and the resume are Slurm's and orch's own.
    """
    base = job_id.split("_")[0]
    result = subprocess.run(
        ["squeue", "-h", "-j", base, "-o", "%i %r"], capture_output=True, text=True, timeout=15, check=False
    )
    released = False
    for line in result.stdout.splitlines():
        jid, _, reason = line.partition(" ")
        if reason.strip() == "BeginTime" and (jid == job_id or jid.split("_")[0] == base):
            subprocess.run(["scontrol", "update", f"JobId={jid}", "StartTime=now"], capture_output=True, check=False)
            released = True
    return released


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.5, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or predicate}")
