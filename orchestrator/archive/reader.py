"""Read an orch archive as a stream: members checked for safety, contents hashed, the compressed bytes hashed too.

Both ``verify`` and ``restore`` go through :func:`iter_members`, so a member that ``verify`` calls unsafe is one that
``restore`` refuses. Only regular files and folders under one top folder (the run directory) are allowed, plus the
archive manifest; orch never writes links or special files, so any such member means the archive was tampered with.

An archive is read within bounds, so a small hostile file cannot fill a disk or the memory: extended tar headers
(pax, GNU long names), which tarfile reads into memory whole, are capped at :data:`MAX_HEADER_BYTES`, the manifest at
:data:`MAX_MANIFEST_BYTES`, and, given the archive's manifest (:class:`Bounds`), no member may be larger than the
manifest lists it, the members together no larger than its total, nor more numerous than it lists.
"""

from __future__ import annotations

import contextlib
import hashlib
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Self

import zstandard

from manifests import ArchiveManifest, ManifestError, load_archive_manifest
from manifests.archive import ARCHIVE_MANIFEST_MEMBER
from orchestrator.archive.trailer import TRAILER_LEN, read_trailer

__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_MANIFEST_BYTES",
    "Bounds",
    "CorruptArchive",
    "Member",
    "UnsafeMember",
    "beside_manifest_path",
    "finish_stream",
    "hash_chunks",
    "iter_members",
    "load_beside_manifest",
    "open_stream",
    "parse_manifest",
    "read_inner_manifest",
    "safe_rel",
    "trailer_problem",
]

MAX_MANIFEST_BYTES = 32 << 20  # a manifest lists a run's files: ~160 bytes each, so 200,000 files fit
MAX_HEADER_BYTES = 1 << 20  # a pax header holds a long path and a few times; tarfile reads it into memory whole
MAX_MEMBERS = 100_000  # without a manifest to count them: a run has thousands of files, tarfile keeps every header
CHUNK = 4 << 20
_EXTENDED_HEADERS = (
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
)


class UnsafeMember(Exception):
    """A member that must never be extracted (absolute path, ``..``, link, device, outside the run folder)."""


class CorruptArchive(Exception):
    """The compressed stream or the tar inside it cannot be read."""


@dataclass(frozen=True)
class Bounds:
    """What an archive may expand to, from its manifest: each listed file's size, their total, and the number of
    members (files, folders, the run folder and the manifest itself)."""

    sizes: dict[str, int] = field(default_factory=dict)
    members: int = MAX_MEMBERS
    known: bool = False  # False: no manifest to go by (only the caps on headers and members apply)

    @classmethod
    def from_manifest(cls, manifest: ArchiveManifest) -> Bounds:
        sizes = {f.path: int(f.size) for f in manifest.files}
        return cls(sizes, len(sizes) + len(manifest.directories) + 2, known=True)

    @property
    def total(self) -> int:
        """Bytes the files may hold together: what restoring needs on disk."""
        return sum(self.sizes.values())


class _CappedTarInfo(tarfile.TarInfo):
    """A tar header whose extended headers may not exceed :data:`MAX_HEADER_BYTES` (refused before they are read)."""

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Self:
        info = super().frombuf(buf, encoding, errors)
        if info.type in _EXTENDED_HEADERS and info.size > MAX_HEADER_BYTES:
            raise UnsafeMember(
                f"an extended tar header (pax or long name) of {info.size} bytes; at most {MAX_HEADER_BYTES} are read"
            )
        return info


@dataclass
class Member:
    """A member of the stream: its path inside the run folder (``""`` for the folder itself) and a reader."""

    name: str
    rel: str
    kind: str  # "dir" | "file" | "manifest"
    size: int
    mode: int
    mtime: float
    _file: IO[bytes] | None = None

    def chunks(self) -> Iterator[bytes]:
        """The member's content in chunks (regular files and the manifest only)."""
        if self._file is None:
            return
        while True:
            try:
                chunk = self._file.read(CHUNK)
            except (tarfile.TarError, zstandard.ZstdError, EOFError) as exc:
                raise CorruptArchive(f"damaged archive: {exc}") from exc
            if not chunk:
                return
            yield chunk


