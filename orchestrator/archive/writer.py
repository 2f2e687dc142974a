"""Stream a tar archive into multi-threaded zstandard, one member at a time, hashing as it goes.

Memory does not depend on the run's size: files are read in fixed chunks and fed to the compressor. A member that
turns out bad after it was written (it changed while being read, or a checkpoint does not match its sidecar) is taken
back: large members are written in a zstd frame of their own, and taking one back truncates the output file to the
end of the previous frame. Concatenated frames decompress as one stream (``zstd -d``, ``tar --zstd`` read them).
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

import zstandard

from orchestrator.archive.trailer import make_trailer

__all__ = ["CHUNK", "SMALL_FILE", "Captured", "FileChanged", "TarZstWriter"]

CHUNK = 4 << 20  # bytes read and fed to the compressor at once
SMALL_FILE = 1 << 20  # files up to this size are read into memory, checked, then written (no take-back needed)
BLOCK = tarfile.BLOCKSIZE
RETRY_DELAYS = (0.02, 0.1, 0.3)
HOT_SECONDS = 2.0  # files modified this recently are hashed twice


class FileChanged(Exception):
    """The file was left out: it kept changing while being read, vanished, or was refused by the caller's check."""


@dataclass(frozen=True)
class Captured:
    """A member as written: size, sha256 and the file's mtime and mode."""

    size: int
    sha256: str
    mtime: float
    mode: int
    note: str | None = None


class _HashingSink:
    """The compressed output file: counts and hashes what is written, and can go back to the last commit point."""

    def __init__(self, handle: IO[bytes]):
        self._handle = handle
        self._digest = hashlib.sha256()
        self._committed = self._digest.copy()
        self.pos = 0
        self._committed_pos = 0

    def write(self, data: Any) -> int:
        self._handle.write(data)
        self._digest.update(data)
        self.pos += len(data)
        return len(data)

    def flush(self) -> None:
        self._handle.flush()

    def commit(self) -> None:
        self._committed = self._digest.copy()
        self._committed_pos = self.pos

    def rollback(self) -> None:
        self._handle.flush()
        self._handle.truncate(self._committed_pos)
        self._handle.seek(self._committed_pos)
        self._digest = self._committed.copy()
        self.pos = self._committed_pos

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def _header(name: str, *, size: int, mtime: float, mode: int, kind: bytes = tarfile.REGTYPE) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size if kind == tarfile.REGTYPE else 0
    info.mtime = mtime
    info.mode = mode
    info.type = kind
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _padding(size: int) -> bytes:
    rest = size % BLOCK
    return b"\0" * (BLOCK - rest) if rest else b""


