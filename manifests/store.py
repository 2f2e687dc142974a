"""Reading and writing manifests in a run directory.

``run.json`` is rewritten in place (atomically) as a run moves; ``policy.json`` is written once per run, and the
published copy under ``<artifact_root>/policies/<policy_id>/`` gets a fresh version name so that a rerun never
overwrites an earlier policy (upstream keyed it by policy_id alone and lost runs that way).
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable
from pathlib import Path

from manifests.io import atomic_write_json, read_json
from manifests.locks import manifest_lock
from manifests.models import PolicyManifest, RunManifest
from manifests.schema import validate_document

__all__ = [
    "ENV_ARTIFACT_ROOT",
    "POLICY_MANIFEST",
    "RUN_MANIFEST",
    "load_policy_manifest",
    "load_run_manifest",
    "publish_policy_manifest",
    "resolve_artifact_root",
    "save_policy_manifest",
    "save_run_manifest",
    "update_run_manifest",
]

RUN_MANIFEST = "run.json"
POLICY_MANIFEST = "policy.json"
ENV_ARTIFACT_ROOT = "ORCH_ARTIFACT_ROOT"


def resolve_artifact_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--artifact-root``, else ``$ORCH_ARTIFACT_ROOT``, else ``./output``; ``~`` expanded, made absolute.

    The one rule for where ``runs/`` and ``policies/`` live. Absolute, so that a path recorded in a manifest or
    handed to a Slurm job means the same from any working directory.
    """
    chosen = explicit or os.environ.get(ENV_ARTIFACT_ROOT) or "output"
    return Path(chosen).expanduser().absolute()


def load_run_manifest(run_dir: str | os.PathLike[str], *, validate: bool = True) -> RunManifest:
    """Read ``run_dir/run.json`` (checked against its schema unless ``validate`` is false)."""
    path = Path(run_dir) / RUN_MANIFEST
    data = read_json(path)
    if validate:
        validate_document("run_manifest", data, source=str(path))
    return RunManifest.from_dict(data)


def save_run_manifest(run_dir: str | os.PathLike[str], manifest: RunManifest) -> Path:
    """Validate and atomically write ``run.json``."""
    manifest.touch()
    data = manifest.to_dict()
    path = Path(run_dir) / RUN_MANIFEST
    validate_document("run_manifest", data, source=str(path))
    return atomic_write_json(path, data)


def update_run_manifest(run_dir: str | os.PathLike[str], change: Callable[[RunManifest], None]) -> RunManifest:
    """Load ``run.json``, apply ``change`` to it, and write it back atomically, holding the run's manifest lock.

    A run has several writers that can act at the same moment (the trainer, ``orch cancel``, ``orch archive``,
    ``orch resume``, the job's signal handler); without the lock two of them read the same version and one update is
    lost. The atomic rename means readers need no lock: they never see a half-written file.
    """
    with manifest_lock(run_dir):
        manifest = load_run_manifest(run_dir, validate=False)
        change(manifest)
        save_run_manifest(run_dir, manifest)
    return manifest


def load_policy_manifest(path: str | os.PathLike[str]) -> PolicyManifest:
    """Read a policy manifest file (or ``<dir>/policy.json``) and check it against its schema."""
    p = Path(path)
    if p.is_dir():
        p = p / POLICY_MANIFEST
    data = read_json(p)
    validate_document("policy_manifest", data, source=str(p))
    return PolicyManifest.from_dict(data)


def save_policy_manifest(run_dir: str | os.PathLike[str], manifest: PolicyManifest) -> Path:
    """Validate and atomically write ``run_dir/policy.json``."""
    data = manifest.to_dict()
    path = Path(run_dir) / POLICY_MANIFEST
    validate_document("policy_manifest", data, source=str(path))
    return atomic_write_json(path, data)


def publish_policy_manifest(artifact_root: str | os.PathLike[str], manifest: PolicyManifest) -> Path:
    """Copy a policy manifest to ``policies/<policy_id>/<version>.json`` under a version name nobody has used.

    The version is the UTC date (upstream's ``YYYYMMDD``); a second publication the same day becomes
    ``YYYYMMDD.2`` and so on. The name is claimed with ``O_EXCL`` so two concurrent runs cannot take the same one.
    """
    folder = Path(artifact_root) / "policies" / manifest.policy_id
    folder.mkdir(parents=True, exist_ok=True)
    day = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d")
    counter = 1
    while True:
        version = day if counter == 1 else f"{day}.{counter}"
        target = folder / f"{version}.json"
        try:
            fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            counter += 1
            continue
        os.close(fd)
        manifest.version = version
        data = manifest.to_dict()
        validate_document("policy_manifest", data, source=str(target))
        atomic_write_json(target, data)
        return target
