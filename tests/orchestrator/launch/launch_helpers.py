"""Helpers shared by the launch tests (imported as tests.orchestrator.launch.launch_helpers)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]


def slurm_problem() -> str | None:
    """Why the local Slurm cluster cannot be used here (None: it can)."""
    import shutil

    if shutil.which("sbatch") is None:
        return "sbatch is not installed (start the local cluster with ../shared/slurm/start-local-slurm.sh)"
    try:
        result = subprocess.run(["sinfo", "-h"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"sinfo failed: {exc}"
    if result.returncode != 0:
        return f"sinfo failed: {result.stderr.strip()} (start ../shared/slurm/start-local-slurm.sh)"
    return None


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


def slurm_profile(**overrides: Any) -> Any:
    """The localslurm profile with this checkout importable on the node, little memory and a short limit."""
    from orchestrator.launch.clusters import load_cluster

    env = {"PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", **overrides.pop("env", {})}
    return load_cluster(
        "localslurm", {"env": env, "mem_gb": "300M", "time_min": 5, "python": sys.executable, **overrides}
    )


def toy_config(folder: Path, name: str, **values: Any) -> Path:
    import yaml

    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"trainer": "toy", "name": name, **values}))
    return path


def submit_toy(root: Path, name: str, profile: Any = None, **values: Any) -> Any:
    from orchestrator.launch.submit import submit
    from tests.orchestrator.launch.toy_trainer import resolve_toy

    return submit(
        [toy_config(root, name, **values)], root=root, resolver=resolve_toy, profile=profile or slurm_profile()
    )


def sacct_state(job_id: str) -> str:
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", job_id.split("_")[0]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {a: b for a, b in (line.split("|", 1) for line in out.splitlines() if "|" in line)}.get(job_id, "")


def wait_done(root: Path, ref: str, timeout: float = 180, release: str | None = None) -> Any:
    """Poll orch status until every run of ``ref`` has ended (releasing a requeued job's BeginTime hold)."""
    from orchestrator.status import collect_status

    def done() -> Any:
        if release:
            release_begin_time_hold(release)
        report = collect_status(root, ref)
        ended = report.runs and all(r.status in ("completed", "failed", "cancelled") for r in report.runs)
        return report if ended else None

    return wait_until(done, timeout, interval=1.0, what=f"runs of {ref} to end")
