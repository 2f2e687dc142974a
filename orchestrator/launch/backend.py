"""The one interface every way of running jobs implements, and the name -> backend registry.

``submit`` (public) checks its input and calls ``_submit`` (the backend's work); ``states`` answers for many job ids
in one call; ``cancel`` stops jobs. Backends live in sibling modules and are imported only when chosen, so
``orch status`` never pays for submitit.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from orchestrator.errors import LaunchError
from orchestrator.launch.clusters import ClusterProfile
from orchestrator.launch.runspec import RunSpec

__all__ = ["BACKENDS", "Backend", "JobHandle", "JobState", "backend_class", "make_backend"]

# name -> "module:Class", imported on first use.
BACKENDS: dict[str, str] = {
    "local": "orchestrator.launch.local:LocalBackend",
    "slurm": "orchestrator.launch.slurm:SlurmBackend",
    "inprocess": "orchestrator.launch.inprocess:InProcessBackend",
}


@dataclass(frozen=True)
class JobHandle:
    """What a backend answers for one submitted run."""

    run_id: str
    job_id: str
    array_id: str | None = None
    stdout: str | None = None
    stderr: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class JobState:
    """A scheduler's view of one job, in orch's words (``state`` is a run state) plus its own (``raw``).

    ``authoritative`` is true when the backend really knows the job's phase (Slurm); a local backend only knows
    whether the process is alive, so the run's own manifest decides between pending and running.
    """

    job_id: str
    state: str
    raw: str
    node: str | None = None
    start: str | None = None
    end: str | None = None
    exit_code: str | None = None
    reason: str | None = None
    authoritative: bool = True

    @property
    def alive(self) -> bool:
        return self.state in ("pending", "running", "preempted")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobState:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


class Backend(abc.ABC):
    """Runs the jobs of one submission under one cluster profile.

    ``workdir`` holds the backend's own files for this submission (submission scripts, pickles, scheduler logs).
    """

    name: ClassVar[str] = "abstract"

    def __init__(self, profile: ClusterProfile, workdir: Path) -> None:
        self.profile = profile
        self.workdir = Path(workdir)

    def check(self) -> None:
        """Refuse, before any run directory is written, what this backend could not queue (LaunchError)."""
        return None

    def submit(self, specs: Sequence[RunSpec]) -> list[JobHandle]:
        """Queue one job per run (as arrays where the backend has them); answers in the order of ``specs``."""
        self.check()
        if not specs:
            raise LaunchError("nothing to submit: no runs were planned")
        ids = [s.run_id for s in specs]
        if len(set(ids)) != len(ids):
            raise LaunchError("two planned runs share a run id; this is a bug in the planner")
        handles = self._submit(list(specs))
        if len(handles) != len(specs):
            raise LaunchError(f"{self.name} backend returned {len(handles)} jobs for {len(specs)} runs")
        return handles

    @abc.abstractmethod
    def _submit(self, specs: list[RunSpec]) -> list[JobHandle]:
        """Queue the jobs: ``_submit(specs: list[RunSpec]) -> list[JobHandle]`` in the same order."""
        raise NotImplementedError("_submit(specs: list[RunSpec]) -> list[JobHandle]")

    def preview(self, specs: Sequence[RunSpec]) -> str:
        """What would be queued, as text (the batch script where there is one); queues nothing."""
        return f"# {self.name}: {len(specs)} run(s) would start on this machine"

    def array_count(self, n_runs: int) -> int:
        """How many scheduler arrays ``n_runs`` runs become (0 where the backend has no arrays)."""
        return 0

    @classmethod
    def query_states(cls, job_ids: Iterable[str]) -> dict[str, JobState]:
        """States of many jobs in ONE scheduler call; unknown ids are left out. Raises ``OSError`` when the
        scheduler cannot be reached (the watcher turns that into a stale answer)."""
        return {}

    @classmethod
    def cancel_jobs(cls, job_ids: Iterable[str]) -> None:
        """Stop these jobs (already finished ones are ignored)."""
        raise LaunchError(f"the {cls.name} backend cannot cancel jobs")


def backend_class(name: str) -> type[Backend]:
    """The backend class registered under ``name`` (imported now)."""
    try:
        target = BACKENDS[name]
    except KeyError:
        raise LaunchError(f"unknown backend {name!r}; known: {', '.join(sorted(BACKENDS))}") from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def make_backend(profile: ClusterProfile, workdir: Path) -> Backend:
    """The backend named by ``profile.backend``."""
    return backend_class(profile.backend)(profile, workdir)
