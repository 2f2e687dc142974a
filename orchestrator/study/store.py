"""Where a study lives and its manifest: ``<artifact_root>/studies/<study_name>/``.

::

    study.json      the study manifest: its definition (metric, objective, space, pruner, sampler, the trainer
                    config every trial starts from), and every submission of workers (when, where, job ids)
    journal.log     Optuna's journal (JournalStorage on a file: append-only, locked for every write, safe on the
                    shared filesystems of a cluster where SQLite is not); the truth about trials
    config.yaml     the study file as given (the first submission's)
    .study.lock     held around "fail the trials of dead workers, then ask for a new one", so no two workers
                    re-ask the same trial or ask past the budget

Each trial is an ordinary run directory under ``<artifact_root>/runs/`` whose ``run.json`` records the study, the
trial number and its parameters (``study``), and whose ``sweep_id`` is the study's name. Light: stdlib and manifests.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from manifests import atomic_write_json, utc_now
from manifests.locks import file_lock
from orchestrator.errors import OrchError

__all__ = [
    "JOURNAL",
    "STUDIES",
    "STUDY_JSON",
    "StudyError",
    "find_study",
    "read_study",
    "study_dir",
    "study_lock",
    "study_runs",
    "trial_run_dir",
    "update_study",
]

STUDIES = "studies"
STUDY_JSON = "study.json"
JOURNAL = "journal.log"
LOCK = ".study.lock"
LOCK_TIMEOUT_S = 300.0
STUDY_SCHEMA_VERSION = 1


class StudyError(OrchError):
    """A study cannot be created, continued, read or shown (the message says why and what to do)."""


def study_dir(root: Path, name: str) -> Path:
    return Path(root) / STUDIES / name


def find_study(root: Path, word: str) -> Path | None:
    """The study folder a word names: a study name under ``<root>/studies/``, or a path to a study folder (one
    holding ``study.json``); None when it names no study (the word may still name runs)."""
    if not word or not word.strip():
        return None
    candidates = [study_dir(root, word)] if "/" not in word and not word.startswith((".", "~")) else []
    candidates.append(Path(word).expanduser())
    for folder in candidates:
        if (folder / STUDY_JSON).is_file():
            return folder.absolute()
    return None


def read_study(folder: Path) -> dict[str, Any]:
    """The study manifest of ``folder``; :class:`StudyError` when it cannot be read."""
    path = Path(folder) / STUDY_JSON
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StudyError(f"{folder} is not a study folder (no {STUDY_JSON})") from None
    except (OSError, ValueError) as exc:
        raise StudyError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or "definition" not in data:
        raise StudyError(f"{path} is not a study manifest")
    return data


@contextlib.contextmanager
def study_lock(folder: Path, *, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """The study's lock (an advisory ``flock``, dropped by the kernel if its holder dies)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    with file_lock(Path(folder) / LOCK, timeout_s=timeout_s):
        yield


def update_study(folder: Path, change: Callable[[dict[str, Any]], None], *, create: bool = False) -> dict[str, Any]:
    """Read-modify-write ``study.json`` atomically; the caller holds :func:`study_lock`."""
    path = Path(folder) / STUDY_JSON
    if create and not path.exists():
        data: dict[str, Any] = {"schema_version": STUDY_SCHEMA_VERSION, "created_at": utc_now(), "submissions": []}
    else:
        data = read_study(folder)
    change(data)
    data["updated_at"] = utc_now()
    atomic_write_json(path, data)
    return data


def trial_run_dir(root: Path, folder: Path, run_id: str | None, recorded: str | None) -> Path | None:
    """Where a trial's run directory is now: as recorded, else under this artifact root's ``runs/``, else inside the
    study folder (a restored study archive keeps its trials in ``<study>/runs/``)."""
    options = [Path(recorded)] if recorded else []
    if run_id:
        options += [Path(root) / "runs" / run_id, Path(folder) / "runs" / run_id]
    for option in options:
        if (option / "run.json").is_file():
            return option
    return None


def study_runs(root: Path, folder: Path) -> list[Path]:
    """The trial run directories of a study: runs whose ``sweep_id`` is the study's name under the artifact root,
    else (a restored study archive) the runs inside the study folder."""
    from orchestrator.launch.rundir import iter_run_dirs, read_run_json

    name = str(read_study(folder).get("name") or Path(folder).name)
    found = [d for d in iter_run_dirs(Path(root)) if (read_run_json(d) or {}).get("sweep_id") == name]
    inside = Path(folder) / "runs"
    if not found and inside.is_dir():
        found = sorted(d for d in inside.iterdir() if (d / "run.json").is_file())
    return found


def artifact_root_of(folder: Path) -> Path:
    """The artifact root a study folder belongs to (``<root>/studies/<name>``), for its trial runs."""
    folder = Path(folder).absolute()
    return folder.parent.parent if folder.parent.name == STUDIES else Path(os.fspath(folder))
