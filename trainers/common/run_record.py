"""The trainer's side of ``run.json``: mark the run running, record progress and checkpoints, end it.

The launcher creates ``run.json`` (status pending) before the job starts; these helpers move it on. Every write goes
through :func:`manifests.update_run_manifest` (atomic), so ``orch status`` never reads a torn manifest.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from manifests import (
    CheckpointRecord,
    RunManifest,
    load_run_manifest,
    manifest_lock,
    save_run_manifest,
    update_run_manifest,
    utc_now,
)
from manifests.provenance import code_identity, host_info, package_versions

__all__ = ["RunRecorder"]


class RunRecorder:
    """Moves one run's manifest through its states. Creates a minimal manifest when the run has none yet
    (a trainer called directly from a test or a notebook), so trainers never depend on the launcher."""

    def __init__(self, run_dir: str | os.PathLike[str], *, resolved: dict[str, Any] | None = None):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with manifest_lock(self.run_dir):  # check-and-create, like every other write of run.json, under its lock
            if (self.run_dir / "run.json").exists():
                return
            resolved = resolved or {}
            manifest = RunManifest(
                run_id=self.run_dir.name,
                trainer=str(resolved.get("trainer", "unknown")),
                name=str(resolved.get("name", self.run_dir.name)),
                seed=resolved.get("seed"),
                config_hash=resolved.get("config_hash"),
            )
            save_run_manifest(self.run_dir, manifest)

    def load(self) -> RunManifest:
        return load_run_manifest(self.run_dir, validate=False)

    def mark_running(self, *, total_steps: int | None = None, versions: tuple[str, ...] | None = None) -> None:
        """Status running; provenance (code, versions, host) filled in on the node that actually trains."""
        code = code_identity(diff_to=self.run_dir / "code.diff")
        vers = package_versions(versions) if versions else package_versions()
        host = host_info()

        def change(m: RunManifest) -> None:
            m.status = "running"
            m.started_at = m.started_at or utc_now()
            m.ended_at = None
            m.error = None
            m.code = m.code or code
            m.versions = {**m.versions, **vers}
            m.host = {**m.host, **host}
            if total_steps is not None:
                m.progress = {**m.progress, "total_steps": int(total_steps)}

        update_run_manifest(self.run_dir, change)

    def record_progress(self, step: int, *, metrics: dict[str, Any] | None = None, **fields: Any) -> None:
        """Latest step (and metrics) after an evaluation or a checkpoint."""

        def change(m: RunManifest) -> None:
            m.progress = {**m.progress, "step": int(step), "updated_at": utc_now(), **fields}
            if metrics:
                m.metrics = {**m.metrics, **metrics}

        update_run_manifest(self.run_dir, change)

    def record_checkpoint(self, path: Path, *, step: int, sha256: str, kind: str, metrics: dict[str, Any]) -> None:
        """Add (or replace, for best/final) a checkpoint record; paths are relative to the run directory."""
        rel = str(Path(path).resolve().relative_to(self.run_dir.resolve()))

        def change(m: RunManifest) -> None:
            keep = [c for c in m.checkpoints if c.path != rel and not (kind in ("best", "final") and c.kind == kind)]
            keep.append(CheckpointRecord(path=rel, step=int(step), sha256=sha256, kind=kind, metrics=metrics))
            m.checkpoints = keep

        update_run_manifest(self.run_dir, change)

    def drop_checkpoints(self, paths: list[Path]) -> None:
        """Forget checkpoint records whose files the trainer deleted (``keep_last``)."""
        gone = {str(Path(p).resolve().relative_to(self.run_dir.resolve())) for p in paths}

        def change(m: RunManifest) -> None:
            m.checkpoints = [c for c in m.checkpoints if c.path not in gone]

        update_run_manifest(self.run_dir, change)

    def set_tracking(self, **fields: Any) -> None:
        """TensorBoard folder, W&B run id and mode (the W&B id is reused on resume)."""
        update_run_manifest(self.run_dir, lambda m: m.tracking.update(fields))

    def set_policy_manifest(self, relpath: str) -> None:
        def change(m: RunManifest) -> None:
            m.policy_manifest = relpath

        update_run_manifest(self.run_dir, change)

    def mark_completed(self, *, metrics: dict[str, Any] | None = None) -> None:
        def change(m: RunManifest) -> None:
            m.status = "completed"
            m.ended_at = utc_now()
            if metrics:
                m.metrics = {**m.metrics, **metrics}

        update_run_manifest(self.run_dir, change)

    def mark_failed(self, error: str) -> None:
        """Status failed with a one-line reason (the full traceback belongs in ``failures/`` or the log)."""

        def change(m: RunManifest) -> None:
            m.status = "failed"
            m.ended_at = utc_now()
            m.error = error

        update_run_manifest(self.run_dir, change)
