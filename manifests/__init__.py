"""Run and policy manifests: the shared language of orch's parts. Imports nothing else of ours."""

from manifests.archive import ArchivedFile as ArchivedFile
from manifests.archive import ArchiveManifest as ArchiveManifest
from manifests.archive import LeftOutFile as LeftOutFile
from manifests.archive import load_archive_manifest as load_archive_manifest
from manifests.archive import save_archive_manifest as save_archive_manifest
from manifests.errors import ExitCode as ExitCode
from manifests.errors import ManifestError as ManifestError
from manifests.errors import OrchError as OrchError
from manifests.io import atomic_path as atomic_path
from manifests.io import atomic_write_bytes as atomic_write_bytes
from manifests.io import atomic_write_json as atomic_write_json
from manifests.io import atomic_write_text as atomic_write_text
from manifests.io import read_json as read_json
from manifests.io import read_jsonl as read_jsonl
from manifests.io import remove_stale_temporaries as remove_stale_temporaries
from manifests.io import sha256_file as sha256_file
from manifests.locks import RunDirLock as RunDirLock
from manifests.locks import RunLockedError as RunLockedError
from manifests.locks import manifest_lock as manifest_lock
from manifests.locks import trainer_holding as trainer_holding
from manifests.models import ACTIVE_STATES as ACTIVE_STATES
from manifests.models import RESUMABLE_STATES as RESUMABLE_STATES
from manifests.models import RUN_STATES as RUN_STATES
from manifests.models import TERMINAL_STATES as TERMINAL_STATES
from manifests.models import ArchiveRecord as ArchiveRecord
from manifests.models import Attempt as Attempt
from manifests.models import CheckpointRecord as CheckpointRecord
from manifests.models import PolicyManifest as PolicyManifest
from manifests.models import RunManifest as RunManifest
from manifests.models import utc_now as utc_now
from manifests.schema import validate_document as validate_document
from manifests.store import ENV_ARTIFACT_ROOT as ENV_ARTIFACT_ROOT
from manifests.store import load_policy_manifest as load_policy_manifest
from manifests.store import load_run_manifest as load_run_manifest
from manifests.store import publish_policy_manifest as publish_policy_manifest
from manifests.store import resolve_artifact_root as resolve_artifact_root
from manifests.store import save_policy_manifest as save_policy_manifest
from manifests.store import save_run_manifest as save_run_manifest
from manifests.store import update_run_manifest as update_run_manifest

__all__ = [
    "ACTIVE_STATES",
    "ENV_ARTIFACT_ROOT",
    "RESUMABLE_STATES",
    "RUN_STATES",
    "TERMINAL_STATES",
    "ArchiveManifest",
    "ArchiveRecord",
    "ArchivedFile",
    "Attempt",
    "CheckpointRecord",
    "ExitCode",
    "LeftOutFile",
    "ManifestError",
    "OrchError",
    "PolicyManifest",
    "RunDirLock",
    "RunLockedError",
    "RunManifest",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "load_archive_manifest",
    "load_policy_manifest",
    "load_run_manifest",
    "manifest_lock",
    "publish_policy_manifest",
    "read_json",
    "read_jsonl",
    "remove_stale_temporaries",
    "resolve_artifact_root",
    "save_archive_manifest",
    "save_policy_manifest",
    "save_run_manifest",
    "sha256_file",
    "trainer_holding",
    "update_run_manifest",
    "utc_now",
    "validate_document",
]
