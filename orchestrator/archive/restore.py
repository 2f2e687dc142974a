"""``orch archive restore``: unpack an archive into ``<into>/<run_id>/``, safely and all-or-nothing.

Members are written into a staging folder inside ``into`` (``.tmp-restore-*``) while their sha256 is computed; only
when every file matches the archive manifest (and the archive's sha256 matches the manifest beside it, when present)
is the run folder renamed into place. Unsafe members (absolute paths, ``..``, links, devices, fifos) stop the restore
before anything is written outside the staging folder, and the staging folder is removed on any failure.

What is written is bounded by the archive's manifest (the one beside it, else the one inside, read first without
writing anything): ``into`` must have room for the total it lists, no member may be larger than listed, and the
members together never more than that total (``reader.Bounds``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from manifests import ArchiveManifest, ManifestError
from orchestrator.archive.create import ArchiveProgress
from orchestrator.archive.reader import (
    Bounds,
    CorruptArchive,
    Member,
    UnsafeMember,
    finish_stream,
    hash_chunks,
    iter_members,
    load_beside_manifest,
    open_stream,
    parse_manifest,
    read_inner_manifest,
    trailer_problem,
)
from orchestrator.archive.verify import VerifyReport, compare_files
from orchestrator.errors import ArchiveError

__all__ = ["RestoreResult", "restore_archive"]

STAGING_PREFIX = ".tmp-restore-"


@dataclass(frozen=True)
class RestoreResult:
    """Where a run was restored, and what it holds."""

    run_id: str
    target: Path
    files: int
    total_size: int
    replaced: bool


def _refuse_existing(target: Path, force: bool) -> None:
    if (target.exists() or target.is_symlink()) and not force:
        raise ArchiveError(
            f"{target} already exists; restore into another --into folder, or pass --force to replace it"
        )


def _write_member(staging: Path, member: Member, found: dict[str, tuple[int, str]], root: str) -> None:
    """Create one folder or file under ``staging/root``; names were checked by ``iter_members``."""
    path = staging / root / member.rel if member.rel else staging / root
    if member.kind == "dir":
        path.mkdir(parents=True, exist_ok=True)
        return
    if member.rel in found:
        raise UnsafeMember(f"member {member.name!r} appears twice")
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as handle:
        sha, size = hash_chunks(member.chunks(), handle.write)
        os.fchmod(handle.fileno(), member.mode & 0o777)
    os.utime(path, (member.mtime, member.mtime))
    found[member.rel] = (size, sha)


def _extract(
    archive: Path, staging: Path, into: Path, force: bool, on_bytes: Callable[[int], None] | None, bounds: Bounds
) -> tuple:
    found: dict[str, tuple[int, str]] = {}
    inner: ArchiveManifest | None = None
    root = ""
    with open_stream(archive, on_bytes) as (tar, raw):
        for member in iter_members(tar, bounds):
            if member.kind == "manifest":
                inner = parse_manifest(b"".join(member.chunks()), f"{archive}:{member.name}")
                continue
            if not root:
                root = member.name.split("/")[0]
                _refuse_existing(into / root, force)
            _write_member(staging, member, found, root)
        finish_stream(tar, raw)
        problem = trailer_problem(raw)
        if raw.trailer is not None and problem:
            raise CorruptArchive(problem)
        return inner, root, found, raw.digest.hexdigest(), raw.size


def restore_archive(
    archive: Path, into: Path, *, force: bool = False, progress: ArchiveProgress | None = None
) -> RestoreResult:
    """Restore one archive to ``into/<run folder>``; raises :class:`ArchiveError` and leaves nothing on failure."""
    if not archive.is_file():
        raise ArchiveError(f"{archive}: no such archive file")
    try:
        beside = load_beside_manifest(archive)
    except ManifestError as exc:
        raise ArchiveError(f"{archive}: the manifest beside it is unreadable ({str(exc).splitlines()[0]})") from exc
    bounds = Bounds.from_manifest(beside or _inner_manifest(archive))
    into.mkdir(parents=True, exist_ok=True)
    if beside is not None:
        _refuse_existing(into / beside.root, force)
    _check_free_space(archive, into, bounds.total)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=into))
    if progress is not None:
        progress.start(archive.name, archive.stat().st_size)
    on_bytes = progress.advance if progress is not None else None
    try:
        try:
            inner, root, found, sha, size = _extract(archive, staging, into, force, on_bytes, bounds)
        except (CorruptArchive, UnsafeMember) as exc:
            raise ArchiveError(f"{archive}: refused: {exc}; nothing was restored") from exc
        except ManifestError as exc:
            raise ArchiveError(f"{archive}: {str(exc).splitlines()[0]}; nothing was restored") from exc
        except ArchiveError:
            raise
        except OSError as exc:
            raise ArchiveError(f"{archive}: cannot write a member ({exc}); nothing was restored") from exc
        manifest = _check(archive, inner, beside, root, found, sha, size)
        target = into / root
        replaced = _move_into_place(staging / root, target, staging, force)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if progress is not None:
            progress.finish()
    total = sum(s for s, _ in found.values())
    return RestoreResult(manifest.run_id, target, len(found), total, replaced)


def _inner_manifest(archive: Path) -> ArchiveManifest:
    """Without a manifest beside it, the one inside (read to the end of the stream, nothing written) bounds the
    restore."""
    try:
        return read_inner_manifest(archive)
    except (CorruptArchive, UnsafeMember) as exc:
        raise ArchiveError(f"{archive}: refused: {exc}; nothing was restored") from exc
    except ManifestError as exc:
        raise ArchiveError(f"{archive}: {str(exc).splitlines()[0]}; nothing was restored") from exc


def _check_free_space(archive: Path, into: Path, needed: int) -> None:
    free = shutil.disk_usage(into).free
    if needed > free:
        raise ArchiveError(
            f"{archive}: restoring needs {needed} bytes in {into}, only {free} are free; make room or restore "
            "elsewhere (nothing was restored)"
        )


def _check(
    archive: Path,
    inner: ArchiveManifest | None,
    beside: ArchiveManifest | None,
    root: str,
    found: dict[str, tuple[int, str]],
    sha: str,
    size: int,
) -> ArchiveManifest:
    if inner is None:
        raise ArchiveError(
            f"{archive}: no archive manifest inside (not an orch archive, or cut short); nothing restored"
        )
    if beside is not None and beside.archive_sha256 and beside.archive_sha256 != sha:
        raise ArchiveError(f"{archive}: sha256 differs from the manifest beside it (damaged); nothing was restored")
    if root != inner.root:
        raise ArchiveError(f"{archive}: members are under {root!r}, the manifest says {inner.root!r}; nothing restored")
    report = VerifyReport(archive=archive)
    compare_files(inner, found, report)
    if not report.ok:
        raise ArchiveError(f"{archive}: checksums do not match ({'; '.join(report.lines()[:3])}); nothing restored")
    return inner


def _move_into_place(source: Path, target: Path, staging: Path, force: bool) -> bool:
    """Rename the verified run folder to ``target``; with ``force`` the old one is moved aside, then deleted."""
    replaced = False
    if target.exists() or target.is_symlink():
        _refuse_existing(target, force)
        os.replace(target, staging / ".old")  # staging is removed afterwards, taking the old run with it
        replaced = True
    try:
        os.rename(source, target)
    except OSError as exc:
        if replaced:
            with contextlib.suppress(OSError):
                os.replace(staging / ".old", target)
        raise ArchiveError(f"cannot move the restored run to {target}: {exc.strerror}") from exc
    return replaced
