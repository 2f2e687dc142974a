"""This machine through submitit's local executor: each run is a background process that outlives ``orch``.

Every run (or group of runs, with the profile's ``runs_per_job``) gets its own submitit controller process (the job
id is its pid). At most ``array_parallelism`` runs of
one submission train at once: each job takes one of that many lock files before training (``RunJob`` slots) and
stays ``pending`` until one is free. Controllers start in their own session so closing the terminal does not
stop them. A local "state" is only "the process is alive or not"; the run's manifest says the rest.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from orchestrator.errors import LaunchError
from orchestrator.launch.backend import Backend, CancelReport, JobHandle, JobState
from orchestrator.launch.grouping import group_members, job_for, job_groups
from orchestrator.launch.runspec import RunSpec
from orchestrator.launch.secrets import REDACTED, is_secret_name
from orchestrator.launch.submitit_private import LOCAL_CONTROLLER_MODULE, detached_local_executor, job_command

__all__ = [
    "LocalBackend",
    "default_parallelism",
    "on_another_host",
    "pid_states",
    "process_alive",
    "signal_processes",
]


def default_parallelism(cpus_per_task: int | None) -> int:
    """Runs that fit on this machine at once: usable CPUs / CPUs per run (at least one)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cpus // max(1, cpus_per_task or 1))


class LocalBackend(Backend):
    """Background processes on this machine, throttled by lock-file slots."""

    name = "local"

    @property
    def parallelism(self) -> int:
        return self.profile.array_parallelism or default_parallelism(self.profile.cpus_per_task)

    def check(self) -> None:
        if self.profile.modules or self.profile.setup:
            raise LaunchError(
                f"cluster profile {self.profile.name}: 'modules' and 'setup' need a cluster; use 'env' for local runs"
            )

    def preview(self, specs: list[RunSpec]) -> str:  # type: ignore[override]
        python = self.profile.python or shlex.quote(sys.executable)
        processes = len(job_groups(specs, self.profile.runs_per_job))
        lines = [
            f"# local: {len(specs)} run(s) in {processes} background process(es) on {socket.gethostname()}, "
            f"at most {self.parallelism} at once",
            f"# each runs: {job_command(python, self.workdir / '<pid>')}",
        ]
        lines += [
            f"export {k}={REDACTED if is_secret_name(k) else shlex.quote(v)}" for k, v in self.profile.env.items()
        ]
        return "\n".join(lines)

    def _submit(self, specs: list[RunSpec]) -> list[JobHandle]:

        slots = (str(self.workdir / "slots"), self.parallelism)
        groups = job_groups(specs, self.profile.runs_per_job)
        submitted = [self._executor().submit(job_for(group, self.profile, slots=slots)) for group in groups]
        return [
            JobHandle(
                run_id=s.run_id,
                job_id=j.job_id,
                stdout=str(j.paths.stdout),
                stderr=str(j.paths.stderr),
                group=group_members(group),
            )
            for group, j in zip(groups, submitted, strict=True)
            for s in group
        ]

    def _executor(self) -> Any:
        """One executor per job: submitit pauses between jobs submitted through one executor (0.2 s each, for a
        scheduler's sake); a fresh one starts its job at once, through the public ``submit``."""
        executor = detached_local_executor(
            self.workdir / "%j",
            python=self.profile.python or shlex.quote(sys.executable),
            max_requeues=self.profile.max_requeues,
            env=self.profile.env,
        )
        executor.update_parameters(timeout_min=self.profile.time_min, signal_delay_s=self.profile.signal_delay_s)
        return executor

    @classmethod
    def unreachable(cls, scheduler: Mapping[str, Any]) -> str | None:
        return on_another_host(scheduler)

    @classmethod
    def query_states(cls, job_ids: Iterable[str]) -> dict[str, JobState]:
        """Alive or not, from /proc (no scheduler to ask). Ids that are not pids are left out."""
        return pid_states(job_ids, _controller_alive)

    @classmethod
    def cancel_jobs(cls, job_ids: Iterable[str]) -> CancelReport:
        """SIGINT to each controller: it stops its task (SIGINT, then SIGKILL) and exits."""
        return signal_processes(job_ids, signal.SIGINT, alive=_controller_alive)


def on_another_host(scheduler: Mapping[str, Any]) -> str | None:
    """A pid names a process only on the machine that started it: say so for a run submitted elsewhere."""
    host = scheduler.get("submit_host")
    if host and host != socket.gethostname():
        return f"its process runs on {host}; run this command there"
    return None


def pid_states(job_ids: Iterable[str], alive: Callable[[int], bool]) -> dict[str, JobState]:
    """States of pid-like job ids (``123`` or ``pid-123``): running while ``alive(pid)``, else ended. Only the run's
    manifest can say how it ended, so these states are not authoritative."""
    states: dict[str, JobState] = {}
    for job_id in (str(j) for j in job_ids):
        number = job_id.removeprefix("pid-")
        if not number.isdigit():
            continue
        running = alive(int(number))
        states[job_id] = JobState(
            job_id,
            "running" if running else "completed",
            "ALIVE" if running else "EXITED",
            node=socket.gethostname(),
            authoritative=False,
        )
    return states


def signal_processes(job_ids: Iterable[str], signum: int, *, alive: Callable[[int], bool]) -> CancelReport:
    """Send ``signum`` to each pid-like job id (``123`` or ``pid-123``) whose process ``alive(pid)``; a process that is
    gone already counts as stopped, one that refuses the signal (another user's) is reported."""
    stopped: set[str] = set()
    failed: dict[str, str] = {}
    for job_id in (str(j) for j in job_ids):
        number = job_id.removeprefix("pid-")
        if not number.isdigit():
            failed[job_id] = f"{job_id!r} is not a process id"
            continue
        if not alive(int(number)):
            stopped.add(job_id)
            continue
        try:
            os.kill(int(number), signum)
        except ProcessLookupError:
            stopped.add(job_id)
        except PermissionError:
            failed[job_id] = f"not allowed to signal process {number} (another user's)"
        else:
            stopped.add(job_id)
    return CancelReport(frozenset(stopped), failed)


def _controller_alive(pid: int) -> bool:
    return process_alive(pid, controller=True)


def process_alive(pid: int, *, controller: bool = False) -> bool:
    """True when ``pid`` is a live (not zombie) process; with ``controller``, a submitit local controller."""
    proc = Path(f"/proc/{pid}")
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else "?"
    return state != "Z" and (not controller or LOCAL_CONTROLLER_MODULE in cmdline)
