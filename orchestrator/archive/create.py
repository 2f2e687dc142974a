"""``orch archive RUN...``: write one checksummed ``.tar.zst`` per run, its manifest beside it, and record it.

Output for a run directory ``<run_id>`` in ``DEST``::

    <run_id>.tar.zst           members <run_id>/..., then ORCH_ARCHIVE.json (the archive manifest)
    <run_id>.manifest.json     the same manifest plus the archive's own sha256 and size
    <run_id>.tar.zst.sha256    the archive's sha256 in ``sha256sum -c`` format

A running (or pending) run is refused unless ``allow_running``; then every file is captured whole or left out with
the reason, and a checkpoint is taken only when its bytes match its sidecar.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from manifests import (
    ACTIVE_STATES,
    ArchivedFile,
    ArchiveManifest,
    ArchiveRecord,
    LeftOutFile,
    ManifestError,
    RunManifest,
    atomic_path,
    atomic_write_text,
    load_run_manifest,
    save_archive_manifest,
    update_run_manifest,
)
from manifests.archive import ARCHIVE_MANIFEST_MEMBER
from orchestrator.archive.select import CheckpointPair, RunPlan, plan_run
from orchestrator.archive.writer import FileChanged, TarZstWriter
from orchestrator.errors import ArchiveError

__all__ = [
    "ArchiveOptions",
    "ArchiveProgress",
    "ArchiveResult",
    "archive_paths",
    "archive_run",
    "archive_runs",
    "write_archive",
]

ARCHIVE_SUFFIX = ".tar.zst"


class ArchiveProgress(Protocol):
    """What the CLI's progress bar implements; domain code never prints."""

    def start(self, label: str, total: int) -> None: ...
    def advance(self, n: int) -> None: ...
    def finish(self) -> None: ...


@dataclass(frozen=True)
class ArchiveOptions:
    """The knobs of ``orch archive``."""

    dest: Path
    checkpoints: str = "all"
    include_wandb: bool = False
    level: int = 3
    allow_running: bool = False
    threads: int = 0  # zstd workers; 0 = one per core


