"""``orch status``: one row per run from its own files plus one shared scheduler query, and seed groups.

A run's state is its manifest's status, corrected by the scheduler where the manifest cannot know (a job killed
before it could write, a requeued job waiting in the queue). Progress comes from the tail of ``metrics.jsonl``
(``step`` or ``env_steps``, ``total_steps``, ``time``): latest step, rate, ETA, age of the last line. A run that
the scheduler says is RUNNING but whose progress has not moved for longer than
``max(stall_factor x median interval between lines, stall_min_s)`` is STALLED.

Light on purpose: stdlib and orch's own light modules only (no torch, no submitit), so it answers in well under a
second for a thousand runs.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from manifests import ACTIVE_STATES, RESUMABLE_STATES, RUN_STATES, TERMINAL_STATES
from orchestrator.errors import StatusError
from orchestrator.launch.backend import JobState, backend_for
from orchestrator.launch.rundir import iter_run_dirs, newest_submission, read_run_json_checked
from orchestrator.runref import resolve_runs
from orchestrator.sync import unsynced_wandb_files

__all__ = [
    "METRIC_PREFERENCE",
    "GroupRow",
    "Progress",
    "RunRow",
    "StallPolicy",
    "StatusReport",
    "collect_status",
    "effective_status",
    "read_progress",
    "wait_for",
]

STATUS_SCHEMA_VERSION = 1
TAIL_BYTES = 64 * 1024
# Which metric a row shows when none is asked for: the first present, in this order.
METRIC_PREFERENCE = (
    "success_rate",
    "eval_success_rate",
    "eval/success_rate",
    "eval_return",
    "eval/return",
    "ep_return_mean",
    "episode_return",
    "return",
    "reward",
    "loss",
)
_SKIP_KEYS = frozenset({"step", "env_steps", "total_steps", "time", "iteration", "wall_time", "fps"})


@dataclass(frozen=True)
class StallPolicy:
    """A running run is stalled when its last progress is older than max(factor x median interval, min_s)."""

    factor: float = 3.0
    min_s: float = 600.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.factor) or self.factor <= 0:
            raise StatusError(f"--stall-factor must be a positive, finite number, got {self.factor}")
        if not math.isfinite(self.min_s) or self.min_s <= 0:
            raise StatusError(f"--stall-after must be a positive, finite number of minutes, got {self.min_s / 60:g}")

    @classmethod
    def from_minutes(cls, after_min: float, factor: float) -> StallPolicy:
        """The policy of ``--stall-after MIN --stall-factor X``; bad values raise :class:`StatusError` (exit 2)."""
        return cls(factor=factor, min_s=after_min * 60)

    def threshold(self, median_interval_s: float | None) -> float:
        return max(self.factor * (median_interval_s or 0.0), self.min_s)


@dataclass
class Progress:
    """What the tail of metrics.jsonl says."""

    step: int | None = None
    total_steps: int | None = None
    last_time: float | None = None
    median_interval_s: float | None = None
    rate: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


def _tail_records(path: Path, max_lines: int, max_bytes: int = TAIL_BYTES) -> list[dict[str, Any]]:
    """The last ``max_lines`` complete JSON lines of a file (a torn last line is ignored); only those are parsed,
    so a long run's metrics file costs no more than a short one's."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except OSError:
        return []
    lines = data.split(b"\n")[:-1]  # the last piece has no newline yet: torn or empty
    if size > max_bytes and lines:
        lines = lines[1:]  # the first line is probably cut
    records = []
    for line in lines[-max_lines:]:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _step_of(record: dict[str, Any]) -> int | None:
    for key in ("step", "env_steps"):
        value = record.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
    return None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def read_progress(run_dir: Path, *, lines: int = 21) -> Progress:
    """Latest step, total, last line time, median interval, rate and latest metric values of a run, from the last
    ``lines`` lines of its metrics.jsonl."""
    path = run_dir / "metrics.jsonl"
    records = [r for r in _tail_records(path, lines) if _step_of(r) is not None]
    if not records:
        return Progress()
    totals = [r["total_steps"] for r in records if _number(r.get("total_steps"))]
    times = [(float(r["time"]), int(_step_of(r) or 0)) for r in records if _number(r.get("time"))]
    progress = Progress(step=_step_of(records[-1]), total_steps=int(totals[-1]) if totals else None)
    progress.last_time = times[-1][0] if times else _mtime(path)
    progress.median_interval_s, progress.rate = _pace(times)
    for record in records:  # newest value of every numeric metric in the tail
        progress.metrics.update({k: v for k, v in record.items() if k not in _SKIP_KEYS and _number(v)})
    return progress


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _pace(times: Sequence[tuple[float, int]]) -> tuple[float | None, float | None]:
    """(median seconds between lines, steps per second) over the (time, step) pairs of the tail."""
    intervals = [b[0] - a[0] for a, b in itertools.pairwise(times) if b[0] >= a[0]]
    median = statistics.median(intervals) if intervals else None
    if len(times) < 2:
        return median, None
    (t0, s0), (t1, s1) = times[0], times[-1]
    return median, (s1 - s0) / (t1 - t0) if t1 > t0 and s1 >= s0 else None


