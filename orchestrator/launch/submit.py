"""``orch submit`` and ``orch run``: resolve everything, create run directories, hand the jobs to a backend.

Order matters: the cluster profile and EVERY (config x grid point) are validated and resolved before anything is
written, so an invalid submission queues nothing; then duplicates are refused (same resolved config, seed and
code as a run that did not fail) unless ``force``; then each run directory is created (status pending) and only
then are the jobs queued, one array per submission.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

from manifests import RESUMABLE_STATES, RunManifest, update_run_manifest, utc_now
from orchestrator.errors import ConfigError, ConfigIssue, LaunchError, RunFailed
from orchestrator.extras import require_extra
from orchestrator.launch.backend import JobHandle, PartialSubmission, make_backend
from orchestrator.launch.clusters import ClusterProfile, load_cluster, split_cluster_overrides
from orchestrator.launch.grouping import check_shareable
from orchestrator.launch.rundir import (
    RUNS,
    Provenance,
    artifact_root,
    attempt_log_paths,
    create_run_dir,
    find_duplicates,
    record_submission,
)
from orchestrator.launch.runspec import RunSpec, fingerprint, make_run_id, make_sweep_id
from orchestrator.launch.secrets import redact_overrides, redacted_profile
from orchestrator.launch.sweep import GridPoint, expand_grid, grid_overrides, load_sweep_file, parse_grid_option

__all__ = ["RunOutcome", "SubmitResult", "plan_runs", "resume_run", "run_one", "submit"]

Resolver = Callable[..., Any]
JOBS = ".jobs"


def _default_resolver() -> Resolver:
    try:
        from orchestrator.config import resolve_config
    except ImportError as exc:  # pragma: no cover - only while the config layer is missing
        raise LaunchError(f"config resolution is not available in this install ({exc})") from None
    return resolve_config


def _document(resolved: Any, seed: int | None) -> dict[str, Any]:
    """The resolved document of one run (``ResolvedConfig.for_seed``)."""
    if seed is not None:
        return dict(resolved.for_seed(seed))
    doc = resolved.to_json()
    doc = json.loads(doc) if isinstance(doc, str) else dict(doc)
    doc["seed"] = None
    return doc


def _run_seeds(resolved: Any) -> tuple[int, ...]:
    """Each run's seed: listed, or drawn per run where the config sets ``randomize_seeds`` (``ResolvedConfig``)."""
    draw = getattr(resolved, "run_seeds", None)
    return tuple(draw()) if callable(draw) else tuple(resolved.seeds)


def _trainer_entry(trainer: str) -> dict[str, str]:
    from trainers.registry import get_trainer

    try:
        entry = get_trainer(trainer)
    except KeyError as exc:
        raise LaunchError(str(exc).strip("'\"")) from None
    return {"spec_module": entry.spec_module, "entry_point": entry.entry_point}


MAX_SEED = 2**32 - 1  # numpy's and SB3's seeds are unsigned 32-bit


def check_seed(seed: int | None) -> None:
    """``--seed``: a whole number the RNGs take (0 .. 2**32-1), checked before anything is written."""
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise LaunchError(f"--seed must be between 0 and {MAX_SEED}, got {seed}")


class _Resolved(NamedTuple):
    """One config at one grid point, resolved: the file, the point, the overrides that made it, the result."""

    path: Path
    point: GridPoint
    overrides: tuple[str, ...]
    config: Any


def _resolve_all(
    configs: Sequence[Path], points: Sequence[GridPoint], overrides: Sequence[str], *, strict: bool, resolve: Resolver
) -> tuple[list[_Resolved], list[str]]:
    """Every config at every grid point, resolved; every issue of every one raised together (and each once)."""
    issues: list[ConfigIssue] = []
    resolved: list[_Resolved] = []
    warnings: list[str] = []
    for path, point in ((Path(c), p) for c in configs for p in points or [{}]):
        extra = tuple(overrides) + tuple(grid_overrides(point))
        try:
            config = resolve(path, overrides=list(extra), strict=strict)
        except ConfigError as exc:
            issues.extend(i for i in exc.issues if i.format() not in {j.format() for j in issues})
            continue
        resolved.append(_Resolved(path, point, extra, config))
        warnings.extend(w for w in getattr(config, "warnings", ()) if w not in warnings)
    if issues:
        raise ConfigError(issues)
    return resolved, warnings


