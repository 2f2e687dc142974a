"""``orch resume``: put runs back on their backend from their newest complete checkpoint, in the same run directory.

A run can be resumed when it did not complete and nothing still runs it: its backend says its job is neither pending
nor running (asked now, not from a cache) and no trainer holds its run-directory lock. That covers a failed run, a
cancelled one, one that timed out past its requeue limit, and one whose trainer vanished (SIGKILL, a lost node) while
``run.json`` still says running. A job that is alive, or about to be requeued, is refused: two trainers would write
one run directory.

The run goes back on the cluster profile recorded in ``run.json`` (every key as submitted, ``--set cluster.*``
included; secret values, never recorded, come back from the profile's file or this shell), unless ``--cluster``
names another. ``run.json`` keeps its history: the open attempt is closed, the resubmission is appended to
``resumes``, the requeue count starts again, and the job's first act is a new attempt. The trainer continues from its
newest complete checkpoint with its W&B run id.

``--stalled`` restarts the runs ``orch status`` shows STALLED: cancel, wait for the job to be gone, resume.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from manifests import RESUMABLE_STATES, RunManifest, trainer_holding, update_run_manifest, utc_now
from orchestrator.errors import LaunchError
from orchestrator.launch.backend import Backend, JobHandle, backend_class, backend_for
from orchestrator.launch.clusters import ClusterProfile, load_cluster, profile_from_dict
from orchestrator.launch.grouping import check_shareable
from orchestrator.launch.rundir import artifact_root, read_run_json, record_submission
from orchestrator.launch.runspec import RunSpec, utc_stamp
from orchestrator.launch.secrets import REDACTED, redacted_profile

__all__ = ["ResumeResult", "check_not_alive", "restart_stalled", "resume_hint", "resume_runs", "resume_spec"]

JOBS = ".jobs"
_GONE_WAIT_S = 180.0  # after cancelling a stalled run: how long its job may take to end
# A run that recorded its end (failed, cancelled) has a job that may still be winding down (writing its result,
# exiting): resume waits this long for it rather than refusing.
_WIND_DOWN_S = 20.0


@dataclass
class ResumeResult:
    """Runs resubmitted (run id -> job id), runs left alone because something still runs them, runs skipped."""

    resumed: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    clusters: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def resume_hint(run_id: str, root: Path, *, stalled: bool = False) -> str:
    """The exact command that resumes a run (``orch status`` shows it for every run that needs it)."""
    import shlex

    flag = " --stalled" if stalled else ""
    where = "" if Path(root) == artifact_root(None) else f" --artifact-root {shlex.quote(str(root))}"
    return f"orch resume{flag} {run_id}{where}"


# ------------------------------------------------------------------------------------------------ liveness
def check_not_alive(runs: Sequence[tuple[Path, Mapping[str, Any]]]) -> dict[str, str]:
    """Run id -> why it must not be resumed now, for each run something still runs (or might: never guess)."""
    refused: dict[str, str] = {}
    asks: dict[type[Backend], list[tuple[str, str]]] = {}
    for run_dir, data in runs:
        run_id = str(data.get("run_id") or run_dir.name)
        answer = _job_to_ask(run_dir, data)
        if isinstance(answer, str):
            refused[run_id] = answer
        elif answer is not None:
            asks.setdefault(answer[0], []).append((run_id, answer[1]))
    refused.update(_ask_backends(asks))
    return refused


def _job_to_ask(run_dir: Path, data: Mapping[str, Any]) -> str | tuple[type[Backend], str] | None:
    """What decides whether a run is alive: why it is (a trainer holds it) or cannot be told, as a sentence; the
    backend and job id to ask; or None, when it was never queued."""
    holder = trainer_holding(run_dir)
    if holder is not None:
        who = ", ".join(f"{k} {v}" for k, v in holder.items() if v)
        return f"a trainer is running it now ({who})"
    sched = data.get("scheduler") or {}
    if not sched.get("job_id"):
        return None
    backend = backend_for(sched)
    if backend is None:
        return f"run.json names backend {sched.get('backend')!r}, which this orch does not know"
    why = backend.unreachable(sched)
    job_id = backend.job_id(sched)
    if why or not job_id:
        return f"cannot tell whether its job is alive: {why or 'no job id'}"
    return backend, job_id


def _ask_backends(asks: Mapping[type[Backend], list[tuple[str, str]]]) -> dict[str, str]:
    """One question per backend for all its jobs; run id -> why not, for each run whose job is (or may be) alive."""
    refused: dict[str, str] = {}
    for backend, pairs in asks.items():
        try:
            alive = backend.alive([job_id for _, job_id in pairs])
        except OSError as exc:
            for run_id, _ in pairs:
                refused[run_id] = f"cannot ask {backend.name} whether its job is alive ({exc}); try again later"
            continue
        for run_id, job_id in pairs:
            if alive.get(job_id):
                refused[run_id] = (
                    f"its job {job_id} is still pending or running on {backend.name} (it may be waiting to be "
                    "requeued); wait for it, or stop it first with orch cancel"
                )
    return refused


# --------------------------------------------------------------------------------------------- submission
def resume_spec(run_dir: Path, data: Mapping[str, Any]) -> RunSpec:
    """The run as a spec to hand to a backend again: same id, same folder, same resolved config, ``resume``."""
    try:
        resolved = json.loads((run_dir / "resolved.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LaunchError(f"{run_dir}: resolved.json cannot be read ({exc}); only runs started by orch resume") from exc
    extra_entry = data.get("trainer_entry")
    return RunSpec(
        run_id=str(data.get("run_id") or run_dir.name),
        run_dir=run_dir,
        trainer=str(data.get("trainer") or resolved.get("trainer")),
        name=str(data.get("name") or resolved.get("name") or run_dir.name),
        seed=data.get("seed"),
        config_hash=str(data.get("config_hash") or resolved.get("config_hash") or ""),
        resolved=resolved,
        sweep_id=data.get("sweep_id"),
        fingerprint=str(data.get("fingerprint") or ""),
        trainer_entry=dict(extra_entry) if isinstance(extra_entry, Mapping) else {},
        resume=True,
    )


def _recorded_profile(sched: Mapping[str, Any], overrides: Mapping[str, Any], notes: list[str]) -> ClusterProfile:
    """The profile a run was submitted with, as ``run.json`` recorded it (every key, overrides included), with
    ``overrides`` on top. Secret values were never recorded: each comes back from the profile's file as it is now,
    else from this shell's environment; one found in neither is left out (and said so in ``notes``)."""
    recorded = {k: v for k, v in dict(sched.get("profile") or {}).items() if v is not None}
    name = str(sched.get("cluster") or recorded.get("name") or "recorded")
    if not recorded:
        return load_cluster(name, dict(overrides))
    source = recorded.pop("source", None)
    _restore_secrets(recorded, source, name, notes)
    merged = {**recorded, **dict(overrides)}
    return profile_from_dict(merged, source=Path(str(source)) if source else None, default_name=name)


