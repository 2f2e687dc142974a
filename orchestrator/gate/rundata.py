"""Read run directories into metric series for gates and plots, tolerating whatever a trainer left out.

A run directory (DESIGN.md) holds ``run.json``, ``resolved.json``, ``metrics.jsonl`` and, for runs with evaluations,
``episodes.jsonl``. Readers here never crash on a missing file, a torn last line, a missing field or a ``null``
(the metrics stream writes non-finite floats as ``null``): those become absent points or non-finite markers.
Only the standard library and numpy are used, so ``orch gate``/``orch plot`` start fast.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from manifests import read_jsonl
from orchestrator.errors import OrchError

__all__ = [
    "EPISODE_STEP_KEYS",
    "METRIC_STEP_KEYS",
    "GateError",
    "RunData",
    "Series",
    "expand_run_paths",
    "load_run",
    "load_runs",
]

# Step axes in the order they are preferred when a caller does not name one.
METRIC_STEP_KEYS: tuple[str, ...] = ("env_steps", "timesteps", "total_timesteps", "step", "opt_steps")
EPISODE_STEP_KEYS: tuple[str, ...] = ("eval_step", "env_steps", "step", "timesteps")
_RUN_MARKERS = ("run.json", "metrics.jsonl", "resolved.json")


class GateError(OrchError):
    """A gate, baseline or plot could not be computed from the given runs."""


@dataclass(frozen=True)
class Series:
    """One metric against one step axis; ``nonfinite_steps`` are steps where the value was NaN, inf or null."""

    steps: list[float]
    values: list[float]
    nonfinite_steps: list[float] = field(default_factory=list)
    wall_time: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.steps)


@dataclass
class RunData:
    """What gates and plots need to know about one run directory."""

    path: Path
    run_id: str
    trainer: str
    name: str
    seed: int | None
    config_hash: str | None
    mode: str | None
    status: str | None
    error: str | None
    code: dict[str, Any]
    metrics: list[dict[str, Any]]
    episodes: list[dict[str, Any]]
    resolved: dict[str, Any]

    @property
    def group_key(self) -> str:
        """Runs of one configuration (seeds apart) share this key: the config hash, else the name."""
        return self.config_hash or self.name

    def metric_keys(self) -> list[str]:
        """Numeric keys that appear in metrics.jsonl (and episode metrics), in first-seen order."""
        seen: dict[str, None] = {}
        for record in self.metrics:
            for key, value in _flatten(record).items():
                if _is_number(value) or value is None:
                    seen.setdefault(key, None)
        for record in self.episodes:
            for key, value in _episode_values(record).items():
                if _is_number(value) or value is None:
                    seen.setdefault(key, None)
        return list(seen)

    def step_key(self, preferred: Sequence[str] = METRIC_STEP_KEYS) -> str | None:
        """The first of ``preferred`` that metrics.jsonl actually carries."""
        for key in preferred:
            if any(_is_number(r.get(key)) for r in self.metrics):
                return key
        return None

    def series(self, metric: str, *, step_key: str | None = None) -> Series:
        """``metric`` against the step axis, from metrics.jsonl, else from episodes.jsonl (episode means per step).

        Lines without a usable step are skipped; a present-but-null or non-finite value is recorded as non-finite.
        """
        found = self._series_from(self.metrics, metric, step_key or self.step_key(), _flatten)
        if len(found) or found.nonfinite_steps:
            return found
        return self.episode_series(metric, step_key=step_key)

    def episode_series(self, metric: str, *, step_key: str | None = None) -> Series:
        """Per-step mean of an episode metric (``metrics.<name>`` or a top-level field) over episodes.jsonl."""
        key = self._episode_step_key(step_key)
        if key is None:
            return Series([], [])
        per_step: dict[float, list[float]] = {}
        bad: set[float] = set()
        for record in self.episodes:
            step = record.get(key)
            values = _episode_values(record)
            if not _is_number(step) or metric not in values:
                continue
            value = values[metric]
            if _is_finite(value):
                per_step.setdefault(float(step), []).append(float(value))
            elif value is None or _is_number(value):
                bad.add(float(step))
        steps = sorted(per_step)
        return Series(steps, [sum(per_step[s]) / len(per_step[s]) for s in steps], sorted(bad))

    def _episode_step_key(self, wanted: str | None) -> str | None:
        """``wanted`` when the episodes have it, else the first of :data:`EPISODE_STEP_KEYS` they give numbers for."""
        if wanted and any(wanted in e for e in self.episodes):
            return wanted
        return next((k for k in EPISODE_STEP_KEYS if any(_is_number(e.get(k)) for e in self.episodes)), None)

    @staticmethod
    def _series_from(records: Iterable[dict[str, Any]], metric: str, step_key: str | None, view: Any) -> Series:
        steps: list[float] = []
        values: list[float] = []
        bad: list[float] = []
        walls: list[float] = []
        if step_key is None:
            return Series([], [])
        for record in records:
            step = record.get(step_key)
            flat = view(record)
            if not _is_number(step) or metric not in flat:
                continue
            value = flat[metric]
            if _is_finite(value):
                steps.append(float(step))
                values.append(float(value))
                wall = record.get("wall_time", record.get("time"))
                walls.append(float(wall) if _is_finite(wall) else math.nan)
            elif value is None or _is_number(value):
                bad.append(float(step))
        return Series(steps, values, bad, walls)

    def wall_time_series(self, metric: str, *, step_key: str | None = None) -> Series:
        """``metric`` against seconds since the first line (``wall_time`` if the trainer logs it, else ``time``)."""
        raw = self.series(metric, step_key=step_key)
        walls = raw.wall_time
        if not walls or all(math.isnan(w) for w in walls):
            return Series([], [])
        start = self._first_wall()
        pairs = [(w - start, v) for w, v in zip(walls, raw.values, strict=True) if not math.isnan(w)]
        return Series([p[0] for p in pairs], [p[1] for p in pairs])

    def _first_wall(self) -> float:
        if any(_is_finite(r.get("wall_time")) for r in self.metrics):
            return 0.0  # wall_time is already seconds since the start of the run
        times = [float(r["time"]) for r in self.metrics if _is_finite(r.get("time"))]
        return min(times) if times else 0.0


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_finite(value: Any) -> TypeGuard[float]:
    return _is_number(value) and math.isfinite(value)


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts flattened with ``/`` (``{"train": {"loss": 1}}`` -> ``train/loss``)."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}/"))
        else:
            flat[name] = value
    return flat


def _episode_values(record: dict[str, Any]) -> dict[str, Any]:
    """An evaluation episode's numbers: its ``metrics`` dict merged over its top-level fields."""
    values = {k: v for k, v in record.items() if not isinstance(v, dict | list)}
    metrics = record.get("metrics")
    if isinstance(metrics, dict):
        values.update(metrics)
    return values


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def is_run_dir(path: Path) -> bool:
    """A folder holding at least one of the files every run directory has."""
    return path.is_dir() and any((path / m).is_file() for m in _RUN_MARKERS)


