"""Run in this process, in the foreground (``orch run``): no scheduler, output on the terminal and in the logs.

The same :class:`~orchestrator.launch.entry.RunJob` as on a cluster, so attempts, logs and resume behave alike.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from orchestrator.launch.backend import Backend, JobHandle, JobState
from orchestrator.launch.entry import RunJob
from orchestrator.launch.rundir import attempt_log_paths
from orchestrator.launch.runspec import RunSpec

__all__ = ["InProcessBackend", "run_in_process"]


def run_in_process(run_dir: str, *, resume: bool = False, dry_run: bool = False, max_requeues: int = 1000) -> str:
    """Run (or resume) one run directory here and now; the trainer's exception propagates."""
    job = RunJob(str(run_dir), max_requeues=max_requeues, resume=resume, dry_run=dry_run, tee=True)
    return job()


class InProcessBackend(Backend):
    """One run after the other, in this process."""

    name = "inprocess"

    def preview(self, specs: list[RunSpec]) -> str:  # type: ignore[override]
        return f"# inprocess: {len(specs)} run(s) in this process, one after the other"

    def _submit(self, specs: list[RunSpec]) -> list[JobHandle]:
        handles = []
        for spec in specs:
            run_in_process(str(spec.run_dir), dry_run=bool(spec.resolved.get("dry_run", False)))
            out, err = attempt_log_paths(spec.run_dir, 1)
            handles.append(JobHandle(spec.run_id, f"pid-{os.getpid()}", stdout=str(out), stderr=str(err)))
        return handles

    @classmethod
    def query_states(cls, job_ids: Iterable[str]) -> dict[str, JobState]:
        return {}