def _restore_secrets(recorded: dict[str, Any], source: Any, name: str, notes: list[str]) -> None:
    """Put back the secret values ``recorded`` shows redacted: from the profile's file as it is now, else from this
    shell's environment; a variable found in neither is dropped (and said so in ``notes``)."""
    hidden_env = [k for k, v in dict(recorded.get("env") or {}).items() if v == REDACTED]
    hidden_setup = any(REDACTED in str(line) for line in recorded.get("setup") or [])
    if not (hidden_env or hidden_setup):
        return
    current = _current_profile(source, name)
    env = dict(recorded.get("env") or {})
    for key in hidden_env:
        value = (current.env.get(key) if current else None) or os.environ.get(key)
        if value is None:
            env.pop(key)
            notes.append(f"{key} is secret and neither the profile file nor this shell has it: the job runs without")
        else:
            env[key] = value
    recorded["env"] = env
    if hidden_setup:
        recorded["setup"] = list(current.setup) if current else []


def _current_profile(source: Any, name: str) -> ClusterProfile | None:
    """The profile's file as it is now (by its recorded path, else by name), or None."""
    for candidate in ([str(source)] if source and Path(str(source)).is_file() else []) + [name]:
        with contextlib.suppress(LaunchError):
            return load_cluster(candidate)
    return None


def _backend_of(
    sched: Mapping[str, Any], cluster: str | None, overrides: Mapping[str, Any], notes: list[str]
) -> tuple[str, Any]:
    """(backend name, profile) a run goes back to: the recorded backend and profile, or ``--cluster``."""
    if cluster:
        profile = load_cluster(cluster, dict(overrides))
        return profile.backend, profile
    name = str(sched.get("backend") or "local")
    if name == "inprocess":  # an `orch run`: it continues in the foreground, here
        return name, profile_from_dict({"backend": "local", "name": "inprocess", **dict(overrides)})
    return name, _recorded_profile(sched, overrides, notes)