def _seeds(config: Any, seed: int | None, first_seed_only: bool) -> list[int | None]:
    """The seeds to run: ``--seed``, else the config's (the first only, for ``orch run``), else one without."""
    if seed is not None:
        return [seed]
    seeds: list[int | None] = list(_run_seeds(config)) or [None]
    return seeds[:1] if first_seed_only else seeds


def _free_run_id(run_id: str, root: Path, taken: set[str]) -> str:
    """``run_id``, or ``run_id-rN`` when this submission or an earlier run has it already."""
    candidate, counter = run_id, 2
    while candidate in taken or (root / RUNS / candidate).exists():
        candidate, counter = f"{run_id}-r{counter}", counter + 1
    taken.add(candidate)
    return candidate


def plan_runs(
    configs: Sequence[Path],
    *,
    root: Path,
    overrides: Sequence[str] = (),
    points: Sequence[GridPoint] = ({},),
    seed: int | None = None,
    first_seed_only: bool = False,
    strict: bool = False,
    resolver: Resolver | None = None,
    provenance: Provenance | None = None,
) -> tuple[list[RunSpec], list[str]]:
    """Resolve every config at every grid point and fan out over seeds. Raises one ConfigError with every issue."""
    check_seed(seed)
    resolved, warnings = _resolve_all(
        configs, points, overrides, strict=strict, resolve=resolver or _default_resolver()
    )
    sweep_id = make_sweep_id([r.config.name for r in resolved], [r.config.config_hash for r in resolved])
    code = dict(provenance.code) if provenance else {}
    diff_sha = provenance.diff_sha256 if provenance else None
    specs: list[RunSpec] = []
    taken: set[str] = set()
    for path, point, extra, rc in resolved:
        entry = _trainer_entry(rc.trainer)
        for one in _seeds(rc, seed, first_seed_only):
            run_id = _free_run_id(make_run_id(rc.name, rc.config_hash, one), root, taken)
            specs.append(
                RunSpec(
                    run_id=run_id,
                    run_dir=root / RUNS / run_id,
                    trainer=rc.trainer,
                    name=rc.name,
                    seed=one,
                    config_hash=rc.config_hash,
                    resolved=_document(rc, one),
                    config_path=path.absolute(),
                    grid_point=dict(point),
                    overrides=extra,
                    sweep_id=sweep_id,
                    fingerprint=fingerprint(rc.config_hash, one, code, diff_sha),
                    trainer_entry=entry,
                )
            )
    return specs, warnings


@dataclass
class SubmitResult:
    """What ``orch submit`` did (or, with dry_run, would do)."""

    sweep_id: str
    backend: str
    cluster: str
    artifact_root: Path
    runs: list[dict[str, Any]] = field(default_factory=list)
    arrays: int = 0
    dry_run: bool = False
    script: str | None = None
    resolved: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def next_commands(self) -> list[str]:
        if self.dry_run or not self.runs:
            return []
        import shlex

        root = (
            ""
            if self.artifact_root == artifact_root(None)
            else f" --artifact-root {shlex.quote(str(self.artifact_root))}"
        )
        return [
            f"orch status {self.sweep_id}{root}",
            f"orch logs {self.runs[0]['run_id']} -f{root}",
            f"orch cancel {self.sweep_id}{root}",
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "sweep_id": self.sweep_id,
            "backend": self.backend,
            "cluster": self.cluster,
            "artifact_root": str(self.artifact_root),
            "arrays": self.arrays,
            "dry_run": self.dry_run,
            "runs": self.runs,
            "script": self.script,
            "resolved": self.resolved,
            "warnings": self.warnings,
            "next": self.next_commands(),
        }


