"""``orch cancel``: stop the jobs of runs and mark cancelled only the runs whose job really stopped.

The order avoids two ways of lying. First ``cancel_requested_at`` is written into each ``run.json`` (the job entry
reads it when its trainer is interrupted, so a killed run records "cancelled", not "failed"). Then each backend is
asked, in one call, to stop its jobs, and answers which it stopped. Only those runs (and runs that never had a job)
are marked cancelled; for the others the request is withdrawn, so a job that keeps training ends as what it is
(completed, failed), and the caller is told which runs are still running and why.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from manifests import TERMINAL_STATES, RunManifest, update_run_manifest, utc_now
from orchestrator.launch.backend import Backend, backend_for
from orchestrator.launch.rundir import read_run_json

__all__ = ["CancelResult", "CancelTarget", "cancel_runs", "plan_cancel"]

CANCELLED_BY_USER = "cancelled by orch cancel"


@dataclass(frozen=True)
class CancelTarget:
    """A run that can still be stopped, with the scheduler block of its ``run.json``."""

    run_id: str
    run_dir: Path
    status: str
    scheduler: Mapping[str, Any] = field(default_factory=dict)

    @property
    def backend(self) -> str | None:
        return self.scheduler.get("backend")

    @property
    def job_id(self) -> str | None:
        job = self.scheduler.get("job_id")
        return str(job) if job else None


@dataclass
class CancelResult:
    """What ``cancel_runs`` did: runs cancelled, runs that had ended already, and runs left running (with why)."""

    cancelled: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    left_running: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.left_running


def plan_cancel(run_dirs: Sequence[Path]) -> tuple[list[CancelTarget], list[str]]:
    """The runs among ``run_dirs`` that have not ended, and the ids of those that have. A run that shares its job
    with others (``runs_per_job``) brings them along: stopping the job stops them all."""
    targets: list[CancelTarget] = []
    ended: list[str] = []
    for run_dir in _with_group_siblings(run_dirs):
        data = read_run_json(run_dir) or {}
        run_id = str(data.get("run_id") or run_dir.name)
        status = str(data.get("status") or "pending")
        if status in TERMINAL_STATES:
            ended.append(run_id)
            continue
        targets.append(CancelTarget(run_id, run_dir, status, dict(data.get("scheduler") or {})))
    return targets, ended


def _with_group_siblings(run_dirs: Sequence[Path]) -> list[Path]:
    """``run_dirs`` and, after each grouped run, the runs of its group (``scheduler.group`` in its ``run.json``; they
    live next to it), each once."""
    out: dict[Path, None] = {}
    for run_dir in run_dirs:
        out[run_dir] = None
        group = ((read_run_json(run_dir) or {}).get("scheduler") or {}).get("group") or ()
        for sibling in group:
            out.setdefault(run_dir.parent / str(sibling), None)
    return [d for d in out if (d / "run.json").is_file() or d in run_dirs]


def cancel_runs(
    targets: Sequence[CancelTarget], *, reason: str = CANCELLED_BY_USER, already_stopped: Collection[str] = ()
) -> CancelResult:
    """Stop every target's job (one call per backend); mark cancelled only the runs whose job stopped.

    Jobs in ``already_stopped`` were stopped by the caller and are not signalled again: a second interrupt can cut
    a local controller short while it stops its task, leaving the task to train on.
    """
    result = CancelResult()
    requested_at = utc_now()
    for target in targets:
        update_run_manifest(target.run_dir, lambda m: m.extra.__setitem__("cancel_requested_at", requested_at))
    left = _stop_jobs(targets, frozenset(already_stopped))
    for target in targets:
        if target.run_id in left:
            update_run_manifest(target.run_dir, _withdraw(requested_at))
            continue
        ended_as: list[str] = []
        update_run_manifest(target.run_dir, _mark_cancelled(reason, ended_as))
        (result.skipped if ended_as else result.cancelled).append(target.run_id)
    result.left_running = left
    return result


def _stop_jobs(targets: Sequence[CancelTarget], already_stopped: frozenset[str]) -> dict[str, str]:
    """Stop the targets' jobs; run id -> why for each run whose job did not stop (the others stopped, or had none)."""
    left: dict[str, str] = {}
    by_backend: dict[type[Backend], list[tuple[CancelTarget, str]]] = {}
    for target in targets:
        if not target.job_id:  # never queued (or the submission failed): nothing runs
            continue
        backend = backend_for(target.scheduler)
        if backend is None:
            left[target.run_id] = f"run.json names backend {target.backend!r}, which this orch does not know"
            continue
        why = backend.unreachable(target.scheduler)
        job_id = backend.job_id(target.scheduler)
        if why or not job_id:
            left[target.run_id] = why or "no job id to cancel"
            continue
        if job_id in already_stopped:
            continue
        by_backend.setdefault(backend, []).append((target, job_id))
    for backend, pairs in by_backend.items():
        # runs of one group (runs_per_job) share a job: each job is signalled once
        report = backend.cancel_jobs(list(dict.fromkeys(job_id for _, job_id in pairs)))
        for target, job_id in pairs:
            if job_id not in report.stopped:
                left[target.run_id] = report.failed.get(job_id, f"{backend.name} did not confirm job {job_id} stopped")
    return left


def _mark_cancelled(reason: str, ended_as: list[str]) -> Callable[[RunManifest], None]:
    def change(m: RunManifest) -> None:
        if m.status == "completed":  # it finished before the cancel landed: it stays completed
            ended_as.append(m.status)
            m.extra.pop("cancel_requested_at", None)
            return
        if m.status != "cancelled" or not m.error:  # the interrupted trainer may have recorded it already
            m.error = reason
        m.status = "cancelled"
        m.ended_at = m.ended_at or utc_now()
        if m.attempts and m.attempts[-1].end is None:
            m.attempts[-1].end = utc_now()
            m.attempts[-1].state = "cancelled"
            m.attempts[-1].reason = reason

    return change


def _withdraw(requested_at: str) -> Callable[[RunManifest], None]:
    """Take back our cancel request (the job was not stopped), unless a later cancel wrote its own."""

    def change(m: RunManifest) -> None:
        if m.extra.get("cancel_requested_at") == requested_at:
            m.extra.pop("cancel_requested_at")

    return change
