"""Run in this process, in the foreground (``orch run``): no scheduler, output on the terminal and in the logs.

The same :class:`~orchestrator.launch.entry.RunJob` as on a cluster, so attempts, logs and resume behave alike. The
job id is ``pid-<pid>`` of the ``orch run`` process: alive while that process lives, stopped as Ctrl-C would.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable, Mapping
from typing import Any

from orchestrator.launch.backend import Backend, CancelReport, JobHandle, JobState
from orchestrator.launch.local import on_another_host, pid_states, process_alive, signal_processes
from orchestrator.launch.rundir import attempt_log_paths
from orchestrator.launch.runspec import RunSpec

__all__ = ["InProcessBackend", "run_in_process"]


def run_in_process(
    run_dir: str,
    *,
    resume: bool = False,
    dry_run: bool = False,
    max_requeues: int = 1000,
    torch_threads: int | None = None,
    echo: bool = True,
) -> str:
    """Run (or resume) one run directory here and now; the trainer's exception propagates. Its output goes to the
    attempt's logs, and with ``echo`` to this terminal as well."""
    from orchestrator.launch.entry import RunJob  # submitit's helpers: not for orch status

    job = RunJob(
        str(run_dir), max_requeues=max_requeues, resume=resume, dry_run=dry_run, tee=echo, torch_threads=torch_threads
    )
    return job()


class InProcessBackend(Backend):
    """One run after the other, in this process."""

    name = "inprocess"

    def preview(self, specs: list[RunSpec]) -> str:  # type: ignore[override]
        return f"# inprocess: {len(specs)} run(s) in this process, one after the other"

    def _submit(self, specs: list[RunSpec]) -> list[JobHandle]:
        handles = []
        for spec in specs:
            run_in_process(str(spec.run_dir), resume=spec.resume, dry_run=bool(spec.resolved.get("dry_run", False)))
            out, err = attempt_log_paths(spec.run_dir, 1)
            handles.append(JobHandle(spec.run_id, f"pid-{os.getpid()}", stdout=str(out), stderr=str(err)))
        return handles

    @classmethod
    def unreachable(cls, scheduler: Mapping[str, Any]) -> str | None:
        return on_another_host(scheduler)

    @classmethod
    def query_states(cls, job_ids: Iterable[str]) -> dict[str, JobState]:
        """Whether each ``orch run`` process is alive, from /proc. This process asking about its own pid means the
        run it started here has returned (a notebook, a test, ``orch run`` then ``--resume`` in one session)."""
        return pid_states(job_ids, lambda pid: pid != os.getpid() and process_alive(pid))

    @classmethod
    def cancel_jobs(cls, job_ids: Iterable[str]) -> CancelReport:
        """An ``orch run`` in another terminal: interrupt it as Ctrl-C would (the run records itself cancelled)."""
        return signal_processes(job_ids, signal.SIGINT, alive=process_alive)
