"""``orch archive STUDY --dest DIR``: one checksummed ``<study>.tar.zst`` holding the study and its trials' runs.

Members are ``<study>/study.json``, ``<study>/journal.log``, ``<study>/config.yaml`` and every trial's run directory
under ``<study>/runs/<run_id>/`` (chosen as ``orch archive RUN`` chooses a run's files: checkpoints by
``--checkpoints``, W&B folders with ``--include-wandb``). The archive manifest is a run archive's (so ``orch archive
verify``, ``restore`` and ``list`` work on it as they are), with ``extra.kind = "study"`` and the trial runs listed.
A restored study folder is read by ``orch status`` and ``orch study best`` like the original (trials are found in
its ``runs/``). A study with trials still running is refused unless ``allow_running``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from manifests import ACTIVE_STATES, ArchiveManifest, LeftOutFile
from orchestrator.archive.create import (
    ArchiveOptions,
    ArchiveProgress,
    ArchiveResult,
    archive_paths,
    write_archive,
)
from orchestrator.archive.select import CheckpointPair, PlannedFile, RunPlan, plan_run
from orchestrator.errors import ArchiveError
from orchestrator.study.config import StudyDefinition
from orchestrator.study.store import LOCK, StudyError, read_study

__all__ = ["archive_study"]

STUDY_FILES = ("study.json", "journal.log", "config.yaml")


def _prefixed(plan: RunPlan, prefix: str) -> RunPlan:
    """``plan`` with every path under ``prefix/``."""

    def moved(f: PlannedFile) -> PlannedFile:
        return dataclasses.replace(f, rel=f"{prefix}/{f.rel}")

    out = RunPlan(run_dir=plan.run_dir)
    out.files = [moved(f) for f in plan.files]
    out.checkpoints = [CheckpointPair(moved(p.data), moved(p.sidecar), p.kind, p.step) for p in plan.checkpoints]
    out.directories = [prefix, *(f"{prefix}/{d}" for d in plan.directories)]
    out.left_out = [dataclasses.replace(x, path=f"{prefix}/{x.path}") for x in plan.left_out]
    out.notes = [f"{prefix}: {n}" for n in plan.notes]
    return out


def archive_study(
    folder: Path, run_dirs: list[Path], options: ArchiveOptions, progress: ArchiveProgress | None = None
) -> ArchiveResult:
    """Write the study archive (see the module docstring)."""
    definition = StudyDefinition.from_json(read_study(folder)["definition"])
    active = _preflight(folder, definition, run_dirs, options)
    plan = _study_plan(Path(folder), run_dirs, options)
    manifest = ArchiveManifest(
        run_id=definition.name,
        root=definition.name,
        source=str(Path(folder).resolve()),
        trainer=definition.trainer,
        name=definition.name,
        status="running" if active else "completed",
        sweep_id=definition.name,
        checkpoints_mode=options.checkpoints,
        include_wandb=options.include_wandb,
        captured_while_running=bool(active),
        archive_name=archive_paths(options.dest, definition.name)[0].name,
        extra={"kind": "study", "trial_runs": [d.name for d in run_dirs]},
    )
    return write_archive(plan, manifest, options, progress)


def _preflight(folder: Path, definition: StudyDefinition, run_dirs: list[Path], options: ArchiveOptions) -> list[str]:
    """Refuse what must not be archived (trials running without --allow-running, an archive already there, a
    destination inside the study); returns the trial runs still active."""
    from orchestrator.launch.rundir import read_run_json

    statuses = {d: str((read_run_json(d) or {}).get("status") or "pending") for d in run_dirs}
    active = [d.name for d, s in statuses.items() if s in ACTIVE_STATES]
    if active and not options.allow_running:
        raise ArchiveError(
            f"study {definition.name} has {len(active)} trial run(s) still running ({active[0]}...): wait until they "
            "end, or pass --allow-running (takes only complete checkpoints)"
        )
    archive, _, _ = archive_paths(options.dest, definition.name)
    if archive.exists():
        raise ArchiveError(f"{archive} already exists; choose another --dest or remove the old archive")
    if Path(folder).resolve() in options.dest.resolve().parents or options.dest.resolve() == Path(folder).resolve():
        raise ArchiveError(f"--dest {options.dest} is inside study folder {folder}; choose a folder outside it")
    return active


def _study_plan(folder: Path, run_dirs: list[Path], options: ArchiveOptions) -> RunPlan:
    """The study's own files, then every trial's run under ``runs/<run_id>/`` (files chosen as for a run)."""
    plan = RunPlan(run_dir=folder)
    for name in STUDY_FILES:
        path = folder / name
        if path.is_file():
            plan.files.append(PlannedFile(rel=name, path=path, size=path.stat().st_size))
        elif name != "config.yaml":
            raise StudyError(f"{path} is missing: not a complete study folder")
    plan.left_out.append(LeftOutFile(path=LOCK, reason="the study's lock file (no data)"))
    if run_dirs:
        plan.directories.append("runs")
    for run_dir in run_dirs:
        part = _prefixed(
            plan_run(run_dir, checkpoints=options.checkpoints, include_wandb=options.include_wandb),
            f"runs/{run_dir.name}",
        )
        plan.files += part.files
        plan.checkpoints += part.checkpoints
        plan.directories += part.directories
        plan.left_out += part.left_out
        plan.notes += part.notes
    return plan
