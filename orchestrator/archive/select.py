"""Choose what of a run directory goes into its archive, and record what is left out and why.

Everything in the run directory is archived except: temporary files of unfinished atomic writes (``.tmp-*``),
links and special files, the run's lock files (``.run.json.lock``, ``.trainer.lock``: no data), ``wandb/`` unless
asked for, and checkpoints the ``--checkpoints`` mode does not take.
A checkpoint is a file in ``checkpoints/`` named by a JSON sidecar (``{"file": ..., "sha256": ..., "kind": ...}``);
a file there without a sidecar is an incomplete write and is never archived (the same rule resume follows).
Whether a checkpoint's bytes match its sidecar is checked while it is read (see ``create.py``).
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from manifests import LeftOutFile
from manifests.locks import MANIFEST_LOCK, TRAINER_LOCK

__all__ = ["CHECKPOINT_MODES", "CheckpointPair", "PlannedFile", "RunPlan", "plan_run"]

CHECKPOINT_MODES = ("all", "best", "final", "none")
CHECKPOINT_DIR = "checkpoints"
WANDB_DIR = "wandb"
TMP_PREFIX = ".tmp-"  # manifests.io.TMP_PREFIX
LOCK_FILES = frozenset({MANIFEST_LOCK, TRAINER_LOCK})  # advisory locks of the live run, no data


@dataclass(frozen=True)
class PlannedFile:
    """A regular file to archive: its path relative to the run directory (POSIX) and its absolute path."""

    rel: str
    path: Path
    size: int


@dataclass(frozen=True)
class CheckpointPair:
    """A checkpoint file and the sidecar that names it (both relative POSIX paths)."""

    data: PlannedFile
    sidecar: PlannedFile
    kind: str
    step: int


@dataclass
class RunPlan:
    """What to archive, in order, and what is left out."""

    run_dir: Path
    files: list[PlannedFile] = field(default_factory=list)
    checkpoints: list[CheckpointPair] = field(default_factory=list)
    directories: list[str] = field(default_factory=list)
    left_out: list[LeftOutFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        """Bytes to read (for the progress bar)."""
        files = sum(f.size for f in self.files)
        return files + sum(c.data.size + c.sidecar.size for c in self.checkpoints)


def _walk(run_dir: Path, plan: RunPlan, *, include_wandb: bool) -> list[PlannedFile]:
    """Regular files under ``run_dir`` (sorted, ``run.json`` first), filling ``plan.left_out`` and directories."""
    found: list[PlannedFile] = []
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        folder = run_dir / rel_dir if rel_dir else run_dir
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            plan.left_out.append(LeftOutFile(path=rel_dir or ".", reason=f"cannot list folder: {exc.strerror}"))
            continue
        subdirs = []
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if not rel_dir and entry.name in LOCK_FILES:
                continue
            kind = _take(entry, rel, plan, include_wandb=include_wandb)
            if kind == "dir":
                plan.directories.append(rel)
                subdirs.append(rel)
            elif isinstance(kind, PlannedFile):
                found.append(kind)
        stack.extend(reversed(subdirs))
    found.sort(key=lambda f: (f.rel != "run.json", f.rel))
    plan.directories.sort()
    return found


def _take(entry: os.DirEntry[str], rel: str, plan: RunPlan, *, include_wandb: bool) -> PlannedFile | str | None:
    """What to do with one folder entry: a file to archive, ``"dir"`` to walk into, or None (left out, with the
    reason in ``plan.left_out``, or vanished since it was listed)."""
    if entry.name.startswith(TMP_PREFIX):
        plan.left_out.append(LeftOutFile(path=rel, reason="temporary file of an unfinished atomic write"))
        return None
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:
        return None  # vanished between listing and stat
    if stat.S_ISREG(st.st_mode):
        return PlannedFile(rel=rel, path=Path(entry.path), size=st.st_size)
    if stat.S_ISLNK(st.st_mode):
        plan.left_out.append(LeftOutFile(path=rel, reason="symbolic link (archives hold regular files only)"))
    elif not stat.S_ISDIR(st.st_mode):
        plan.left_out.append(LeftOutFile(path=rel, reason="not a regular file (device, fifo or socket)"))
    elif rel == WANDB_DIR and not include_wandb:
        count, size = _du(Path(entry.path))
        reason = f"W&B folder ({count} files): pass --include-wandb to archive it"
        plan.left_out.append(LeftOutFile(path=rel + "/", reason=reason, size=size))
    else:
        return "dir"
    return None


def _du(folder: Path) -> tuple[int, int]:
    count = size = 0
    for root, _dirs, names in os.walk(folder):
        for name in names:
            try:
                size += os.lstat(os.path.join(root, name)).st_size
                count += 1
            except OSError:
                pass
    return count, size


def _read_sidecar(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("file"), str) else None


def _pair_checkpoints(files: list[PlannedFile], plan: RunPlan) -> tuple[list[PlannedFile], list[CheckpointPair]]:
    """Split the files under ``checkpoints/`` into complete-looking pairs and orphans (left out)."""
    by_rel = {f.rel: f for f in files}
    in_ckpt = [f for f in files if f.rel.startswith(CHECKPOINT_DIR + "/")]
    pairs = [pair for pair in (_pair(f, by_rel) for f in in_ckpt if f.rel.endswith(".json")) if pair is not None]
    claimed = {f.rel for p in pairs for f in (p.data, p.sidecar)}
    plan.left_out += [_orphan(f) for f in in_ckpt if f.rel not in claimed]
    others = [f for f in files if f.rel not in claimed and not f.rel.startswith(CHECKPOINT_DIR + "/")]
    pairs.sort(key=lambda p: (p.step, p.data.rel))
    return others, pairs


def _orphan(f: PlannedFile) -> LeftOutFile:
    """A file under ``checkpoints/`` that is not part of a checkpoint pair, left out with the reason."""
    if f.rel.endswith(".json"):
        return LeftOutFile(
            path=f.rel, reason="checkpoint sidecar whose checkpoint file is missing, or not a sidecar", size=f.size
        )
    return LeftOutFile(path=f.rel, reason="no sidecar names this file: not a complete checkpoint", size=f.size)


def _pair(sidecar: PlannedFile, by_rel: dict[str, PlannedFile]) -> CheckpointPair | None:
    """The checkpoint a sidecar names, in the same folder, when both exist; else None."""
    meta = _read_sidecar(sidecar.path)
    if meta is None or "/" in meta["file"]:
        return None
    target = f"{sidecar.rel.rsplit('/', 1)[0]}/{meta['file']}"
    if target not in by_rel or target == sidecar.rel:
        return None
    step = meta.get("step")
    return CheckpointPair(by_rel[target], sidecar, str(meta.get("kind", "step")), step if isinstance(step, int) else 0)


def _chosen(pairs: list[CheckpointPair], mode: str, plan: RunPlan) -> list[CheckpointPair]:
    """The pairs ``--checkpoints MODE`` takes (best: of kind best; final: of kind final, else the newest)."""
    if mode == "all":
        return pairs
    if mode == "none":
        return []
    chosen = [p for p in pairs if p.kind == mode]
    if chosen or not pairs:
        return chosen
    if mode == "best":
        plan.notes.append("--checkpoints best: the run has no checkpoint of kind 'best'")
        return []
    plan.notes.append(f"--checkpoints final: no 'final' checkpoint; took the newest, {pairs[-1].data.rel}")
    return [pairs[-1]]


def _choose(pairs: list[CheckpointPair], mode: str, plan: RunPlan) -> list[CheckpointPair]:
    """The pairs to archive; the others left out, saying why."""
    chosen = _chosen(pairs, mode, plan)
    keep = {id(p) for p in chosen}
    for p in pairs:
        if id(p) not in keep:
            for f in (p.data, p.sidecar):
                plan.left_out.append(LeftOutFile(path=f.rel, reason=f"not chosen by --checkpoints {mode}", size=f.size))
    return chosen


def plan_run(run_dir: Path, *, checkpoints: str = "all", include_wandb: bool = False) -> RunPlan:
    """The archive plan of one run directory."""
    if checkpoints not in CHECKPOINT_MODES:
        raise ValueError(f"checkpoints mode {checkpoints!r} is not one of {CHECKPOINT_MODES}")
    plan = RunPlan(run_dir=run_dir)
    files = _walk(run_dir, plan, include_wandb=include_wandb)
    plan.files, pairs = _pair_checkpoints(files, plan)
    plan.checkpoints = _choose(pairs, checkpoints, plan)
    return plan