class _HashingReader:
    """The raw archive file: hashes and counts every byte read, for the archive's own sha256."""

    trailer: str | None = None

    def __init__(self, handle: IO[bytes], on_bytes: Callable[[int], None] | None, body_len: int | None = None):
        self._handle = handle
        self.digest = hashlib.sha256()
        self.body_digest = hashlib.sha256()  # the bytes before the trailer, whose sha256 the trailer records
        self._body_len = body_len
        self.size = 0
        self._on_bytes = on_bytes

    def read(self, n: int = -1) -> bytes:
        data = self._handle.read(n)
        self.digest.update(data)
        if self._body_len is not None and self.size < self._body_len:
            self.body_digest.update(data[: self._body_len - self.size])
        self.size += len(data)
        if self._on_bytes is not None:
            self._on_bytes(len(data))
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


def beside_manifest_path(archive: Path) -> Path:
    """``<run_id>.tar.zst`` -> ``<run_id>.manifest.json``."""
    name = archive.name
    stem = name[: -len(".tar.zst")] if name.endswith(".tar.zst") else archive.stem
    return archive.with_name(f"{stem}.manifest.json")


def load_beside_manifest(archive: Path) -> ArchiveManifest | None:
    """The manifest written beside an archive, or None when there is none; raises ManifestError when unreadable."""
    path = beside_manifest_path(archive)
    if not path.is_file():
        return None
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{path}: {path.stat().st_size} bytes, more than an archive manifest may be")
    return load_archive_manifest(path)