def grid_points(grid: Sequence[str] = (), sweep_file: Path | None = None) -> list[GridPoint]:
    """The grid points of ``--grid`` or ``--sweep`` (not both)."""
    if grid and sweep_file:
        raise LaunchError("use --grid or --sweep, not both")
    if sweep_file:
        return load_sweep_file(sweep_file)
    return expand_grid(parse_grid_option(grid)) if grid else [{}]


def submit(
    configs: Sequence[Path],
    *,
    cluster: str | None = None,
    overrides: Sequence[str] = (),
    grid: Sequence[str] = (),
    sweep_file: Path | None = None,
    dry_run: bool = False,
    force: bool = False,
    root: Path | str | None = None,
    strict: bool = False,
    resolver: Resolver | None = None,
    profile: ClusterProfile | None = None,
) -> SubmitResult:
    """Validate and resolve everything, then create the run directories and queue one array."""
    if not configs:
        raise LaunchError("no config given: orch submit CONFIG... ")
    config_overrides, cluster_overrides = split_cluster_overrides(overrides)
    profile = profile or load_cluster(cluster, cluster_overrides)
    points = grid_points(grid, sweep_file)
    base = artifact_root(root)
    provenance = Provenance.collect()
    specs, warnings = plan_runs(
        configs,
        root=base,
        overrides=config_overrides,
        points=points,
        strict=strict,
        resolver=resolver,
        provenance=provenance,
    )
    sweep_id = specs[0].sweep_id or "sweep"
    backend = make_backend(profile, base / JOBS / sweep_id)
    backend.check()
    if profile.backend == "local" and profile.python is None and not dry_run:  # the jobs train here, with this python
        require_extra("train", f"orch submit to the {profile.name} profile")
    result = SubmitResult(sweep_id, profile.backend, profile.name, base, dry_run=dry_run, warnings=warnings)
    check_shareable(specs, profile)
    result.arrays = backend.array_count(len(specs))
    if dry_run:
        result.script = backend.preview(specs)
        result.resolved = [dict(s.resolved) for s in specs]
        result.runs = [_run_row(s) for s in specs]
        return result
    if not force:
        _refuse_duplicates(base, specs)
    scheduler = _scheduler_record(profile, cluster_overrides, backend.workdir)
    # Threads: writing a run directory is mostly waiting for fsync, and a grid has many of them.
    _each(specs, lambda spec: create_run_dir(spec, provenance, scheduler=scheduler))
    handles = _queue(backend, specs, base)
    result.runs = [_run_row(spec, handle) for spec, handle in _record_handles(specs, handles)]
    return result


def _run_row(spec: RunSpec, handle: JobHandle | None = None) -> dict[str, Any]:
    """One run of ``SubmitResult.runs``: where it is, and once queued its job and logs."""
    row = {"run_id": spec.run_id, "run_dir": str(spec.run_dir), "seed": spec.seed, "grid_point": dict(spec.grid_point)}
    if handle is not None:
        log = str(attempt_log_paths(spec.run_dir, 1)[0])
        row.update(job_id=handle.job_id, log=log, stdout=handle.stdout, stderr=handle.stderr)
    return row


def _refuse_duplicates(root: Path, specs: Sequence[RunSpec]) -> None:
    """Runs identical to earlier ones (resolved config, seed, code) that did not end badly are refused, unless
    ``--force``."""
    dupes = find_duplicates(root, {s.run_id: s.fingerprint for s in specs})
    if dupes:
        listed = "; ".join(f"{rid} ({status})" for rid, status in dupes.values())
        raise LaunchError(
            f"{len(dupes)} of these runs were submitted already with the same resolved config, seed and code: "
            f"{listed}; pass --force to run them again"
        )


