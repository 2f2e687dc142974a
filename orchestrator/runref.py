"""One way to name runs, for every command that takes them (status, logs, cancel, resume, sync, eval, plot, archive,
gate): a word becomes run directories by these rules, in order.

1. A path (it contains ``/``, or starts with ``.`` or ``~``): a run directory (it holds ``run.json``), or a folder
   holding run directories up to three levels down (a sweep folder, ``<root>/runs``, an artifact root).
2. An exact run id under ``<artifact_root>/runs/``.
3. An exact sweep id: every run whose ``run.json`` records it.
4. A prefix of exactly one run id.
5. A folder of that name in the working directory (a run directory or a folder of them, as in 1).

An empty word, or a prefix of several run ids, is an error that changes nothing: ``orch cancel ''`` (an unset shell
variable) or ``orch cancel 2`` must never reach every run. Sweep ids are never matched by prefix for the same reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from orchestrator.errors import RunRefError
from orchestrator.launch.rundir import RUNS, iter_run_dirs, read_run_json

__all__ = ["FOLDER_DEPTH", "RUN_FORMS", "resolve_run", "resolve_runs"]

FOLDER_DEPTH = 3
RUN_FORMS = "a run id, a unique prefix of one, a sweep id, or a path to a run directory"
_SHOWN = 8


def _is_run_dir(path: Path) -> bool:
    return (path / "run.json").is_file()


def _looks_like_path(word: str) -> bool:
    return os.sep in word or word.startswith((".", "~")) or (os.altsep is not None and os.altsep in word)


def _runs_under(folder: Path, depth: int) -> list[Path]:
    """Run directories inside ``folder`` (not itself), searched ``depth`` levels down, in name order."""
    if depth <= 0:
        return []
    found: list[Path] = []
    try:
        children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []
    for child in children:
        found.extend([child] if _is_run_dir(child) else _runs_under(child, depth - 1))
    return found


def _from_path(word: str, path: Path) -> list[Path]:
    if _is_run_dir(path):
        return [path.absolute()]
    if not path.is_dir():
        raise RunRefError(f"{word}: no such run or sweep directory (a path names a run directory or a folder of them)")
    runs = _runs_under(path, FOLDER_DEPTH)
    if not runs:
        raise RunRefError(f"{word}: holds no run directories (looked {FOLDER_DEPTH} levels deep for run.json)")
    return [r.absolute() for r in runs]


def _sweep_members(root: Path, sweep_id: str) -> list[Path]:
    return [d for d in iter_run_dirs(root) if (read_run_json(d) or {}).get("sweep_id") == sweep_id]


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" ... ({len(names) - _SHOWN} more)" if len(names) > _SHOWN else "")


def _resolve_word(root: Path, word: str) -> list[Path]:
    if not word.strip():
        raise RunRefError(f"an empty run name names nothing (an unset shell variable?); give {RUN_FORMS}")
    if _looks_like_path(word):
        return _from_path(word, Path(word).expanduser())
    runs_dir = root / RUNS
    if _is_run_dir(runs_dir / word):
        return [runs_dir / word]
    members = _sweep_members(root, word)
    if members:
        return members
    matches = [d for d in iter_run_dirs(root) if d.name.startswith(word) and _is_run_dir(d)]
    if len(matches) == 1:
        return matches
    if len(matches) > 1:
        raise RunRefError(
            f"{word!r} is the start of {len(matches)} run ids: {_listing([m.name for m in matches])}; "
            "give a whole run id, a longer prefix, or the sweep id"
        )
    if Path(word).is_dir():
        return _from_path(word, Path(word))
    raise RunRefError(f"no run or sweep {word!r} under {runs_dir}; list runs with orch status --all")


def resolve_runs(root: Path, words: Iterable[str]) -> list[Path]:
    """Every run directory the words name, each once, in the order given. Raises :class:`RunRefError` for any word
    that names nothing or several runs ambiguously, before anything is done to any run."""
    words = list(words)
    if not words:
        raise RunRefError(f"name at least one run: {RUN_FORMS}")
    seen: set[Path] = set()
    out: list[Path] = []
    for word in words:
        for run_dir in _resolve_word(root, word):
            key = run_dir.resolve()
            if key not in seen:
                seen.add(key)
                out.append(run_dir)
    return out


def resolve_run(root: Path, word: str) -> Path:
    """The one run a word names (``orch logs``, ``orch eval``); a sweep of several runs is an error listing them."""
    runs = resolve_runs(root, [word])
    if len(runs) > 1:
        raise RunRefError(
            f"{word!r} names {len(runs)} runs ({_listing([r.name for r in runs])}); this command takes one run"
        )
    return runs[0]
