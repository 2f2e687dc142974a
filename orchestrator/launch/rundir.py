"""Run directories: where they live, how one is created (before any job exists), and how they are listed.

A run directory is created once, exclusively, and never reused: ``config.yaml`` (the file as given),
``resolved.json`` (what will run) and ``run.json`` (status pending, provenance) are written before the job is
queued, so a run that never starts is still visible to ``orch status``. How a name on the command line becomes run
directories is ``orchestrator.runref``'s one job.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from manifests import (
    RESUMABLE_STATES,
    RunManifest,
    atomic_write_json,
    atomic_write_text,
    resolve_artifact_root,
    save_run_manifest,
    update_run_manifest,
)
from orchestrator.errors import LaunchError
from orchestrator.launch.runspec import RunSpec

__all__ = [
    "RUNS",
    "Provenance",
    "artifact_root",
    "attempt_log_paths",
    "create_run_dir",
    "find_duplicates",
    "iter_run_dirs",
    "newest_submission",
    "read_run_json",
    "read_run_json_checked",
    "record_submission",
]

RUNS = "runs"


def artifact_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--artifact-root``, else ``$ORCH_ARTIFACT_ROOT``, else ``./output`` (absolute): the one rule, in manifests."""
    return resolve_artifact_root(explicit)


@dataclass(frozen=True)
class Provenance:
    """Code identity and versions, computed once per submission and copied into every run."""

    code: Mapping[str, Any]
    versions: Mapping[str, str]
    diff_text: str | None = None
    diff_sha256: str | None = None

    @classmethod
    def collect(cls) -> Provenance:
        import hashlib
        import tempfile

        from manifests.provenance import code_identity, package_versions

        with tempfile.TemporaryDirectory(prefix="orch-prov-") as tmp:
            diff_path = Path(tmp) / "code.diff"
            code = code_identity(diff_to=diff_path)
            diff = diff_path.read_text(encoding="utf-8") if diff_path.exists() else None
        digest = hashlib.sha256(diff.encode()).hexdigest() if diff else None
        return cls(code=code, versions=package_versions(), diff_text=diff, diff_sha256=digest)


def create_run_dir(
    spec: RunSpec,
    provenance: Provenance,
    *,
    scheduler: Mapping[str, Any] | None = None,
    dry_run: bool = False,
) -> Path:
    """Create ``spec.run_dir`` exclusively and write config.yaml, resolved.json, code.diff and run.json (pending)."""
    run_dir = spec.run_dir
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise LaunchError(f"run directory {run_dir} exists already; run directories are never reused") from None
    (run_dir / "logs").mkdir()
    if spec.config_path is not None:
        shutil.copyfile(spec.config_path, run_dir / "config.yaml")
    atomic_write_json(run_dir / "resolved.json", dict(spec.resolved))
    code = dict(provenance.code)
    if provenance.diff_text:
        atomic_write_text(run_dir / "code.diff", provenance.diff_text)
        code["diff_file"] = "code.diff"
    manifest = RunManifest(
        run_id=spec.run_id,
        trainer=spec.trainer,
        name=spec.name,
        status="pending",
        dry_run=dry_run,
        seed=spec.seed,
        config_path=str(spec.config_path) if spec.config_path else None,
        config_hash=spec.config_hash,
        sweep_id=spec.sweep_id,
        grid_point=dict(spec.grid_point),
        code=code,
        versions=dict(provenance.versions),
        scheduler=dict(scheduler or {}),
    )
    manifest.extra["fingerprint"] = spec.fingerprint
    if spec.overrides:
        manifest.extra["overrides"] = list(spec.overrides)
    if spec.trainer_entry:
        manifest.extra["trainer_entry"] = dict(spec.trainer_entry)
    save_run_manifest(run_dir, manifest)
    return run_dir


def attempt_log_paths(run_dir: Path, attempt: int) -> tuple[Path, Path]:
    """``logs/attempt_<K>.out`` and ``.err`` of attempt K (1-based): where the job entry sends the output."""
    logs = Path(run_dir) / "logs"
    return logs / f"attempt_{attempt}.out", logs / f"attempt_{attempt}.err"


def record_submission(run_dir: Path, fields: Mapping[str, Any]) -> None:
    """Merge the backend's answer (job id, log paths) into ``run.json``'s scheduler block. The group of a previous
    job (``runs_per_job``) is dropped unless the new answer names one: a resumed run may be in another group."""

    def change(m: RunManifest) -> None:
        m.scheduler = {**{k: v for k, v in m.scheduler.items() if k != "group"}, **fields}

    update_run_manifest(run_dir, change)


def read_run_json(run_dir: Path) -> dict[str, Any] | None:
    """``run.json`` as a plain dict, or None when missing or unreadable (fast path: no schema check)."""
    try:
        with open(run_dir / "run.json", encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_run_json_checked(run_dir: Path) -> tuple[dict[str, Any] | None, str | None]:
    """``run.json`` as a dict, or None and why it cannot be read (None, None: there is no run.json, not a run)."""
    path = run_dir / "run.json"
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None, None
    except PermissionError:
        return None, (
            f"cannot read {path}: permission denied (its owner wrote it with a strict umask; "
            "ask them to run chmod -R g+rX on the run, and to set umask 002 for shared artifact roots)"
        )
    except (OSError, ValueError) as exc:
        return None, f"cannot read {path}: {exc}"
    if not isinstance(data, dict):
        return None, f"cannot read {path}: not a JSON object"
    return data, None


def iter_run_dirs(root: Path) -> Iterator[Path]:
    """Every run directory under ``<root>/runs`` (folders holding a run.json), in name order (= time order)."""
    folder = root / RUNS
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.is_dir() and not entry.name.startswith("."):
            yield Path(entry.path)


def find_duplicates(root: Path, fingerprints: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """fingerprint -> (run_id, status) of an existing run with that fingerprint that did not fail or get cancelled."""
    wanted = set(fingerprints.values())
    found: dict[str, tuple[str, str]] = {}
    if not wanted:
        return found
    for run_dir in iter_run_dirs(root):
        data = read_run_json(run_dir)
        if not data or data.get("dry_run"):
            continue
        fp = data.get("fingerprint")
        if fp in wanted and data.get("status") not in RESUMABLE_STATES:  # a run that ended badly may run again
            found[fp] = (str(data.get("run_id", run_dir.name)), str(data.get("status")))
    return found


def newest_submission(root: Path) -> list[Path]:
    """The runs of the newest submission (its sweep), or the newest run when it has no sweep id."""
    dirs = list(iter_run_dirs(root))
    if not dirs:
        return []
    newest = read_run_json(dirs[-1]) or {}
    sweep = newest.get("sweep_id")
    if not sweep:
        return [dirs[-1]]
    return [d for d in dirs if (read_run_json(d) or {}).get("sweep_id") == sweep]