def _manifest_decides(status: str, manifest: dict[str, Any]) -> bool:
    """The manifest's word is final whatever the scheduler says: the run completed, or it ended inside a job that
    lives on for the other runs of its group (``runs_per_job``)."""
    in_group = bool((manifest.get("scheduler") or {}).get("group"))
    return status == "completed" or (in_group and status in TERMINAL_STATES)


def effective_status(manifest: dict[str, Any], job: JobState | None) -> tuple[str, str | None]:
    """The run's status: its manifest, corrected by the scheduler where the manifest cannot know."""
    status = str(manifest.get("status") or "pending")
    error = manifest.get("error")
    if job is None or _manifest_decides(status, manifest):
        return status, error
    if status == "cancelled" or manifest.get("cancel_requested_at"):
        return ("cancelled", error) if not job.alive or status == "cancelled" else (job.state, error)
    if job.authoritative:
        if job.alive:
            return job.state, None
        if status in TERMINAL_STATES:
            return status, error
        return job.state, job.reason or f"scheduler state {job.raw}"
    # A local process: the manifest knows the phase; a dead process can only mean the run ended.
    if job.alive or status in TERMINAL_STATES:
        return status, error
    return "failed", "the job process ended without recording an outcome (see orch logs)"


@dataclass
class RunRow:
    """One run as ``orch status`` shows it."""

    run_id: str
    status: str
    stalled: bool
    job_id: str | None
    step: int | None
    total_steps: int | None
    name: str = ""
    trainer: str = ""
    seed: int | None = None
    sweep_id: str | None = None
    config_hash: str | None = None
    backend: str | None = None
    scheduler_state: str | None = None
    node: str | None = None
    rate_steps_per_s: float | None = None
    eta_s: float | None = None
    last_progress_age_s: float | None = None
    stall_threshold_s: float | None = None
    metric: str | None = None
    metric_value: float | None = None
    requeue_count: int = 0
    attempts: int = 0
    error: str | None = None
    run_dir: str = ""
    dry_run: bool = False
    resume_command: str | None = None
    wandb_unsynced: int = 0  # offline W&B files not uploaded yet (orch sync)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GroupRow:
    """The seeds of one config (same config hash): mean and spread of the latest metric."""

    name: str
    config_hash: str
    run_ids: list[str]
    statuses: dict[str, int]
    metric: str | None
    n: int
    mean: float | None
    std: float | None
    min: float | None
    max: float | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StatusReport:
    """Every row, the seed groups, and whether the scheduler's part may be stale."""

    runs: list[RunRow]
    groups: list[GroupRow]
    artifact_root: str
    stale: bool = False
    messages: list[str] = field(default_factory=list)
    generated_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": STATUS_SCHEMA_VERSION,
            "artifact_root": self.artifact_root,
            "generated_at": self.generated_at,
            "scheduler": {"stale": self.stale, "messages": self.messages},
            "runs": [r.to_json() for r in self.runs],
            "groups": [g.to_json() for g in self.groups],
        }


def _pick_metric(metrics: dict[str, Any], wanted: str | None) -> tuple[str | None, float | None]:
    if wanted:
        value = metrics.get(wanted)
        return wanted, float(value) if isinstance(value, int | float) else None
    for name in METRIC_PREFERENCE:
        if isinstance(metrics.get(name), int | float):
            return name, float(metrics[name])
    return None, None


def _job_key(sched: dict[str, Any]) -> tuple[str, str] | None:
    """(backend name, job id) of a run's job, when its backend can be asked about it from this machine."""
    backend = backend_for(sched)
    job_id = backend.job_id(sched) if backend is not None else None
    return (backend.name, job_id) if backend is not None and job_id else None


def _scheduler_states(
    root: Path, manifests: Sequence[dict[str, Any]], watcher_factory: Callable[[Path, str], Any] | None
) -> tuple[dict[tuple[str, str], JobState], bool, list[str]]:
    """One query per backend for the jobs of every run that may still change."""
    by_backend: dict[str, set[str]] = {}
    recheck: dict[str, set[str]] = {}
    for data in manifests:
        key = _job_key(data.get("scheduler") or {})
        if key and data.get("status") != "completed":
            by_backend.setdefault(key[0], set()).add(key[1])
            # an active run's job may have come back from a final state (requeued by hand, a node failure): its
            # job is asked about again even when the cache says it finished
            if data.get("status") in ACTIVE_STATES:
                recheck.setdefault(key[0], set()).add(key[1])
    states: dict[tuple[str, str], JobState] = {}
    stale, messages = False, []
    for backend, ids in by_backend.items():
        source = watcher_factory(root, backend) if watcher_factory else _state_source(root, backend)
        result = source.states(ids, recheck=recheck.get(backend, ()))
        states.update({(backend, job_id): state for job_id, state in result.states.items()})
        if result.stale:
            stale = True
            if result.message and result.message not in messages:
                messages.append(result.message)
    return states, stale, messages


