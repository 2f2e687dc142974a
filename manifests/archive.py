"""Archive manifest: what one ``.tar.zst`` of a run holds, what was left out and why, and the archive's checksum.

The manifest is written twice: inside the archive (last member, ``ORCH_ARCHIVE.json``; it cannot hold the archive's
own sha256) and beside it (``<run_id>.manifest.json``, with ``archive_sha256`` and ``archive_size`` filled in), so an
archive can be checked without unpacking and listed without reading it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from manifests.io import atomic_write_json, read_json
from manifests.models import _Model, utc_now
from manifests.schema import validate_document

__all__ = [
    "ARCHIVE_FORMAT",
    "ARCHIVE_MANIFEST_MEMBER",
    "ArchiveManifest",
    "ArchivedFile",
    "LeftOutFile",
    "load_archive_manifest",
    "save_archive_manifest",
]

ARCHIVE_FORMAT = "orch-run-archive"
ARCHIVE_MANIFEST_MEMBER = "ORCH_ARCHIVE.json"


@dataclass
class ArchivedFile(_Model):
    """One regular file in the archive, by its path inside the run directory."""

    path: str
    size: int
    sha256: str
    mtime: float = 0.0
    mode: int = 0o644
    role: str = "file"  # file | checkpoint | sidecar
    note: str | None = None


@dataclass
class LeftOutFile(_Model):
    """A file (or folder) of the run that is not in the archive, and why."""

    path: str
    reason: str
    size: int | None = None


@dataclass
class ArchiveManifest(_Model):
    """The archive manifest document (``schemas/archive_manifest.schema.json``)."""

    SCHEMA_VERSION: ClassVar[int] = 1
    _nested_lists: ClassVar[dict[str, type]] = {"files": ArchivedFile, "left_out": LeftOutFile}

    run_id: str
    root: str  # the top folder of every member: the run directory's name
    format: str = ARCHIVE_FORMAT
    schema_version: int = 1
    created_at: str = field(default_factory=utc_now)
    source: str = ""
    trainer: str = ""
    name: str = ""
    status: str = ""
    sweep_id: str | None = None
    best_metric: dict[str, Any] | None = None
    checkpoints_mode: str = "all"
    include_wandb: bool = False
    captured_while_running: bool = False
    compression: dict[str, Any] = field(default_factory=dict)
    files: list[ArchivedFile] = field(default_factory=list)
    directories: list[str] = field(default_factory=list)
    left_out: list[LeftOutFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    total_size: int = 0
    archive_name: str | None = None
    archive_sha256: str | None = None
    archive_size: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def save_archive_manifest(path: str | os.PathLike[str], manifest: ArchiveManifest) -> Path:
    """Validate and atomically write an archive manifest."""
    data = manifest.to_dict()
    validate_document("archive_manifest", data, source=str(path))
    return atomic_write_json(path, data)


def load_archive_manifest(path: str | os.PathLike[str]) -> ArchiveManifest:
    """Read an archive manifest file and check it against its schema."""
    data = read_json(path)
    validate_document("archive_manifest", data, source=str(path))
    return ArchiveManifest.from_dict(data)
