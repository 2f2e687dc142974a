"""Advisory file locks: one around every read-modify-write of ``run.json``, one held by a run's trainer.

Both are ``flock`` locks on small hidden files in the run directory (``run.json`` itself cannot carry the lock: every
write replaces it by a rename, so a lock on the old file would guard nothing). The kernel drops a lock when its
holder dies, so a killed process never leaves a run locked. Lock files are created with the caller's umask, and a
reader without write permission still locks through a read-only descriptor.

- :func:`manifest_lock` serialises the writers of one ``run.json`` (trainer, ``orch cancel``, ``orch archive``,
  ``orch resume``, the signal handler), so no update is lost.
- :class:`RunDirLock` is held by the process that trains a run for as long as it trains: a second trainer on the same
  run directory is refused, and ``orch resume`` can tell a live trainer from a dead one on this machine.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from manifests.errors import OrchError

__all__ = [
    "MANIFEST_LOCK",
    "TRAINER_LOCK",
    "LockTimeout",
    "RunDirLock",
    "RunLockedError",
    "file_lock",
    "manifest_lock",
    "trainer_holding",
]

MANIFEST_LOCK = ".run.json.lock"
TRAINER_LOCK = ".trainer.lock"
# A manifest update takes milliseconds; a writer that waits this long is facing a hung process on a hung filesystem.
MANIFEST_LOCK_TIMEOUT_S = 120.0


class LockTimeout(OSError):
    """The lock was not free within the time allowed."""


class RunLockedError(OrchError, RuntimeError):
    """A trainer is already running in this run directory (the message says which process holds it)."""


def _open_lock_file(path: Path) -> int:
    """A descriptor on ``path`` to lock: created read-write when possible, else opened read-only (flock needs no
    write permission, so a teammate with read access to a shared artifact root can still take a shared lock)."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except PermissionError:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)


def _flock(fd: int, *, shared: bool, timeout_s: float | None, poll_s: float = 0.01) -> bool:
    """Take the lock on ``fd``; False when ``timeout_s`` passed first (None waits forever, 0 tries once)."""
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    if timeout_s is None:
        fcntl.flock(fd, mode)
        return True
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)
        poll_s = min(poll_s * 2, 0.2)


@contextlib.contextmanager
def file_lock(path: str | os.PathLike[str], *, shared: bool = False, timeout_s: float | None = None) -> Iterator[None]:
    """Hold an advisory lock on ``path`` (created if missing) for the ``with`` block; raises :class:`LockTimeout`."""
    lock_path = Path(path)
    fd = _open_lock_file(lock_path)
    try:
        if not _flock(fd, shared=shared, timeout_s=timeout_s):
            raise LockTimeout(f"{lock_path}: still locked by another process after {timeout_s:.0f} s")
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def manifest_lock(run_dir: str | os.PathLike[str], *, timeout_s: float | None = MANIFEST_LOCK_TIMEOUT_S) -> Any:
    """The lock every read-modify-write of ``run_dir/run.json`` holds."""
    return file_lock(Path(run_dir) / MANIFEST_LOCK, timeout_s=timeout_s)


class RunDirLock:
    """The trainer's lock on its run directory, held from :meth:`acquire` until :meth:`release` or process exit.

    The holder writes who it is (pid, host, job id) into the lock file, so a refused second trainer can say who
    trains the run. The lock is retried for ``wait_s``: a status probe (:func:`trainer_holding`) holds it for
    microseconds and must not make a trainer give up.
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.path = Path(run_dir) / TRAINER_LOCK
        self._fd: int | None = None

    def acquire(self, *, job_id: str | None = None, wait_s: float = 10.0) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        if not _flock(fd, shared=False, timeout_s=wait_s):
            os.close(fd)
            holder = read_holder(self.path)
            who = ", ".join(f"{k} {v}" for k, v in holder.items() if v) or "another process"
            raise RunLockedError(
                f"run {self.path.parent.name} is being trained already ({who}); "
                "a second trainer would corrupt it. Wait for it to end, or stop it with orch cancel"
            )
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "job_id": job_id, "since": time.time()}
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunDirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_holder(path: Path) -> dict[str, Any]:
    """What the holder of a trainer lock wrote about itself (empty when unknown)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return {k: data.get(k) for k in ("pid", "host", "job_id")} if isinstance(data, dict) else {}


def trainer_holding(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Who trains ``run_dir`` right now (pid, host, job id), or None when no trainer holds its lock.

    Exact on this machine and on filesystems whose locks span hosts (NFSv4, Lustre with flock); elsewhere a trainer
    on another node may be missed, which is why ``orch resume`` asks the scheduler too.
    """
    path = Path(run_dir) / TRAINER_LOCK
    if not path.exists():
        return None
    try:
        fd = _open_lock_file(path)
    except OSError:
        return None
    try:
        if _flock(fd, shared=True, timeout_s=0):
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        return read_holder(path) or {"pid": None, "host": None, "job_id": None}
    finally:
        os.close(fd)
