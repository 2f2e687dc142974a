"""``orch archive list DIR``: one row per archive, read from the manifest beside it (no unpacking needed).

An archive without a manifest beside it is read to its end to find the manifest inside (slower, same answer).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from manifests import ManifestError
from orchestrator.archive.reader import CorruptArchive, UnsafeMember, load_beside_manifest, read_inner_manifest
from orchestrator.errors import ArchiveError

__all__ = ["ArchiveRow", "format_best_metric", "list_archives"]

PREFERRED_METRICS = ("eval_episode_return", "success_rate", "snqi", "episode_return", "mean_reward", "return")


@dataclass(frozen=True)
class ArchiveRow:
    """What ``orch archive list`` shows for one archive."""

    archive: Path
    run_id: str
    trainer: str
    status: str
    best_metric: str
    size: int
    created_at: str
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "archive": str(self.archive)}


def format_best_metric(best: dict[str, Any] | None) -> str:
    """``name=value @step`` of the most telling metric of the best checkpoint, or ``-``."""
    if not best or not isinstance(best.get("metrics"), dict):
        return "-"
    metrics = {k: v for k, v in best["metrics"].items() if isinstance(v, int | float) and not isinstance(v, bool)}
    if not metrics:
        return "-"
    name = next((k for k in PREFERRED_METRICS if k in metrics), sorted(metrics)[0])
    step = f" @{best['step']}" if best.get("step") is not None else ""
    return f"{name}={metrics[name]:.4g}{step}"


def _row(archive: Path) -> ArchiveRow:
    size = archive.stat().st_size
    try:
        manifest = load_beside_manifest(archive) or read_inner_manifest(archive)
    except (ManifestError, CorruptArchive, UnsafeMember) as exc:
        stamp = _dt.datetime.fromtimestamp(archive.stat().st_mtime, _dt.UTC).isoformat(timespec="seconds")
        problem = str(exc).splitlines()[0]
        return ArchiveRow(archive, archive.name.removesuffix(".tar.zst"), "?", "?", "-", size, stamp, problem)
    return ArchiveRow(
        archive,
        manifest.run_id,
        manifest.trainer or "?",
        manifest.status or "?",
        format_best_metric(manifest.best_metric),
        size,
        manifest.created_at,
    )


def list_archives(folder: Path) -> list[ArchiveRow]:
    """Every ``*.tar.zst`` in ``folder`` (not recursive), newest first."""
    if not folder.is_dir():
        raise ArchiveError(f"{folder}: no such folder; pass the --dest folder the archives were written to")
    rows = [_row(p) for p in sorted(folder.glob("*.tar.zst")) if p.is_file() and not p.name.startswith(".tmp-")]
    return sorted(rows, key=lambda r: r.created_at, reverse=True)
