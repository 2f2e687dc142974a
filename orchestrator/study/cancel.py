"""``orch cancel STUDY``: stop every worker of a study, then mark its trial runs that were training cancelled.

The workers go first (every job id of every submission in ``study.json``, one backend call each), so that no idle
worker takes a new trial meanwhile; then the trial runs that had not ended are marked through ``orch cancel``'s own
rule (cancelled only when their job is confirmed stopped). The journal is left as it is: its RUNNING trials belong to
workers that are gone, so ``orch study CONFIG`` later fails them, asks their parameters again and continues the study.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.cancel import cancel_runs, plan_cancel
from orchestrator.launch.backend import backend_class
from orchestrator.study.store import read_study, study_runs

__all__ = ["StudyCancel", "cancel_study"]


@dataclass
class StudyCancel:
    """Workers stopped (or already gone), workers that could not be stopped and why, trial runs marked cancelled."""

    name: str
    stopped: list[str] = field(default_factory=list)
    left_running: dict[str, str] = field(default_factory=dict)
    runs_cancelled: list[str] = field(default_factory=list)


def cancel_study(root: Path, folder: Path) -> StudyCancel:
    manifest = read_study(folder)
    result = StudyCancel(str(manifest.get("name") or folder.name))
    for submission in manifest.get("submissions") or ():
        ids = [str(j) for j in submission.get("job_ids") or () if j]
        if not ids:
            continue
        backend = backend_class(str(submission.get("backend") or "local"))
        why = backend.unreachable(submission)
        if why:
            result.left_running.update(dict.fromkeys(ids, why))
            continue
        report = backend.cancel_jobs(ids)
        result.stopped += [j for j in ids if j in report.stopped]
        result.left_running.update(
            {j: report.failed.get(j, "not confirmed stopped") for j in ids if j not in report.stopped}
        )
    targets, _ = plan_cancel(study_runs(root, folder))
    reason = f"cancelled with its study (orch cancel {result.name})"
    runs = cancel_runs(targets, reason=reason, already_stopped=result.stopped)  # the trials' jobs are the workers'
    result.runs_cancelled = runs.cancelled
    result.left_running.update(runs.left_running)
    return result