def load_run(path: str | os.PathLike[str]) -> RunData:
    """Read one run directory; raises :class:`GateError` when ``path`` is not one."""
    run_dir = Path(path)
    if not is_run_dir(run_dir):
        raise GateError(f"{run_dir}: not a run directory (no run.json, resolved.json or metrics.jsonl)")
    manifest = _read_json(run_dir / "run.json")
    resolved = _read_json(run_dir / "resolved.json")
    raw_settings, raw_code = resolved.get("settings"), manifest.get("code")
    settings: dict[str, Any] = raw_settings if isinstance(raw_settings, dict) else {}
    trainer = manifest.get("trainer") or resolved.get("trainer") or "unknown"
    seed = manifest.get("seed", resolved.get("seed"))
    return RunData(
        path=run_dir,
        run_id=str(manifest.get("run_id") or run_dir.name),
        trainer=str(trainer),
        name=str(manifest.get("name") or resolved.get("name") or run_dir.name),
        seed=seed if isinstance(seed, int) else None,
        config_hash=manifest.get("config_hash") or resolved.get("config_hash"),
        mode=settings.get("mode") if isinstance(settings.get("mode"), str) else None,
        status=manifest.get("status"),
        error=manifest.get("error"),
        code=raw_code if isinstance(raw_code, dict) else {},
        metrics=read_jsonl(run_dir / "metrics.jsonl"),
        episodes=read_jsonl(run_dir / "episodes.jsonl"),
        resolved=resolved,
    )


def expand_run_paths(paths: Iterable[str | os.PathLike[str]], *, max_depth: int = 3) -> list[Path]:
    """Run directories named by ``paths``: each a run directory, or a folder (a sweep, an artifact root, ``runs/``)
    searched up to ``max_depth`` levels for run directories. Raises :class:`GateError` when one names none."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if is_run_dir(path):
            found.append(path)
            continue
        if not path.is_dir():
            raise GateError(f"{path}: no such run or sweep directory")
        inner = _search(path, max_depth)
        if not inner:
            raise GateError(f"{path}: holds no run directories (looked {max_depth} levels deep for run.json)")
        found.extend(inner)
    unique: dict[Path, None] = {}
    for p in found:
        unique.setdefault(p.resolve(), None)
    return list(unique)


def _search(folder: Path, depth: int) -> list[Path]:
    if depth <= 0:
        return []
    runs: list[Path] = []
    for child in sorted(folder.iterdir()):
        if not child.is_dir() or child.name.startswith("."):
            continue
        if is_run_dir(child):
            runs.append(child)
        else:
            runs.extend(_search(child, depth - 1))
    return runs


def load_runs(paths: Iterable[str | os.PathLike[str]]) -> list[RunData]:
    """Every run directory named by ``paths`` (see :func:`expand_run_paths`), read."""
    return [load_run(p) for p in expand_run_paths(paths)]