def _state_source(root: Path, backend: str) -> Any:
    from orchestrator.launch.backend import backend_class

    return backend_class(backend).state_source(root)


def _alive_running(job: JobState | None) -> bool:
    """The scheduler (or the process table) confirms that the job is running now."""
    return job is not None and job.alive and (job.state == "running" or not job.authoritative)


def _resume_command(
    root: Path, run_id: str, status: str, stalled: bool, dry_run: bool, *, study_trial: bool = False
) -> str | None:
    from orchestrator.resume import resume_hint

    if dry_run or study_trial or not (stalled or status in RESUMABLE_STATES):  # a study's trial: its study resumes it
        return None
    return resume_hint(run_id, root, stalled=stalled)


@dataclass(frozen=True)
class _Pace:
    """How a run moves: steps, seconds since it last moved, the stall threshold, and what that makes of it."""

    step: int | None
    total: int | None
    age: float | None
    threshold: float
    stalled: bool
    eta: float | None


def _progress_age(progress: Progress, attempts: Sequence[dict[str, Any]], now: float) -> float | None:
    """Seconds since the run last moved: its last metrics line, or the start of its newest attempt when that is later
    (progress made by an earlier attempt does not count against a fresh one)."""
    last_start = _parse_time(attempts[-1]["start"]) if attempts and attempts[-1].get("start") else None
    moments = [t for t in (progress.last_time, last_start) if t is not None]
    return now - max(moments) if moments else None


def _pace_of(
    status: str, job: JobState | None, progress: Progress, data: dict[str, Any], now: float, stall: StallPolicy
) -> _Pace:
    recorded = data.get("progress") or {}
    total = progress.total_steps or recorded.get("total_steps")
    step = progress.step if progress.step is not None else recorded.get("step")
    age = _progress_age(progress, data.get("attempts") or [], now)
    threshold = stall.threshold(progress.median_interval_s)
    stalled = status == "running" and _alive_running(job) and age is not None and age > threshold
    eta = None
    if progress.rate and total is not None and step is not None and status == "running":
        eta = max(0.0, (int(total) - int(step)) / progress.rate)
    return _Pace(step, int(total) if total is not None else None, age, threshold, stalled, eta)


def _row(
    root: Path,
    run_dir: Path,
    data: dict[str, Any],
    job: JobState | None,
    now: float,
    stall: StallPolicy,
    metric: str | None,
) -> RunRow:
    status, error = effective_status(data, job)
    # an ended run needs no rate or stall check: its last lines are enough
    progress = read_progress(run_dir, lines=21 if status not in TERMINAL_STATES else 4)
    pace = _pace_of(status, job, progress, data, now, stall)
    name, value = _pick_metric({**(data.get("metrics") or {}), **progress.metrics}, metric)
    run_id = str(data.get("run_id") or run_dir.name)
    sched = data.get("scheduler") or {}
    attempts = data.get("attempts") or []
    dry_run = bool(data.get("dry_run"))
    return RunRow(
        run_id=run_id,
        status=status if status in RUN_STATES else "pending",
        stalled=pace.stalled,
        job_id=str(sched["job_id"]) if sched.get("job_id") else None,
        step=pace.step,
        total_steps=pace.total,
        name=str(data.get("name") or ""),
        trainer=str(data.get("trainer") or ""),
        seed=data.get("seed"),
        sweep_id=data.get("sweep_id"),
        config_hash=data.get("config_hash"),
        backend=sched.get("backend"),
        scheduler_state=job.raw if job else None,
        node=(job.node if job else None) or (attempts[-1].get("node") if attempts else None),
        rate_steps_per_s=progress.rate,
        eta_s=pace.eta,
        last_progress_age_s=pace.age,
        stall_threshold_s=pace.threshold,
        metric=name,
        metric_value=value,
        requeue_count=int(data.get("requeue_count") or 0),
        attempts=len(attempts),
        error=error,
        run_dir=str(run_dir),
        dry_run=dry_run,
        resume_command=_resume_command(root, run_id, status, pace.stalled, dry_run, study_trial="study" in data),
        wandb_unsynced=len(unsynced_wandb_files(run_dir)),
    )