class TarZstWriter:
    """Write tar members into ``handle`` through a zstd compressor with ``threads`` workers (0: one per core)."""

    def __init__(
        self,
        handle: IO[bytes],
        *,
        level: int = 3,
        threads: int = 0,
        on_bytes: Callable[[int], None] | None = None,
    ):
        self._sink = _HashingSink(handle)
        threads = threads or (os.cpu_count() or 1)
        self._cctx = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=True)
        self._zw = self._cctx.stream_writer(
            self._sink,  # type: ignore[arg-type]  # any object with write() and flush() will do
            closefd=False,
            write_size=1 << 20,
            write_return_read=True,
        )
        self._on_bytes = on_bytes or (lambda n: None)
        self.level, self.threads = level, threads

    # ---------------------------------------------------------------------------------------------- members
    def add_directory(self, name: str, *, mtime: float, mode: int = 0o755) -> None:
        self._zw.write(_header(name.rstrip("/") + "/", size=0, mtime=mtime, mode=mode, kind=tarfile.DIRTYPE))

    def add_bytes(self, name: str, data: bytes, *, mtime: float, mode: int = 0o644) -> str:
        """Write an in-memory member; returns its sha256."""
        self._zw.write(_header(name, size=len(data), mtime=mtime, mode=mode))
        self._zw.write(data)
        self._zw.write(_padding(len(data)))
        return hashlib.sha256(data).hexdigest()

    def add_file(
        self,
        name: str,
        path: str | os.PathLike[str],
        *,
        check: Callable[[str, int], str | None] | None = None,
    ) -> Captured:
        """Write the file at ``path`` as member ``name``, never a torn copy.

        The size is fixed when the file is opened; after reading, the open file's size and mtime must be unchanged
        (else it is read again). ``check(sha256, size)`` may refuse the bytes read (it returns a reason). A file that
        only grew (a log being appended to) is taken as its first bytes once re-reading shows they did not change.
        Raises :class:`FileChanged` when the file cannot be captured whole.
        """
        last = "changed while being read"
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
            if delay:
                time.sleep(delay)
            final = attempt == len(RETRY_DELAYS)
            try:
                result = self._try_file(name, path, final=final)
            except FileNotFoundError as exc:
                raise FileChanged("disappeared while being archived") from exc
            except PermissionError as exc:
                raise FileChanged(f"cannot be read: {exc.strerror}") from exc
            if isinstance(result, str):
                last = result
                continue
            if check is not None:
                reason = check(result.sha256, result.size)
                if reason is not None:
                    self._discard()
                    last = reason
                    continue
            self._keep()
            return result
        raise FileChanged(last)

    def _try_file(self, name: str, path: str | os.PathLike[str], *, final: bool) -> Captured | str:
        """One capture attempt: the member (pending: written or held, not yet kept) or why it was not taken.

        A file modified in the last ``HOT_SECONDS`` is hashed a second time through the same descriptor, since
        file timestamps advance in coarse ticks and a write within one tick would not show in size or mtime.
        """
        with open(path, "rb") as handle:
            before = os.fstat(handle.fileno())
            size = before.st_size
            hot = time.time() - before.st_mtime < HOT_SECONDS
            if size <= SMALL_FILE:
                data = handle.read(size + 1)
                digest = hashlib.sha256(data[:size])
                complete = len(data) >= size
                self._pending = ("small", name, data[:size], before)
                self._on_bytes(size)
            else:
                self._begin_frame()
                mode = stat.S_IMODE(before.st_mode) & 0o777
                self._zw.write(_header(name, size=size, mtime=before.st_mtime, mode=mode))
                digest, left = self._stream(handle, size)
                self._zw.write(_padding(size))
                self._zw.flush(zstandard.FLUSH_FRAME)
                complete = not left
                self._pending = ("large", name, None, before)
            after = os.fstat(handle.fileno())
            torn = not complete or _changed(before, after) or (hot and _fd_sha(handle, size) != digest.digest())
            note = None
            if torn:
                grew = complete and after.st_size > size
                if not (final and grew and _prefix_sha(path, size) == digest.digest()):
                    self._discard()
                    return "changed while being read"
                note = f"file grew while being read: its first {size} bytes were archived"
            mode = stat.S_IMODE(before.st_mode) & 0o777
            return Captured(size, digest.hexdigest(), before.st_mtime, mode, note)

    def _stream(self, handle: IO[bytes], size: int) -> tuple[Any, int]:
        """Feed ``size`` bytes of ``handle`` to the compressor; (their sha256, bytes that could not be read)."""
        digest = hashlib.sha256()
        left = size
        while left:
            chunk = handle.read(min(CHUNK, left))
            if not chunk:
                break
            digest.update(chunk)
            self._zw.write(chunk)
            left -= len(chunk)
            self._on_bytes(len(chunk))
        if left:  # keep the tar stream well-formed until the member is taken back
            self._zw.write(b"\0" * left)
        return digest, left

    def _begin_frame(self) -> None:
        self._zw.flush(zstandard.FLUSH_FRAME)
        self._sink.commit()

    def _keep(self) -> None:
        kind, name, data, st = self._pending
        if kind == "small":
            assert data is not None
            self.add_bytes(name, data, mtime=st.st_mtime, mode=stat.S_IMODE(st.st_mode) & 0o777)
        else:
            self._sink.commit()
        self._pending = None

    def _discard(self) -> None:
        kind = self._pending[0]
        if kind == "large":
            self._sink.rollback()
        self._pending = None

    _pending: Any = None

    # ------------------------------------------------------------------------------------------------- end
    def close(self) -> tuple[str, int]:
        """Write the tar end blocks, end the last frame, append the checksum trailer; return the file's sha256, size."""
        self._zw.write(b"\0" * (2 * BLOCK))
        self._zw.flush(zstandard.FLUSH_FRAME)
        self._sink.write(make_trailer(self._sink.hexdigest()))
        self._sink.flush()
        return self._sink.hexdigest(), self._sink.pos


def _changed(before: os.stat_result, after: os.stat_result) -> bool:
    return (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns)


def _fd_sha(handle: IO[bytes], size: int) -> bytes | None:
    """sha256 of the first ``size`` bytes of an open file, read again from the start."""
    handle.seek(0)
    digest = hashlib.sha256()
    left = size
    while left:
        chunk = handle.read(min(CHUNK, left))
        if not chunk:
            return None
        digest.update(chunk)
        left -= len(chunk)
    return digest.digest()


def _prefix_sha(path: str | os.PathLike[str], size: int) -> bytes | None:
    """sha256 of the first ``size`` bytes now on disk (None when the file is gone or shorter)."""
    try:
        with open(path, "rb") as handle:
            return _fd_sha(handle, size)
    except OSError:
        return None
