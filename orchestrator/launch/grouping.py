"""Which runs of a submission share a job: a cluster profile's ``runs_per_job``.

A small run (a DreamerV3 seed at the sizes our users train) leaves most of a GPU idle, and a cluster's QoS caps the
jobs a user may run at once. With ``runs_per_job: N`` the runs of one submission are cut, in order, into groups of
N; each group is one job (one array task) that trains its runs side by side in one process (``launch.group``).
Only trainers whose light spec says their runs can share a process are grouped (``registry.shares_process``); the
others are refused before anything is written. A study's workers are never grouped (each is its own job).

Light: no submitit, no torch (``orch submit --dry-run`` and the backends' planning import it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.errors import LaunchError
from orchestrator.launch.backend import job_class_of
from orchestrator.launch.clusters import ClusterProfile
from orchestrator.launch.runspec import RunSpec

__all__ = ["check_shareable", "group_members", "job_for", "job_groups"]

GROUP_JOB = "orchestrator.launch.group:GroupJob"


def job_groups(specs: Sequence[RunSpec], runs_per_job: int) -> list[list[RunSpec]]:
    """The runs of each job, in submission order: consecutive groups of ``runs_per_job`` (the last may be smaller);
    a run with a job of its own kind (a study worker) is alone in its job."""
    size = max(1, int(runs_per_job))
    groups: list[list[RunSpec]] = []
    for spec in specs:
        last = groups[-1] if groups else None
        if size > 1 and spec.job_class is None and last and len(last) < size and last[0].job_class is None:
            last.append(spec)
        else:
            groups.append([spec])
    return groups


def group_members(group: Sequence[RunSpec]) -> tuple[str, ...]:
    """What each run's ``run.json`` records of its group (``scheduler.group``): the run ids sharing its job, in the
    order they were planned; empty for a run alone in its job."""
    return tuple(s.run_id for s in group) if len(group) > 1 else ()


def check_shareable(specs: Sequence[RunSpec], profile: ClusterProfile) -> None:
    """Refuse ``runs_per_job`` > 1 for a trainer whose runs cannot share a process (their random state is global,
    so side by side they would draw each other's numbers)."""
    if profile.runs_per_job <= 1:
        return
    from trainers import registry

    for trainer in sorted({s.trainer for s in specs if s.job_class is None}):
        try:
            shares = registry.shares_process(trainer)
        except (ImportError, KeyError):
            shares = False
        if not shares:
            raise LaunchError(
                f"cluster profile {profile.name}: runs_per_job={profile.runs_per_job}, but trainer {trainer!r} cannot "
                "share a process with other runs (it uses process-wide random state); set runs_per_job: 1 in the "
                "profile or pass --set cluster.runs_per_job=1"
            )


def job_for(group: Sequence[RunSpec], profile: ClusterProfile, *, slots: tuple[str, int] | None = None) -> Any:
    """The job of one group: the run's own job for a group of one, else one job that trains them all."""
    if len(group) == 1:
        return job_class_of(group[0]).for_spec(group[0], profile, slots=slots)
    import pkgutil

    return pkgutil.resolve_name(GROUP_JOB).for_specs(list(group), profile, slots=slots)