def safe_rel(name: str, root: str | None) -> tuple[str, str]:
    """(root, path inside root) of a member name; raises :class:`UnsafeMember` for names that could escape."""
    if not name or "\0" in name:
        raise UnsafeMember(f"member {name!r} has an empty or invalid name")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeMember(f"member {name!r} has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts or any(p == ".." for p in name.replace("\\", "/").split("/")):
        raise UnsafeMember(f"member {name!r} has '..' in its path")
    if not parts:
        raise UnsafeMember(f"member {name!r} names no file")
    if root is not None and parts[0] != root:
        raise UnsafeMember(f"member {name!r} is outside the run folder {root!r}")
    return parts[0], "/".join(parts[1:])


def _classify(info: tarfile.TarInfo) -> str:
    if info.issym() or info.islnk():
        raise UnsafeMember(
            f"member {info.name!r} is a {'symbolic' if info.issym() else 'hard'} link to {info.linkname!r}"
        )
    if info.ischr() or info.isblk() or info.isfifo():
        raise UnsafeMember(f"member {info.name!r} is a device file or fifo")
    if info.isdir():
        return "dir"
    if info.isreg():
        return "file"
    raise UnsafeMember(f"member {info.name!r} has an unsupported type {info.type!r}")


@contextlib.contextmanager
def open_stream(
    archive: Path, on_bytes: Callable[[int], None] | None = None
) -> Iterator[tuple[tarfile.TarFile, _HashingReader]]:
    """The archive as a streaming tar reader, and the raw reader whose sha256 covers the whole file.

    ``raw.trailer`` is the sha256 the archive's trailer records (None when it has none); once the stream has been
    read to its end (:func:`finish_stream`), ``raw.body_digest`` must equal it.
    """
    trailer = read_trailer(archive)
    with open(archive, "rb") as handle:
        body_len = archive.stat().st_size - TRAILER_LEN if trailer else None
        raw = _HashingReader(handle, on_bytes, body_len)
        raw.trailer = trailer
        dctx = zstandard.ZstdDecompressor()
        with dctx.stream_reader(raw, read_across_frames=True, closefd=False) as stream:  # type: ignore[arg-type]
            try:
                tar = tarfile.open(  # noqa: SIM115
                    fileobj=stream, mode="r|", encoding="utf-8", errors="surrogateescape", tarinfo=_CappedTarInfo
                )
            except (tarfile.TarError, zstandard.ZstdError, EOFError, OSError) as exc:
                raise CorruptArchive(f"not a readable tar.zst: {exc}") from exc
            yield tar, raw


def iter_members(tar: tarfile.TarFile, bounds: Bounds | None = None) -> Iterator[Member]:
    """Every member, checked: one top folder, no unsafe names or types, within ``bounds`` (each checked before its
    content is read, so nothing past them is ever written). Wraps read errors in CorruptArchive."""
    root: str | None = None
    bounds = bounds or Bounds()
    count = declared = 0
    try:
        for info in tar:
            count += 1
            if count > bounds.members:
                raise UnsafeMember(f"more than the {bounds.members} members its manifest accounts for")
            if info.name == ARCHIVE_MANIFEST_MEMBER:
                kind = _classify(info)
                if kind != "file" or info.size > MAX_MANIFEST_BYTES:
                    raise UnsafeMember(f"member {info.name!r} is not a plausible archive manifest")
                yield Member(info.name, "", "manifest", info.size, info.mode, info.mtime, tar.extractfile(info))
                continue
            top, rel = safe_rel(info.name, root)
            root = top
            kind = _classify(info)
            if kind == "file" and bounds.known:
                declared += info.size
                _check_size(info.name, rel, info.size, declared, bounds)
            handle = tar.extractfile(info) if kind == "file" else None
            yield Member(info.name, rel, kind, info.size, info.mode & 0o777, float(info.mtime), handle)
    except (tarfile.TarError, zstandard.ZstdError, EOFError) as exc:
        raise CorruptArchive(f"damaged archive: {exc}") from exc
    except OSError as exc:
        if isinstance(exc, FileNotFoundError | PermissionError):
            raise
        raise CorruptArchive(f"damaged archive: {exc}") from exc


def _check_size(name: str, rel: str, size: int, declared: int, bounds: Bounds) -> None:
    listed = bounds.sizes.get(rel)
    if listed is not None and size > listed:
        raise UnsafeMember(f"member {name!r} is {size} bytes; its manifest lists {listed}")
    if declared > bounds.total:
        raise UnsafeMember(f"its members expand past the {bounds.total} bytes its manifest lists (at {name!r})")


def read_inner_manifest(archive: Path) -> ArchiveManifest:
    """The manifest inside the archive (its last member), read without writing anything; raises CorruptArchive when
    there is none, UnsafeMember or ManifestError when it cannot be trusted."""
    with open_stream(archive) as (tar, _raw):
        for member in iter_members(tar):
            if member.kind == "manifest":
                return parse_manifest(b"".join(member.chunks()), f"{archive}:{member.name}")
    raise CorruptArchive("no archive manifest inside (not an orch archive, or cut short)")


def finish_stream(tar: tarfile.TarFile, raw: _HashingReader) -> None:
    """Read what follows the tar's end (zero blocks, the last frame) so every frame checksum and byte is checked."""
    fileobj = tar.fileobj
    try:
        while fileobj is not None and fileobj.read(CHUNK):
            pass
    except (zstandard.ZstdError, EOFError, OSError) as exc:
        raise CorruptArchive(f"damaged archive: {exc}") from exc
    raw.drain()


def trailer_problem(raw: _HashingReader) -> str | None:
    """Why the archive's own checksum trailer does not vouch for it, or None when it does."""
    if raw.trailer is None:
        return "no checksum trailer at the end of the file (cut short, damaged, or not written by orch archive)"
    if raw.body_digest.hexdigest() != raw.trailer:
        return f"archive bytes do not match the sha256 in its trailer ({raw.trailer[:12]}…): damaged"
    return None


def parse_manifest(body: bytes, source: str) -> ArchiveManifest:
    """The archive manifest member, checked against its schema."""
    import json

    from manifests import validate_document

    try:
        data = json.loads(body)
        validate_document("archive_manifest", data, source=source)
    except ValueError as exc:
        raise ManifestError(f"{source}: archive manifest is not valid JSON ({exc})") from exc
    return ArchiveManifest.from_dict(data)


def hash_chunks(chunks: Iterator[bytes], sink: Callable[[bytes], Any] | None = None) -> tuple[str, int]:
    """sha256 and length of a member's content, optionally writing each chunk to ``sink``."""
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
        if sink is not None:
            sink(chunk)
    return digest.hexdigest(), size
