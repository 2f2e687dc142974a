"""The one interface every way of running jobs implements, and the name -> backend registry.

A backend has two sides. The submission side needs a cluster profile: ``submit`` (public) checks its input and calls
``_submit`` (the backend's work), ``preview`` shows what would be queued. The job side needs only job ids, so it is
made of class methods that ``orch status``, ``orch cancel``, ``orch logs`` and ``orch resume`` call with what a
run's ``run.json`` recorded: :meth:`Backend.job_id` (which job to ask about, if this machine can), ``query_states``
(many jobs, one call), :meth:`Backend.state_source` (the same, cached where asking is expensive), ``cancel_jobs``
(a truthful report of what was stopped) and :meth:`Backend.alive` (is the job still pending or running, asked now).
Nothing outside the backend modules knows how a kind of job is found, asked about or stopped.

Backends live in sibling modules and are imported only when chosen, so ``orch status`` never pays for submitit.
"""

from __future__ import annotations

import abc
import pkgutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from manifests import ACTIVE_STATES
from orchestrator.errors import LaunchError
from orchestrator.launch.clusters import ClusterProfile
from orchestrator.launch.runspec import RunSpec

if TYPE_CHECKING:
    from orchestrator.launch.watcher import WatchResult

__all__ = [
    "BACKENDS",
    "Backend",
    "CancelReport",
    "JobHandle",
    "JobState",
    "PartialSubmission",
    "StateSource",
    "backend_class",
    "backend_for",
    "job_alive",
    "job_class_of",
    "make_backend",
]

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
    group: tuple[str, ...] = ()  # the run ids that share this job (``runs_per_job``); empty for a job of one run

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.group:
            data["group"] = list(self.group)
        else:
            data.pop("group")  # run.json of an ungrouped run stays as it was
        return data


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
        return self.state in ACTIVE_STATES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobState:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class CancelReport:
    """What a backend's cancel call did: the jobs it stopped (or found already gone) and, for the others, why not."""

    stopped: frozenset[str] = frozenset()
    failed: Mapping[str, str] = field(default_factory=dict)


class PartialSubmission(LaunchError):
    """The scheduler accepted only part of a submission: ``handles`` are the jobs queued, in the order of the specs
    they belong to (a prefix of them); the rest were never queued."""

    def __init__(self, message: str, handles: list[JobHandle]) -> None:
        super().__init__(message)
        self.handles = handles


class StateSource(Protocol):
    """Answers job states for ``orch status``: ``states(ids, recheck)``; ``recheck`` are ids to ask about again even
    when a cached answer says they finished (their run says it is still pending or running)."""

    def states(self, job_ids: Iterable[str], recheck: Iterable[str] = ()) -> WatchResult: ...


class _DirectStates:
    """A state source without a cache, for backends whose answer costs nothing (the local process table)."""

    def __init__(self, backend: type[Backend]) -> None:
        self.backend = backend

    def states(self, job_ids: Iterable[str], recheck: Iterable[str] = ()) -> WatchResult:
        from orchestrator.launch.watcher import WatchResult

        return WatchResult(self.backend.query_states(job_ids), queried=True)


class Backend(abc.ABC):
    """Runs the jobs of one submission under one cluster profile, and answers about jobs it ran.

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

    # ------------------------------------------------------------------------------------------ job side
    @classmethod
    def job_id(cls, scheduler: Mapping[str, Any]) -> str | None:
        """The id of a run's job (from ``run.json``'s scheduler block) as this backend asks about it; None when the run
        has no job yet, or when this machine cannot reach it (:meth:`unreachable` says why)."""
        job = scheduler.get("job_id")
        return str(job) if job and cls.unreachable(scheduler) is None else None

    @classmethod
    def unreachable(cls, scheduler: Mapping[str, Any]) -> str | None:
        """Why this machine cannot ask about or stop the run's job (None: it can)."""
        return None

    @classmethod
    def query_states(cls, job_ids: Iterable[str]) -> dict[str, JobState]:
        """States of many jobs in ONE scheduler call; unknown ids are left out. Raises ``OSError`` when the
        scheduler cannot be reached (the watcher turns that into a stale answer)."""
        return {}

    @classmethod
    def state_source(cls, root: Path) -> StateSource:
        """Where ``orch status`` gets states from: directly by default; backends whose query is costly cache it."""
        return _DirectStates(cls)

    @classmethod
    def alive(cls, job_ids: Iterable[str]) -> dict[str, bool]:
        """Whether each job is pending, running or waiting to be requeued, asked NOW (no cache): what ``orch resume``
        checks before it puts a run back. Raises ``OSError`` when the scheduler cannot be reached (never guess)."""
        ids = [str(j) for j in job_ids]
        states = cls.query_states(ids)
        return {j: j in states and states[j].alive for j in ids}

    @classmethod
    def cancel_jobs(cls, job_ids: Iterable[str]) -> CancelReport:
        """Stop these jobs; already finished ones count as stopped. Never raises for a job it could not stop: the
        report says which and why, so that only runs whose job really stopped are marked cancelled."""
        ids = [str(j) for j in job_ids]
        return CancelReport(failed={j: f"the {cls.name} backend cannot cancel jobs" for j in ids})


def job_class_of(spec: RunSpec) -> Any:
    """The class of a spec's job: :class:`~orchestrator.launch.entry.RunJob` unless the spec names another
    (``"module:Class"``, e.g. a study's worker); either is built with ``for_spec(spec, profile, slots=...)``."""
    return pkgutil.resolve_name(spec.job_class or "orchestrator.launch.entry:RunJob")


def backend_class(name: str) -> type[Backend]:
    """The backend class registered under ``name`` (imported now)."""
    try:
        target = BACKENDS[name]
    except KeyError:
        raise LaunchError(f"unknown backend {name!r}; known: {', '.join(sorted(BACKENDS))}") from None
    backend: type[Backend] = pkgutil.resolve_name(target)
    return backend


def make_backend(profile: ClusterProfile, workdir: Path) -> Backend:
    """The backend named by ``profile.backend``."""
    return backend_class(profile.backend)(profile, workdir)


def backend_for(scheduler: Mapping[str, Any]) -> type[Backend] | None:
    """The backend class that ran a run (its ``run.json`` scheduler block), or None when it names none we know."""
    name = scheduler.get("backend")
    if not isinstance(name, str) or name not in BACKENDS:
        return None
    return backend_class(name)


def job_alive(scheduler: Mapping[str, Any]) -> bool | None:
    """Whether the job of a run (its ``run.json`` scheduler block) is alive now; None when that cannot be known from
    here (no job, an unknown backend, a process on another machine, a scheduler that does not answer)."""
    backend = backend_for(scheduler)
    job_id = backend.job_id(scheduler) if backend is not None else None
    if backend is None or not job_id:
        return None
    try:
        return backend.alive([job_id]).get(job_id)
    except OSError:
        return None
