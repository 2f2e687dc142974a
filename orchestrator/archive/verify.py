"""``orch archive verify``: recompute every checksum of an archive and name what is missing, changed or extra.

Three layers are checked: the archive file's own sha256 and size (against the manifest beside it, when present),
the zstd frame checksums (read to the very end), and every member's size and sha256 against the manifest inside.
With a manifest beside it, reading stops as soon as a member is larger than listed or the members expand past the
listed total (``reader.Bounds``): a small tampered archive cannot keep ``verify`` decompressing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    trailer_problem,
)
from orchestrator.errors import ArchiveError

__all__ = ["VerifyReport", "compare_files", "verify_archive"]


@dataclass
class VerifyReport:
    """The outcome for one archive; ``ok`` only when no problem was found."""

    archive: Path
    run_id: str = ""
    files: int = 0
    size: int = 0
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.changed or self.extra or self.problems)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict, with ``ok``."""
        return {**self.__dict__, "archive": str(self.archive), "ok": self.ok}

    def lines(self) -> list[str]:
        """One line per problem, each naming the archive."""
        out = [f"{self.archive}: {p}" for p in self.problems]
        out += [f"{self.archive}: missing: {p}" for p in self.missing]
        out += [f"{self.archive}: changed: {p}" for p in self.changed]
        out += [f"{self.archive}: extra: {p}" for p in self.extra]
        return out


def compare_files(expected: ArchiveManifest, found: dict[str, tuple[int, str]], report: VerifyReport) -> None:
    """Fill ``report.missing/changed/extra`` from the manifest's file list and what the archive holds."""
    listed = {f.path: (f.size, f.sha256) for f in expected.files}
    for path, (size, sha) in listed.items():
        if path not in found:
            report.missing.append(path)
        elif found[path] != (size, sha):
            got_size, got_sha = found[path]
            report.changed.append(f"{path} (size {got_size}, sha256 {got_sha[:12]}…; manifest: {size}, {sha[:12]}…)")
    report.extra.extend(sorted(set(found) - set(listed)))


@dataclass
class _Contents:
    """What one pass over the archive's stream found: its members' sizes and checksums, the manifest inside, the
    top folder, and the archive file's own sha256 and size (None when the stream could not be read to its end)."""

    found: dict[str, tuple[int, str]] = field(default_factory=dict)
    inner: ArchiveManifest | None = None
    root: str = ""
    sha: str | None = None
    size: int | None = None


def verify_archive(archive: Path, progress: ArchiveProgress | None = None) -> VerifyReport:
    """Check one archive completely; problems go into the report, nothing is raised for a bad archive."""
    report = VerifyReport(archive=archive)
    if not archive.is_file():
        raise ArchiveError(f"{archive}: no such archive file")
    try:
        beside = load_beside_manifest(archive)
    except ManifestError as exc:
        report.problems.append(f"manifest beside the archive is unreadable: {str(exc).splitlines()[0]}")
        beside = None
    if progress is not None:
        progress.start(archive.name, archive.stat().st_size)
    try:
        contents = _read(archive, beside, report, progress)
    finally:
        if progress is not None:
            progress.finish()
    _check_beside(report, beside, contents)
    _check_manifests(report, beside, contents)
    return report


def _read(
    archive: Path, beside: ArchiveManifest | None, report: VerifyReport, progress: ArchiveProgress | None
) -> _Contents:
    """Read the stream to its end within the bounds of the manifest beside it, hashing every member."""
    contents = _Contents()
    try:
        with open_stream(archive, progress.advance if progress else None) as (tar, raw):
            for member in iter_members(tar, Bounds.from_manifest(beside) if beside else None):
                _take(member, contents, report, str(archive))
            finish_stream(tar, raw)
            contents.sha, contents.size = raw.digest.hexdigest(), raw.size
            problem = trailer_problem(raw)
            if problem:
                report.problems.append(problem)
    except CorruptArchive as exc:
        report.problems.append(str(exc))
    except UnsafeMember as exc:
        report.problems.append(f"unsafe member: {exc}")
    return contents


def _take(member: Member, contents: _Contents, report: VerifyReport, source: str) -> None:
    if member.kind == "manifest":
        try:
            contents.inner = parse_manifest(b"".join(member.chunks()), f"{source}:{member.name}")
        except ManifestError as exc:
            report.problems.append(f"manifest inside the archive is invalid: {str(exc).splitlines()[0]}")
        return
    contents.root = contents.root or member.name.split("/")[0]
    if member.kind == "file":
        if member.rel in contents.found:
            report.problems.append(f"member {member.name!r} appears twice")
        sha, size = hash_chunks(member.chunks())
        contents.found[member.rel] = (size, sha)


def _check_beside(report: VerifyReport, beside: ArchiveManifest | None, contents: _Contents) -> None:
    """The archive file's sha256 and size against the manifest beside it."""
    if beside is None or contents.sha is None:
        return
    if beside.archive_sha256 and beside.archive_sha256 != contents.sha:
        report.problems.append(f"archive sha256 is {contents.sha}, the manifest beside it says {beside.archive_sha256}")
    if beside.archive_size is not None and beside.archive_size != contents.size:
        report.problems.append(
            f"archive size is {contents.size} bytes, the manifest beside it says {beside.archive_size}"
        )


def _check_manifests(report: VerifyReport, beside: ArchiveManifest | None, contents: _Contents) -> None:
    """The members against the manifest inside (or beside, when there is none inside), and the two manifests
    against each other."""
    inner = contents.inner
    if inner is None and not report.problems:
        report.problems.append("no archive manifest (ORCH_ARCHIVE.json) inside: not an orch archive, or cut short")
    expected = inner or beside
    if expected is None:
        return
    report.run_id = expected.run_id
    report.files = len(expected.files)
    report.size = contents.size or 0
    if contents.root and contents.root != expected.root:
        report.problems.append(f"members are under {contents.root!r}, the manifest says {expected.root!r}")
    if inner is not None and beside is not None and _listing(inner) != _listing(beside):
        report.problems.append("the manifest beside the archive lists other files than the one inside")
    if not any(p.startswith(("damaged", "not a readable")) for p in report.problems):
        compare_files(expected, contents.found, report)


def _listing(manifest: ArchiveManifest) -> set[tuple[str, int, str]]:
    return {(f.path, f.size, f.sha256) for f in manifest.files}