def _reopen(run_id: str, expected_job: Any, previous: dict[str, Any], entry: dict[str, Any]) -> Callable:
    """Put ``run.json`` back to pending for a resubmission, unless another resume got there first (compare-and-set
    on the job id checked alive a moment ago)."""

    def change(m: RunManifest) -> None:
        if m.scheduler.get("job_id") != expected_job or m.status == "completed":
            raise _Raced(run_id)
        previous.update(status=m.status, error=m.error, job_id=m.scheduler.get("job_id"), requeues=m.requeue_count)
        if m.attempts and m.attempts[-1].end is None:  # the trainer vanished without closing its attempt
            m.attempts[-1].end = utc_now()
            m.attempts[-1].state = "failed"
            m.attempts[-1].reason = "ended without notice (the trainer is gone); resumed by orch resume"
        m.status, m.error, m.ended_at = "pending", None, None
        m.requeue_count = 0
        m.extra.pop("cancel_requested_at", None)
        m.extra["resumes"] = [*list(m.extra.get("resumes") or []), {**entry, **previous, "at": utc_now()}]

    return change


class _Raced(Exception):
    pass


def resume_runs(
    run_dirs: Sequence[Path],
    *,
    root: Path,
    cluster: str | None = None,
    cluster_overrides: Mapping[str, Any] | None = None,
    reason: str = "orch resume",
    wind_down_s: float = _WIND_DOWN_S,
) -> ResumeResult:
    """Resubmit every run among ``run_dirs`` that needs it and that nothing runs any more."""
    result = ResumeResult()
    candidates = _candidates(run_dirs, result)
    result.refused = check_not_alive(candidates)
    ended = [d for d, data in candidates if data.get("status") in RESUMABLE_STATES]
    winding = [d for d in ended if str((read_run_json(d) or {}).get("run_id", d.name)) in result.refused]
    if winding:  # ended a moment ago: its job may still be winding down; wait a little rather than refuse
        still = set(wait_until_gone(winding, timeout_s=wind_down_s, poll_s=0.5))
        result.refused = {k: v for k, v in result.refused.items() if k in still or k not in _ids(winding)}
    allowed = [(d, data) for d, data in candidates if str(data.get("run_id") or d.name) not in result.refused]
    groups = _by_backend(allowed, cluster, cluster_overrides or {}, result.notes)
    for (backend_name, _), (profile, members) in groups.items():
        _resubmit(root, backend_name, profile, members, reason, result)
    return result


def _candidates(run_dirs: Sequence[Path], result: ResumeResult) -> list[tuple[Path, dict[str, Any]]]:
    """The runs that may need resuming, with their run.json; completed runs and dry runs noted as skipped."""
    candidates: list[tuple[Path, dict[str, Any]]] = []
    for run_dir in run_dirs:
        data = read_run_json(run_dir) or {}
        run_id = str(data.get("run_id") or run_dir.name)
        if data.get("status") == "completed":
            result.skipped[run_id] = "completed"
        elif data.get("dry_run"):
            result.skipped[run_id] = "a dry run (run it again instead)"
        elif isinstance(data.get("study"), dict):  # its study resumes it (a requeued worker, or orch study CONFIG)
            result.skipped[run_id] = f"a trial of study {data['study'].get('name')}: continue it with orch study CONFIG"
        else:
            candidates.append((run_dir, data))
    return candidates


def _by_backend(
    runs: Sequence[tuple[Path, dict[str, Any]]], cluster: str | None, overrides: Mapping[str, Any], notes: list[str]
) -> dict[tuple[str, str], tuple[Any, list[tuple[RunSpec, dict[str, Any]]]]]:
    """The runs grouped by where they go back to (backend and the full profile), so that each group is one
    submission."""
    groups: dict[tuple[str, str], tuple[Any, list[tuple[RunSpec, dict[str, Any]]]]] = {}
    for run_dir, data in runs:
        backend_name, profile = _backend_of(data.get("scheduler") or {}, cluster, overrides, notes)
        key = (backend_name, json.dumps(profile.to_dict(), sort_keys=True, default=str))
        groups.setdefault(key, (profile, []))[1].append((resume_spec(run_dir, data), data))
    return groups


