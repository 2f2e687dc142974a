"""Checkpoint files with JSON sidecars, written atomically, and the search for the newest complete one.

A checkpoint ``checkpoints/<name>.<ext>`` is complete when its sidecar ``checkpoints/<name>.json`` exists and the
file's sha256 matches the sidecar. The checkpoint is renamed into place before the sidecar is written, so a crash
between the two leaves an orphan file that resume ignores.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from manifests import atomic_path, atomic_write_json, read_json, sha256_file, utc_now

# sha256_file (manifests.io) stays importable from here: it is the checksum every sidecar records.
__all__ = [
    "CheckpointInfo",
    "delete_checkpoint",
    "find_latest_checkpoint",
    "list_checkpoints",
    "save_checkpoint",
    "sha256_file",
    "verify_checkpoint",
]

CHECKPOINT_DIR = "checkpoints"


@dataclass(frozen=True)
class CheckpointInfo:
    """A complete checkpoint: the file, its sidecar's content, and where both live."""

    path: Path
    sidecar: Path
    step: int
    kind: str
    sha256: str
    metrics: dict[str, Any]
    meta: dict[str, Any]


def save_checkpoint(
    run_dir: str | os.PathLike[str],
    name: str,
    write: Callable[[Path], object],
    *,
    step: int,
    kind: str = "step",
    suffix: str = ".pt",
    metrics: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
) -> CheckpointInfo:
    """Write a checkpoint through ``write(tmp_path)`` atomically, then its sidecar (step, kind, metrics, sha256)."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    target = folder / f"{name}{suffix}"
    with atomic_path(target) as tmp:
        write(tmp)
    digest = sha256_file(target)
    sidecar = folder / f"{name}.json"
    metrics_doc = dict(metrics or {})
    meta_doc = dict(meta or {})
    payload = {
        "file": target.name,
        "step": int(step),
        "kind": kind,
        "sha256": digest,
        "size": target.stat().st_size,
        "metrics": metrics_doc,
        "meta": meta_doc,
        "created_at": utc_now(),
    }
    atomic_write_json(sidecar, payload)
    return CheckpointInfo(target, sidecar, int(step), kind, digest, metrics_doc, meta_doc)


def list_checkpoints(run_dir: str | os.PathLike[str], *, verify: bool = True) -> list[CheckpointInfo]:
    """Every complete checkpoint of a run, oldest step first. ``verify`` recomputes sha256 (skips torn files)."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found: list[CheckpointInfo] = []
    for sidecar in folder.glob("*.json"):
        if sidecar.name.startswith("."):
            continue
        try:
            data = read_json(sidecar)
        except Exception:
            continue
        if not isinstance(data, dict) or "file" not in data:
            continue
        path = folder / str(data["file"])
        if not path.is_file():
            continue
        if verify and sha256_file(path) != data.get("sha256"):
            continue
        found.append(
            CheckpointInfo(
                path,
                sidecar,
                int(data.get("step", 0)),
                str(data.get("kind", "step")),
                str(data.get("sha256")),
                dict(data.get("metrics") or {}),
                dict(data.get("meta") or {}),
            )
        )
    found.sort(key=lambda c: (c.step, c.sidecar.stat().st_mtime_ns))
    return found


def find_latest_checkpoint(
    run_dir: str | os.PathLike[str], *, kinds: tuple[str, ...] = ("step", "final")
) -> CheckpointInfo | None:
    """The newest complete checkpoint of the given kinds (resume point), or None.

    Candidates are hashed newest first and the search stops at the first that verifies, so a resume reads one
    checkpoint (two when the newest is torn), not every checkpoint the run ever wrote.
    """
    candidates = [c for c in list_checkpoints(run_dir, verify=False) if c.kind in kinds]
    return next((c for c in reversed(candidates) if verify_checkpoint(c)), None)


def verify_checkpoint(info: CheckpointInfo) -> bool:
    """Whether the checkpoint file is still there and its sha256 matches its sidecar."""
    return info.path.is_file() and sha256_file(info.path) == info.sha256


def delete_checkpoint(info: CheckpointInfo) -> None:
    """Remove a checkpoint: the sidecar first (so it stops counting as complete at once), then the file."""
    info.sidecar.unlink(missing_ok=True)
    info.path.unlink(missing_ok=True)