def _parse_time(text: str) -> float | None:
    import datetime as _dt

    try:
        return _dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _groups(rows: list[RunRow]) -> list[GroupRow]:
    """One group per config hash that two or more runs share (the seeds of one config)."""
    buckets: dict[str, list[RunRow]] = {}
    for row in rows:
        if row.config_hash:
            buckets.setdefault(row.config_hash, []).append(row)
    return [_group(config_hash, members) for config_hash, members in buckets.items() if len(members) >= 2]


def _group(config_hash: str, members: list[RunRow]) -> GroupRow:
    """The seeds' states, and the spread of the metric most of them show."""
    names = [m.metric for m in members if m.metric]
    metric = max(set(names), key=names.count) if names else None
    values = [m.metric_value for m in members if m.metric == metric and m.metric_value is not None]
    statuses: dict[str, int] = {}
    for m in members:
        key = "stalled" if m.stalled else m.status
        statuses[key] = statuses.get(key, 0) + 1
    spread: dict[str, float | None] = dict.fromkeys(("mean", "std", "min", "max"))
    if values:
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        spread = {"mean": statistics.fmean(values), "std": std, "min": min(values), "max": max(values)}
    return GroupRow(
        name=members[0].name,
        config_hash=config_hash,
        run_ids=[m.run_id for m in members],
        statuses=statuses,
        metric=metric,
        n=len(values),
        **spread,
    )


def collect_status(
    root: Path,
    ref: str | Sequence[str] | None = None,
    *,
    all_runs: bool = False,
    states: Sequence[str] = (),
    stall: StallPolicy | None = None,
    metric: str | None = None,
    clock: Callable[[], float] = time.time,
    watcher_factory: Callable[[Path, str], Any] | None = None,
) -> StatusReport:
    """Rows for runs named as ``orchestrator.runref`` reads names (a run, a sweep, a path; one or several), the newest
    submission (default) or every run (``all_runs``)."""
    wanted = _wanted_states(states)
    manifests, unreadable = _load_manifests(_run_dirs(root, ref, all_runs))
    job_states, stale, messages = _scheduler_states(root, [m for _, m in manifests], watcher_factory)
    messages = unreadable + messages
    now = clock()
    policy = stall or StallPolicy()
    rows = []
    for run_dir, data in manifests:
        key = _job_key(data.get("scheduler") or {})
        job = job_states.get(key) if key else None
        rows.append(_row(root, run_dir, data, job, now, policy, metric))
    if wanted:
        rows = [r for r in rows if r.status in wanted or ("stalled" in wanted and r.stalled)]
    return StatusReport(rows, _groups(rows), str(root), stale, messages, now)


def _wanted_states(states: Sequence[str]) -> list[str]:
    """``--state`` values, checked: run states, or ``stalled``."""
    wanted = [s.lower() for s in states]
    bad = [s for s in wanted if s not in (*RUN_STATES, "stalled")]
    if bad:
        raise StatusError(f"--state {', '.join(bad)}: not a state; choose from {', '.join((*RUN_STATES, 'stalled'))}")
    return wanted


def _run_dirs(root: Path, ref: str | Sequence[str] | None, all_runs: bool) -> list[Path]:
    if ref is not None:
        return resolve_runs(root, [ref] if isinstance(ref, str) else ref)
    return list(iter_run_dirs(root)) if all_runs else newest_submission(root)


def _load_manifests(dirs: Sequence[Path]) -> tuple[list[tuple[Path, dict[str, Any]]], list[str]]:
    """Every readable run.json, and one message per run that cannot be read (never skipped silently: a run written
    with a strict umask on a shared artifact root must be visible as a problem, not missing)."""
    loaded: list[tuple[Path, dict[str, Any]]] = []
    problems: list[str] = []
    for run_dir in dirs:
        data, problem = read_run_json_checked(run_dir)
        if data is not None:
            loaded.append((run_dir, data))
        elif problem is not None:
            problems.append(f"{run_dir.name}: {problem}")
    return loaded, problems


def wait_for(
    root: Path,
    ref: str,
    *,
    poll_s: float = 5.0,
    timeout_s: float | None = None,
    on_update: Callable[[StatusReport], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> StatusReport:
    """Poll ``collect_status(ref)`` until every run has ended (or ``timeout_s``); the last report is returned.

    Polls quickly at first (short runs end soon) and then every ``poll_s``."""
    deadline = None if timeout_s is None else clock() + timeout_s
    delay = min(0.5, poll_s)
    while True:
        report = collect_status(root, ref)
        if on_update is not None:
            on_update(report)
        if report.runs and all(r.status in TERMINAL_STATES for r in report.runs):
            return report
        if deadline is not None and clock() >= deadline:
            return report
        sleep(delay)
        delay = min(poll_s, delay * 1.5)
