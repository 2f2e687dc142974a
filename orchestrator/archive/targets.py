"""Turn the RUN|SWEEP arguments of ``orch archive`` into run directories.

An argument is, in this order: a run directory (it holds ``run.json``), a folder holding run directories (a sweep
folder, or ``<root>/runs`` itself), a run id under ``<artifact_root>/runs/``, or a sweep id (every run whose
``run.json`` has that ``sweep_id``).
"""

from __future__ import annotations

import json
from pathlib import Path

from manifests.store import RUN_MANIFEST, resolve_artifact_root
from orchestrator.errors import ArchiveError

__all__ = ["RUN_MANIFEST", "default_artifact_root", "is_run_dir", "resolve_targets"]

# ``orch archive``'s name for the one artifact-root rule (--artifact-root, $ORCH_ARTIFACT_ROOT, ./output).
default_artifact_root = resolve_artifact_root


def is_run_dir(path: Path) -> bool:
    """A run directory is a folder with a ``run.json`` file."""
    return path.is_dir() and (path / RUN_MANIFEST).is_file()


def _child_runs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if is_run_dir(p))


def _sweep_runs(runs_dir: Path, sweep_id: str) -> list[Path]:
    if not runs_dir.is_dir():
        return []
    found = []
    for run_dir in _child_runs(runs_dir):
        try:
            data = json.loads((run_dir / RUN_MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("sweep_id") == sweep_id:
            found.append(run_dir)
    return found


def resolve_one(spec: str, artifact_root: Path) -> list[Path]:
    """The run directories one argument names; raises :class:`ArchiveError` when it names none."""
    path = Path(spec)
    if is_run_dir(path):
        return [path]
    if path.is_dir():
        runs = _child_runs(path)
        if runs:
            return runs
        raise ArchiveError(f"{spec}: a folder with no run.json and no run directories in it; pass a run directory")
    runs_dir = artifact_root / "runs"
    if "/" not in spec and spec not in (".", "..") and is_run_dir(runs_dir / spec):
        return [runs_dir / spec]
    sweep = _sweep_runs(runs_dir, spec)
    if sweep:
        return sweep
    raise ArchiveError(
        f"{spec}: no such run directory, run id or sweep id under {runs_dir} "
        "(pass a run directory path, or set --artifact-root / $ORCH_ARTIFACT_ROOT)"
    )


def resolve_targets(specs: list[str], artifact_root: Path) -> list[Path]:
    """Every run directory the arguments name, each once, in the order given."""
    if not specs:
        raise ArchiveError("name at least one run or sweep to archive")
    seen: set[Path] = set()
    out: list[Path] = []
    for spec in specs:
        for run_dir in resolve_one(spec, artifact_root):
            key = run_dir.resolve()
            if key not in seen:
                seen.add(key)
                out.append(run_dir)
    return out
