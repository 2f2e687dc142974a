"""``orch sync``: upload the offline W&B runs that compute nodes without network left in run directories.

On a cluster the job entry makes W&B log offline (``run_dir/wandb/offline-run-<time>-<id>/run-<id>.wandb``, one
folder per attempt: the first start, each requeue, each resume). From a login node, ``orch sync RUN|SWEEP...``
uploads them with ``wandb sync --id <the run's W&B id>``, oldest first, so one orch run is one W&B run across
requeues and resumes. ``wandb sync`` marks each uploaded file (``run-<id>.wandb.synced``); a file without that
marker is what ``orch status`` counts as unsynced.

Light on purpose: reading what is unsynced needs only the file system (``orch status`` does it for every run); W&B
itself is started only to upload, as a subprocess.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import LaunchError
from orchestrator.launch.rundir import read_run_json

__all__ = ["SyncItem", "SyncResult", "plan_sync", "sync_runs", "unsynced_wandb_files", "wandb_sync_command"]

WANDB_DIR = "wandb"
SYNCED_SUFFIX = ".synced"  # wandb sync writes <file>.wandb.synced next to each file it uploaded
DEFAULT_TIMEOUT_S = 900.0


def unsynced_wandb_files(run_dir: Path) -> list[Path]:
    """The offline W&B files of a run not uploaded yet, oldest first (folder names start with their UTC time)."""
    found: list[Path] = []
    try:
        folders = sorted(e.path for e in os.scandir(Path(run_dir) / WANDB_DIR) if e.name.startswith("offline-run-"))
    except (FileNotFoundError, NotADirectoryError):
        return found
    for folder in folders:
        try:
            names = {e.name for e in os.scandir(folder)}
        except OSError:
            continue
        found += [Path(folder) / n for n in sorted(names) if n.endswith(".wandb") and n + SYNCED_SUFFIX not in names]
    return found


@dataclass(frozen=True)
class SyncItem:
    """One run's unsynced files and the W&B run they all belong to."""

    run_id: str
    run_dir: Path
    wandb_run_id: str | None
    files: tuple[Path, ...]


@dataclass
class SyncResult:
    synced: dict[str, int] = field(default_factory=dict)  # run id -> files uploaded
    failed: dict[str, str] = field(default_factory=dict)  # run id -> why
    nothing: list[str] = field(default_factory=list)  # runs with nothing to upload


def plan_sync(run_dirs: Sequence[Path]) -> list[SyncItem]:
    """What each run has to upload (runs with nothing included, with no files)."""
    items = []
    for run_dir in run_dirs:
        data = read_run_json(run_dir) or {}
        tracking = data.get("tracking") or {}
        wandb_id = tracking.get("wandb_run_id")
        files = tuple(unsynced_wandb_files(run_dir))
        items.append(SyncItem(str(data.get("run_id") or run_dir.name), run_dir, wandb_id, files))
    return items


def wandb_sync_command(item: SyncItem, *, dry_run: bool = False) -> list[str]:
    """The ``wandb sync`` call for one run: its files, in order, into its one W&B run."""
    command = [sys.executable, "-m", "wandb", "sync", "--yes"]
    if item.wandb_run_id:
        command += ["--id", item.wandb_run_id]
    if dry_run:
        command.append("--dry-run")
    return command + [str(f) for f in item.files]


def _wandb_upload(item: SyncItem, timeout_s: float) -> str | None:
    """Upload with the real ``wandb sync``; None on success, else why it failed."""
    try:
        result = subprocess.run(
            wandb_sync_command(item), capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        return f"wandb sync did not finish within {timeout_s:.0f} s (is the W&B server reachable from here?)"
    except OSError as exc:
        return f"wandb sync could not run: {exc}"
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        return f"wandb sync exited {result.returncode}: {lines[-1] if lines else 'no output'}"
    return None


def _check_ready() -> None:
    if importlib.util.find_spec("wandb") is None:
        raise LaunchError("W&B is not installed here: pip install wandb (then orch sync again)")
    has_key = bool(os.environ.get("WANDB_API_KEY")) or (Path.home() / ".netrc").exists()
    if not has_key:
        raise LaunchError("no W&B credentials here (WANDB_API_KEY or ~/.netrc): run wandb login, then orch sync again")


def sync_runs(
    items: Sequence[SyncItem],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    upload: Callable[[SyncItem, float], str | None] | None = None,
) -> SyncResult:
    """Upload each run's unsynced files (one ``wandb sync`` per run). A run counts as synced only when every one of
    its files carries W&B's synced marker afterwards."""
    result = SyncResult()
    todo = [i for i in items if i.files]
    result.nothing = [i.run_id for i in items if not i.files]
    if todo and upload is None:
        _check_ready()
    for item in todo:
        why = (upload or _wandb_upload)(item, timeout_s)
        left = [f for f in item.files if not Path(str(f) + SYNCED_SUFFIX).exists()]
        if why is None and not left:
            result.synced[item.run_id] = len(item.files)
        else:
            result.failed[item.run_id] = why or f"{len(left)} file(s) still not marked synced by W&B"
    return result
