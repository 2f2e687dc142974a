"""Atomic file writes, JSON and JSON-lines reads, file checksums.

Every manifest, sidecar and checkpoint goes through :func:`atomic_path`: the data is written to a temporary file in
the destination's folder, fsynced, and renamed over the destination, then the folder itself is fsynced. A crash at
any moment leaves either the previous complete file or the new complete file, never a half-written one.
:func:`read_jsonl` is the one reader of the line streams (``metrics.jsonl``, ``episodes.jsonl``) that a live run
appends to, and :func:`sha256_file` the one checksum of a file on disk (checkpoint sidecars, config fingerprints).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "fsync_dir",
    "read_json",
    "read_jsonl",
    "remove_stale_temporaries",
    "sha256_file",
]

TMP_PREFIX = ".tmp-"


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries so that a rename inside it survives a power loss."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _create_temporary(dest: Path) -> Path:
    """An empty, new file next to ``dest``, created with mode 0666 less the umask (``mkstemp`` would force 0600,
    and teammates sharing an artifact root could not read what was written)."""
    for _ in range(100):
        tmp = dest.parent / f"{TMP_PREFIX}{dest.name}.{secrets.token_hex(4)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"no free temporary name next to {dest}")  # pragma: no cover


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``destination``; on success fsync it and rename it into place.

    The caller writes the temporary path however it likes (``torch.save``, ``zipfile``...). On an exception (or a
    ``SystemExit`` raised by a signal handler) the temporary file is removed and the destination is untouched.
    Temporary names start with ``.tmp-`` so that readers (status, archive) can recognise and skip them, and
    :func:`remove_stale_temporaries` can clear those a killed process left behind. The file gets the umask's mode.
    """
    dest = Path(destination)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temporary(dest)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def remove_stale_temporaries(*folders: str | os.PathLike[str]) -> list[Path]:
    """Delete the ``.tmp-*`` files directly inside ``folders`` and return them.

    Only safe when no writer can be active there: the job entry calls it for the run directory and its
    ``checkpoints/`` while it holds the run's trainer lock and manifest lock, before the trainer starts. Such files are
    what a process killed in the middle of an atomic write (SIGKILL at the end of a time limit) leaves; the
    destination they were meant for still holds its previous complete version.
    """
    removed: list[Path] = []
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.name.startswith(TMP_PREFIX) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def atomic_write_bytes(destination: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``destination`` atomically and return the destination."""
    with atomic_path(destination) as tmp:
        tmp.write_bytes(data)
    return Path(destination)


def atomic_write_text(destination: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``destination`` atomically."""
    return atomic_write_bytes(destination, text.encode("utf-8"))


def atomic_write_json(destination: str | os.PathLike[str], payload: Any) -> Path:
    """Write ``payload`` as indented, key-sorted JSON atomically (stable diffs, readable by hand)."""
    text = json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n"
    return atomic_write_text(destination, text)


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file; errors carry the path so that a person can find the broken file."""
    from manifests.errors import ManifestError

    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ManifestError(f"{p}: file not found") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{p}: not valid JSON ({exc})") from exc


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every complete line of a JSON-lines file that holds a JSON object; a missing file has none.

    The writer may still be appending: a torn last line (no newline yet, or a crash mid-write) ends the read, and a
    garbled line is skipped, so a reader never fails on a live run.
    """
    records: list[dict[str, Any]] = []
    p = Path(path)
    if not p.exists():
        return records
    with open(p, encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


def sha256_file(path: str | os.PathLike[str], *, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, streamed so that a multi-GB checkpoint never sits in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy scalars and arrays, without importing numpy
        return value.tolist()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
