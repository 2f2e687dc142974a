"""The RUN|SWEEP arguments of ``orch archive``, read as every command reads run names (``orchestrator.runref``):
a run id, a unique prefix of one, a sweep id, or a path to a run directory or a folder of them.
"""

from __future__ import annotations

from pathlib import Path

from manifests.store import RUN_MANIFEST, resolve_artifact_root
from orchestrator.runref import resolve_runs

__all__ = ["RUN_MANIFEST", "default_artifact_root", "is_run_dir", "resolve_targets"]

# ``orch archive``'s name for the one artifact-root rule (--artifact-root, $ORCH_ARTIFACT_ROOT, ./output).
default_artifact_root = resolve_artifact_root


def is_run_dir(path: Path) -> bool:
    """A run directory is a folder with a ``run.json`` file."""
    return path.is_dir() and (path / RUN_MANIFEST).is_file()


def resolve_targets(specs: list[str], artifact_root: Path) -> list[Path]:
    """Every run directory the arguments name, each once, in the order given (``orchestrator.runref``'s rules, the
    same for every command)."""
    return resolve_runs(artifact_root, specs)