def _scheduler_record(profile: ClusterProfile, cluster_overrides: Mapping[str, Any], workdir: Path) -> dict[str, Any]:
    """What ``run.json`` keeps of where the runs were sent (secrets redacted), so status, cancel and resume find it."""
    return {
        "backend": profile.backend,
        "cluster": profile.name,
        "profile": redacted_profile(profile),
        "cluster_overrides": redact_overrides(cluster_overrides),
        "workdir": str(workdir),
        "submit_host": socket.gethostname(),
        "max_requeues": profile.max_requeues,
    }


def _queue(backend: Any, specs: Sequence[RunSpec], root: Path) -> list[JobHandle]:
    """Hand the runs to the backend. A refused submission marks every run failed; a partly accepted one keeps the
    queued runs and fails only the others (each raises the one-line error that says so)."""
    try:
        handles: list[JobHandle] = backend.submit(specs)
    except PartialSubmission as exc:
        _record_handles(specs, exc.handles)
        _partial_failure(specs, exc, specs[0].sweep_id or "sweep", root)
    except Exception as exc:
        message = f"submission failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        for spec in specs:
            update_run_manifest(spec.run_dir, _fail_with(message))
        if isinstance(exc, LaunchError):
            raise
        raise LaunchError(message) from exc
    return handles


def _record_handles(specs: Sequence[RunSpec], handles: Sequence[JobHandle]) -> list[tuple[RunSpec, JobHandle]]:
    """Write each queued job's id and logs into its run's ``run.json`` (handles answer a prefix of ``specs``)."""
    submitted_at = utc_now()
    pairs = list(zip(specs, handles, strict=False))
    _each(pairs, lambda pair: record_submission(pair[0].run_dir, {**pair[1].to_dict(), "submitted_at": submitted_at}))
    return pairs


def _partial_failure(specs: Sequence[RunSpec], exc: PartialSubmission, sweep_id: str, root: Path) -> NoReturn:
    """The scheduler took the first arrays and refused one: those queued keep training (their job ids are in their
    run.json, so status and cancel reach them); only the runs never queued are marked failed. Raises the one-line
    error that says both and how to go on."""
    unqueued = list(specs)[len(exc.handles) :]
    for spec in unqueued:
        update_run_manifest(spec.run_dir, _fail_with(f"not queued: {exc}"))
    root_opt = "" if root == artifact_root(None) else f" --artifact-root {root}"
    raise LaunchError(
        f"{exc}; {len(exc.handles)} run(s) of sweep {sweep_id} are queued (orch status {sweep_id}{root_opt}, "
        f"orch cancel {sweep_id}{root_opt} stops them); {len(unqueued)} run(s) were not queued and are marked failed "
        f"(orch resume {sweep_id}{root_opt} submits them)"
    ) from exc


def _each(items: Sequence[Any], work: Callable[[Any], Any]) -> None:
    """Run ``work`` on every item in a few threads (I/O bound); the first error is raised."""
    if len(items) < 4:
        for item in items:
            work(item)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(16, len(items))) as pool:
        for _ in pool.map(work, items):
            pass


def _fail_with(message: str) -> Callable[[RunManifest], None]:
    def change(m: RunManifest) -> None:
        m.status, m.error, m.ended_at = "failed", message, utc_now()

    return change


@dataclass
class RunOutcome:
    """How an in-process run ended."""

    run_id: str
    run_dir: Path
    status: str
    error: str | None = None
    dry_run: bool = False


def _outcome(run_dir: Path, dry_run: bool) -> RunOutcome:
    from manifests import load_run_manifest

    manifest = load_run_manifest(run_dir, validate=False)
    return RunOutcome(manifest.run_id, run_dir, manifest.status, manifest.error, dry_run)


