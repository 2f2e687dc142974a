"""Checksummed, verifiable, safely restorable ``.tar.zst`` archives of run directories (``orch archive``)."""

from orchestrator.archive.create import ArchiveOptions as ArchiveOptions
from orchestrator.archive.create import ArchiveProgress as ArchiveProgress
from orchestrator.archive.create import ArchiveResult as ArchiveResult
from orchestrator.archive.create import archive_run as archive_run
from orchestrator.archive.create import archive_runs as archive_runs
from orchestrator.archive.listing import ArchiveRow as ArchiveRow
from orchestrator.archive.listing import list_archives as list_archives
from orchestrator.archive.restore import RestoreResult as RestoreResult
from orchestrator.archive.restore import restore_archive as restore_archive
from orchestrator.archive.select import CHECKPOINT_MODES as CHECKPOINT_MODES
from orchestrator.archive.targets import default_artifact_root as default_artifact_root
from orchestrator.archive.targets import resolve_targets as resolve_targets
from orchestrator.archive.verify import VerifyReport as VerifyReport
from orchestrator.archive.verify import verify_archive as verify_archive

__all__ = [
    "CHECKPOINT_MODES",
    "ArchiveOptions",
    "ArchiveProgress",
    "ArchiveResult",
    "ArchiveRow",
    "RestoreResult",
    "VerifyReport",
    "archive_run",
    "archive_runs",
    "default_artifact_root",
    "list_archives",
    "resolve_targets",
    "restore_archive",
    "verify_archive",
]