@dataclass
class ArchiveResult:
    """One archive written."""

    run_id: str
    run_dir: Path
    archive: Path
    manifest_path: Path
    sha256: str
    size: int
    files: int
    total_size: int
    left_out: list[LeftOutFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (paths as strings)."""
        out = {k: str(v) if isinstance(v, Path) else v for k, v in self.__dict__.items()}
        out["left_out"] = [x.to_dict() for x in self.left_out]
        return out


def archive_paths(dest: Path, root: str) -> tuple[Path, Path, Path]:
    """(archive, beside manifest, sha256 file) of run directory name ``root`` in ``dest``."""
    return dest / f"{root}{ARCHIVE_SUFFIX}", dest / f"{root}.manifest.json", dest / f"{root}{ARCHIVE_SUFFIX}.sha256"


def _load(run_dir: Path) -> RunManifest:
    try:
        return load_run_manifest(run_dir, validate=False)
    except (ManifestError, TypeError) as exc:
        raise ArchiveError(f"{run_dir}: run.json cannot be read ({exc}); fix or remove it") from exc


def _preflight(run_dir: Path, options: ArchiveOptions) -> RunManifest:
    manifest = _load(run_dir)
    if manifest.status in ACTIVE_STATES and not options.allow_running:
        raise ArchiveError(
            f"{run_dir.name} is {manifest.status}: wait until it ends, or pass --allow-running "
            "(takes only complete checkpoints)"
        )
    dest = options.dest.resolve()
    if dest == run_dir.resolve() or run_dir.resolve() in dest.parents:
        raise ArchiveError(f"--dest {options.dest} is inside run directory {run_dir}; choose a folder outside it")
    archive, _, _ = archive_paths(options.dest, run_dir.name)
    if archive.exists():
        raise ArchiveError(f"{archive} already exists; choose another --dest or remove the old archive")
    return manifest


def archive_runs(
    run_dirs: list[Path], options: ArchiveOptions, progress: ArchiveProgress | None = None
) -> list[ArchiveResult]:
    """Archive every run; all are checked (readable, not running, no archive yet) before the first is written."""
    for run_dir in run_dirs:
        _preflight(run_dir, options)
    return [archive_run(run_dir, options, progress) for run_dir in run_dirs]


def archive_run(run_dir: Path, options: ArchiveOptions, progress: ArchiveProgress | None = None) -> ArchiveResult:
    """Write the archive of one run directory and record it in the run's ``run.json``."""
    started = time.monotonic()
    run = _preflight(run_dir, options)
    root = run_dir.name
    archive, _, _ = archive_paths(options.dest, root)
    plan = plan_run(run_dir, checkpoints=options.checkpoints, include_wandb=options.include_wandb)
    manifest = ArchiveManifest(
        run_id=run.run_id,
        root=root,
        source=str(run_dir.resolve()),
        trainer=run.trainer,
        name=run.name,
        status=run.status,
        sweep_id=run.sweep_id,
        best_metric=best_metric(run, run_dir),
        checkpoints_mode=options.checkpoints,
        include_wandb=options.include_wandb,
        captured_while_running=run.status in ACTIVE_STATES,
        archive_name=archive.name,
    )
    result = write_archive(plan, manifest, options, progress)
    record = ArchiveRecord(path=str(result.archive.resolve()), sha256=result.sha256)
    try:
        update_run_manifest(run_dir, lambda m: m.archives.append(record))
    except (ManifestError, OSError) as exc:
        result.warnings.append(f"{run_dir}/run.json was not updated with the archive record: {exc}")
    result.seconds = time.monotonic() - started
    return result


def write_archive(
    plan: RunPlan, manifest: ArchiveManifest, options: ArchiveOptions, progress: ArchiveProgress | None = None
) -> ArchiveResult:
    """Write ``plan`` as ``<dest>/<manifest.root>.tar.zst`` (members under ``manifest.root/``, the manifest last),
    the manifest beside it and the sha256 file: the one writer behind every archive (a run's, a study's)."""
    started = time.monotonic()
    options.dest.mkdir(parents=True, exist_ok=True)
    archive, manifest_path, sha_path = archive_paths(options.dest, manifest.root)
    sha, size = _write_archive(archive, plan, manifest, options, progress)
    beside = dataclasses.replace(manifest, archive_sha256=sha, archive_size=size)
    save_archive_manifest(manifest_path, beside)
    atomic_write_text(sha_path, f"{sha}  {archive.name}\n")
    return ArchiveResult(
        run_id=manifest.run_id,
        run_dir=plan.run_dir,
        archive=archive,
        manifest_path=manifest_path,
        sha256=sha,
        size=size,
        files=len(manifest.files),
        total_size=manifest.total_size,
        left_out=manifest.left_out,
        notes=manifest.notes,
        seconds=time.monotonic() - started,
    )


def _write_archive(
    archive: Path, plan: RunPlan, manifest: ArchiveManifest, options: ArchiveOptions, progress: ArchiveProgress | None
) -> tuple[str, int]:
    """Write the planned members and then the manifest (the last member) to ``archive``, atomically; returns the
    archive file's sha256 and size."""
    if progress is not None:
        progress.start(manifest.root, plan.total_bytes)
    try:
        with atomic_path(archive) as tmp, open(tmp, "wb") as handle:
            writer = TarZstWriter(
                handle, level=options.level, threads=options.threads, on_bytes=progress.advance if progress else None
            )
            manifest.compression = {"codec": "zstd", "level": writer.level, "threads": writer.threads}
            _write_members(writer, plan, manifest)
            body = (json.dumps(manifest.to_dict(), indent=2, sort_keys=True) + "\n").encode("utf-8")
            writer.add_bytes(ARCHIVE_MANIFEST_MEMBER, body, mtime=time.time())
            return writer.close()
    except OSError as exc:
        raise ArchiveError(f"cannot write {archive}: {exc.strerror or exc}; check --dest and free space") from exc
    finally:
        if progress is not None:
            progress.finish()


def _write_members(writer: TarZstWriter, plan: RunPlan, manifest: ArchiveManifest) -> None:
    root = manifest.root
    writer.add_directory(root, mtime=_mtime(plan.run_dir))
    for rel in plan.directories:
        writer.add_directory(f"{root}/{rel}", mtime=_mtime(plan.run_dir / rel))
    manifest.directories = list(plan.directories)
    manifest.left_out = list(plan.left_out)
    manifest.notes = list(plan.notes)
    for planned in plan.files:
        try:
            cap = writer.add_file(f"{root}/{planned.rel}", planned.path)
        except FileChanged as exc:
            manifest.left_out.append(LeftOutFile(path=planned.rel, reason=str(exc), size=planned.size))
            continue
        manifest.files.append(
            ArchivedFile(planned.rel, cap.size, cap.sha256, cap.mtime, cap.mode, role="file", note=cap.note)
        )
    for pair in plan.checkpoints:
        _write_checkpoint(writer, pair, manifest)
    manifest.total_size = sum(f.size for f in manifest.files)


def _write_checkpoint(writer: TarZstWriter, pair: CheckpointPair, manifest: ArchiveManifest) -> None:
    """The checkpoint, then the exact sidecar bytes its sha256 was checked against."""
    seen: dict[str, Any] = {}
    check = _sidecar_check(pair.sidecar.path, seen)
    try:
        cap = writer.add_file(f"{manifest.root}/{pair.data.rel}", pair.data.path, check=check)
    except FileChanged as exc:
        for planned in (pair.data, pair.sidecar):
            reason = f"incomplete checkpoint: {exc}" if planned is pair.data else "sidecar of a left-out checkpoint"
            manifest.left_out.append(LeftOutFile(path=planned.rel, reason=reason, size=planned.size))
        return
    manifest.files.append(ArchivedFile(pair.data.rel, cap.size, cap.sha256, cap.mtime, cap.mode, role="checkpoint"))
    body, st = seen["bytes"], seen["stat"]
    mode = st.st_mode & 0o777
    digest = writer.add_bytes(f"{manifest.root}/{pair.sidecar.rel}", body, mtime=st.st_mtime, mode=mode)
    manifest.files.append(ArchivedFile(pair.sidecar.rel, len(body), digest, st.st_mtime, mode, role="sidecar"))


def _sidecar_check(sidecar: Path, seen: dict[str, Any]) -> Callable[[str, int], str | None]:
    """A check that re-reads the sidecar each time, so a checkpoint rewritten meanwhile is matched to its own."""

    def check(sha256: str, size: int) -> str | None:
        try:
            with open(sidecar, "rb") as handle:
                st = os.fstat(handle.fileno())
                body = handle.read()
            meta = json.loads(body)
        except FileNotFoundError:
            return "its sidecar disappeared"
        except (OSError, ValueError):
            return "its sidecar cannot be read as JSON"
        if not isinstance(meta, dict) or meta.get("sha256") != sha256:
            return "its sha256 differs from the sidecar's (half-written or damaged)"
        if isinstance(meta.get("size"), int) and meta["size"] != size:
            return "its size differs from the sidecar's"
        seen["bytes"], seen["stat"] = body, st
        return None

    return check


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()


def best_metric(run: RunManifest, run_dir: Path) -> dict[str, Any] | None:
    """The best checkpoint's step and metrics (run.json records, else ``checkpoints/best.json``), for listings."""
    for record in reversed(run.checkpoints):
        if record.kind == "best" and record.metrics:
            return {"step": record.step, "metrics": dict(record.metrics)}
    sidecar = run_dir / "checkpoints" / "best.json"
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and isinstance(data.get("metrics"), dict) and data["metrics"]:
        return {"step": data.get("step"), "metrics": data["metrics"]}
    return None