def _resubmit(
    root: Path,
    backend_name: str,
    profile: ClusterProfile,
    members: list[tuple[RunSpec, dict[str, Any]]],
    reason: str,
    result: ResumeResult,
) -> None:
    """One submission (one array where the backend has them) for runs that share a backend and profile."""
    label = members[0][0].sweep_id or members[0][0].run_id
    backend = backend_class(backend_name)(profile, root / JOBS / label / f"resume-{utc_stamp()}")
    backend.check()
    check_shareable([spec for spec, _ in members], profile)  # --set cluster.runs_per_job on a resume too
    ready: list[RunSpec] = []
    for spec, data in members:
        entry = {"by": reason, "backend": backend_name, "cluster": profile.name, "host": socket.gethostname()}
        try:
            update_run_manifest(
                spec.run_dir, _reopen(spec.run_id, (data.get("scheduler") or {}).get("job_id"), {}, entry)
            )
        except _Raced:
            result.refused[spec.run_id] = "another orch resume resubmitted it a moment ago"
            continue
        record_submission(spec.run_dir, _scheduler_fields(backend_name, profile, backend.workdir))
        ready.append(spec)
    if not ready:
        return
    try:
        handles = backend.submit(ready)
    except Exception as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        for spec in ready:
            update_run_manifest(spec.run_dir, _fail(f"resume failed: {why}"))
        if isinstance(exc, LaunchError):
            raise
        raise LaunchError(f"resume failed: {why}") from exc
    _record(ready, handles, result, profile.name)


def _scheduler_fields(backend_name: str, profile: ClusterProfile, workdir: Path) -> dict[str, Any]:
    return {
        "backend": backend_name,
        "cluster": profile.name,
        "profile": redacted_profile(profile),
        "workdir": str(workdir),
        "submit_host": socket.gethostname(),
        "max_requeues": profile.max_requeues,
        "job_id": None,
        "array_id": None,
    }


def _record(ready: list[RunSpec], handles: list[JobHandle], result: ResumeResult, cluster: str) -> None:
    at = utc_now()
    for spec, handle in zip(ready, handles, strict=True):

        def change(m: RunManifest, handle: JobHandle = handle) -> None:
            m.scheduler = {**m.scheduler, **handle.to_dict(), "submitted_at": at}
            resumes = list(m.extra.get("resumes") or [])
            if resumes:
                resumes[-1] = {**resumes[-1], "new_job_id": handle.job_id}
                m.extra["resumes"] = resumes

        update_run_manifest(spec.run_dir, change)
        result.resumed[spec.run_id] = handle.job_id
        result.clusters[spec.run_id] = cluster


def _fail(message: str) -> Callable[[RunManifest], None]:
    def change(m: RunManifest) -> None:
        m.status, m.error, m.ended_at = "failed", message, utc_now()

    return change


def _ids(run_dirs: Sequence[Path]) -> set[str]:
    return {str((read_run_json(d) or {}).get("run_id", d.name)) for d in run_dirs}


# ---------------------------------------------------------------------------------------------- stalled
def wait_until_gone(run_dirs: Sequence[Path], *, timeout_s: float = _GONE_WAIT_S, poll_s: float = 1.0) -> list[str]:
    """Wait until nothing runs these runs any more (after a cancel); the run ids still alive at the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        runs = [(d, read_run_json(d) or {}) for d in run_dirs]
        alive = check_not_alive(runs)
        if not alive or time.monotonic() >= deadline:
            return sorted(alive)
        time.sleep(poll_s)


def restart_stalled(
    root: Path,
    words: Sequence[str] | None,
    *,
    stall: Any = None,
    cluster: str | None = None,
    cluster_overrides: Mapping[str, Any] | None = None,
    gone_timeout_s: float = _GONE_WAIT_S,
) -> ResumeResult:
    """``orch resume --stalled``: the runs ``orch status`` shows STALLED (among ``words``, else every run) are
    cancelled, and once their jobs are gone, resumed. Safe in a cron line: nothing stalled, nothing done."""
    from orchestrator.cancel import cancel_runs, plan_cancel
    from orchestrator.status import collect_status

    report = collect_status(root, list(words) if words else None, all_runs=not words, stall=stall)
    stalled = [Path(row.run_dir) for row in report.runs if row.stalled]
    result = ResumeResult()
    if not stalled:
        return result
    targets, _ = plan_cancel(stalled)
    cancelled = cancel_runs(targets, reason="stalled: restarted by orch resume --stalled")
    result.refused.update({run_id: f"could not stop it: {why}" for run_id, why in cancelled.left_running.items()})
    stopped = [d for d in stalled if (read_run_json(d) or {}).get("run_id", d.name) not in result.refused]
    still = set(wait_until_gone(stopped, timeout_s=gone_timeout_s))
    for run_id in still:
        result.refused[run_id] = "cancelled, but its job has not ended yet; run orch resume on it in a minute"
    ready = [d for d in stopped if str((read_run_json(d) or {}).get("run_id", d.name)) not in still]
    resumed = resume_runs(
        ready, root=root, cluster=cluster, cluster_overrides=cluster_overrides, reason="orch resume --stalled"
    )
    result.resumed.update(resumed.resumed)
    result.refused.update(resumed.refused)
    result.skipped.update(resumed.skipped)
    result.clusters.update(resumed.clusters)
    result.notes += resumed.notes
    return result