def _run_here(
    run_dir: Path, *, resume: bool, dry_run: bool, torch_threads: int | None = None, echo: bool = True
) -> RunOutcome:
    """Run (or resume) ``run_dir`` in this process. The job records how the run ended in its ``run.json`` (the one
    place a failure is recorded); a run that did not complete is raised as :class:`RunFailed` (exit code 3)."""
    from orchestrator.launch.inprocess import run_in_process

    try:
        run_in_process(str(run_dir), resume=resume, dry_run=dry_run, torch_threads=torch_threads, echo=echo)
    except Exception as exc:
        outcome = _outcome(run_dir, dry_run)
        if outcome.status not in RESUMABLE_STATES:
            raise  # the job could not start the run (a lock, a requeue limit): that error says why
        raise RunFailed(outcome.error or f"the run {outcome.status}", outcome=outcome) from exc
    outcome = _outcome(run_dir, dry_run)
    if outcome.status != "completed":
        raise RunFailed(outcome.error or "the run did not complete", outcome=outcome)
    return outcome


def run_one(
    config: Path,
    *,
    overrides: Sequence[str] = (),
    seed: int | None = None,
    root: Path | str | None = None,
    dry_run: bool = False,
    strict: bool = False,
    resolver: Resolver | None = None,
    torch_threads: int | None = None,
    echo: bool = True,
) -> RunOutcome:
    """``orch run``: one run (the first seed unless ``seed``) in this process. A dry run lives in a temporary
    artifact root, never the real one, and its manifests say ``dry_run``. A run that does not complete raises
    :class:`RunFailed`. ``torch_threads`` caps torch's threads for the run (the gate's tiny runs); without ``echo``
    the run's output goes to its logs only."""
    from orchestrator.launch.clusters import profile_from_dict

    check_seed(seed)
    config_overrides, cluster_overrides = split_cluster_overrides(overrides)
    if cluster_overrides:
        raise LaunchError("--set cluster.KEY=VALUE applies to orch submit, not orch run")
    require_extra("train", "orch run")
    base = Path(tempfile.mkdtemp(prefix="orch-dry-run-")) if dry_run else artifact_root(root)
    provenance = Provenance.collect()
    specs, _ = plan_runs(
        [config],
        root=base,
        overrides=config_overrides,
        seed=seed,
        first_seed_only=True,
        strict=strict,
        resolver=resolver,
        provenance=provenance,
    )
    spec = specs[0]
    profile = profile_from_dict({"backend": "local", "name": "inprocess"})
    scheduler = {
        "backend": "inprocess",
        "cluster": profile.name,
        "submit_host": socket.gethostname(),
        "job_id": f"pid-{os.getpid()}",
    }
    create_run_dir(spec, provenance, scheduler=scheduler, dry_run=dry_run)
    return _run_here(spec.run_dir, resume=False, dry_run=dry_run, torch_threads=torch_threads, echo=echo)


def resume_run(run_dir: Path) -> RunOutcome:
    """``orch run --resume RUN_DIR``: continue a run here, in the foreground, from its newest complete checkpoint.
    Refused while anything still runs it (its job pending, running or about to be requeued; a trainer on it)."""
    from manifests import load_run_manifest
    from orchestrator.resume import check_not_alive

    run_dir = Path(run_dir).absolute()
    if not (run_dir / "run.json").is_file() or not (run_dir / "resolved.json").is_file():
        raise LaunchError(f"{run_dir} is not a run directory (run.json and resolved.json are needed)")
    require_extra("train", "orch run --resume")
    manifest = load_run_manifest(run_dir, validate=False)
    if manifest.status == "completed":
        raise LaunchError(f"run {manifest.run_id} is completed already; nothing to resume")
    refused = check_not_alive([(run_dir, manifest.to_dict())])
    if refused:
        raise LaunchError(f"run {manifest.run_id} is not resumed: {refused[manifest.run_id]}")
    update_run_manifest(run_dir, lambda m: m.extra.__setitem__("resumed_by", "orch run --resume"))
    return _run_here(run_dir, resume=True, dry_run=manifest.dry_run)
