"""``orch cancel``: stop the jobs of a run or a sweep and mark their runs cancelled.

The order avoids a run ending up "failed" because it was killed: first ``cancel_requested_at`` is written into each
``run.json`` (the job entry reads it when the trainer is interrupted), then each backend stops its jobs in one call,
then the runs are marked cancelled and their open attempt closed.
"""

from __future__ import annotations

import os
import signal
import socket
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from manifests import RunManifest, update_run_manifest, utc_now
from orchestrator.errors import LaunchError
from orchestrator.launch.rundir import read_run_json, select_runs

__all__ = ["CancelResult", "CancelTarget", "cancel_runs", "plan_cancel"]

_ENDED = frozenset({"completed", "failed", "cancelled"})


@dataclass(frozen=True)
class CancelTarget:
    """A run that can still be stopped."""

    run_id: str
    run_dir: Path
    status: str
    backend: str | None
    job_id: str | None
    submit_host: str | None = None


@dataclass
class CancelResult:
    cancelled: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already ended
    errors: list[str] = field(default_factory=list)


def plan_cancel(root: Path, ref: str) -> tuple[list[CancelTarget], list[str]]:
    """The runs of ``ref`` (a run or a sweep) that have not ended, and the ids of those that have."""
    targets, ended = [], []
    for run_dir in select_runs(root, ref):
        data = read_run_json(run_dir) or {}
        run_id = str(data.get("run_id") or run_dir.name)
        status = str(data.get("status") or "pending")
        if status in _ENDED:
            ended.append(run_id)
            continue
        sched = data.get("scheduler") or {}
        targets.append(
            CancelTarget(
                run_id,
                run_dir,
                status,
                sched.get("backend"),
                str(sched["job_id"]) if sched.get("job_id") else None,
                sched.get("submit_host"),
            )
        )
    return targets, ended


def _stop_foreground(pids: list[str]) -> None:
    """An ``orch run`` in another terminal: interrupt it as Ctrl-C would."""
    for pid in pids:
        number = pid.removeprefix("pid-")
        if number.isdigit():
            try:
                os.kill(int(number), signal.SIGINT)
            except (ProcessLookupError, PermissionError):
                continue


def cancel_runs(targets: list[CancelTarget]) -> CancelResult:
    """Stop every target's job (one call per backend) and mark the runs cancelled."""
    from orchestrator.launch.backend import backend_class

    result = CancelResult()
    now = utc_now()
    for target in targets:
        update_run_manifest(target.run_dir, lambda m: m.extra.__setitem__("cancel_requested_at", now))
    by_backend: dict[str, list[str]] = defaultdict(list)
    here = socket.gethostname()
    for target in targets:
        if not target.job_id or not target.backend:
            continue
        if target.backend in ("local", "inprocess") and target.submit_host not in (None, here):
            result.errors.append(f"{target.run_id}: runs on {target.submit_host}; cancel it there")
            continue
        by_backend[target.backend].append(target.job_id)
    for backend, job_ids in by_backend.items():
        try:
            if backend == "inprocess":
                _stop_foreground(job_ids)
            else:
                backend_class(backend).cancel_jobs(job_ids)
        except LaunchError as exc:
            result.errors.append(f"{backend}: {exc}")
    for target in targets:
        update_run_manifest(target.run_dir, _mark_cancelled)
        result.cancelled.append(target.run_id)
    return result


def _mark_cancelled(m: RunManifest) -> None:
    m.status = "cancelled"
    m.error = m.error or "cancelled by orch cancel"
    m.ended_at = m.ended_at or utc_now()
    if m.attempts and m.attempts[-1].end is None:
        m.attempts[-1].end = utc_now()
        m.attempts[-1].state = "cancelled"
        m.attempts[-1].reason = "orch cancel"
