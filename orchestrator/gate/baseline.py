"""Baselines: medians of a gate's key metrics over step ranges, across runs and seeds, frozen as JSON.

A baseline is built from one or more finished runs of one configuration (``orch gate baseline RUN... --name NAME``)
and stored as ``baselines/<NAME>.json`` in the repository, so a change that moves a metric shows up in review.
For each metric it keeps a list of step ranges; in each range, every run's values are reduced to their median, then
the runs' medians to one median (plus min/max across runs, to show the spread). The ranges are centred on the
distinct logged steps when there are few of them (evaluation schedules), else on equal-width bins, and end at the
shortest run's last step, so every range is covered by every run.
"""

from __future__ import annotations

import os
import re
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from manifests import atomic_write_json, read_json, utc_now
from manifests.provenance import code_identity
from manifests.shipped import shipped_path
from orchestrator.gate.profiles import GATES, Check, GateProfile, apply_overrides, detect_gate
from orchestrator.gate.rundata import GateError, RunData, Series

__all__ = [
    "BASELINE_SCHEMA_VERSION",
    "baseline_path",
    "build_baseline",
    "create_baseline",
    "default_baselines_dir",
    "load_baseline",
    "pick_step_key",
    "range_medians",
    "resolve_metric",
    "save_baseline",
]

BASELINE_SCHEMA_VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def default_baselines_dir() -> Path:
    """``$ORCH_BASELINES_DIR``, else the shipped ``baselines/`` (the checkout's, or an installed wheel's)."""
    env = os.environ.get("ORCH_BASELINES_DIR")
    return Path(env) if env else shipped_path("baselines")


def baseline_path(name: str, directory: Path | None = None) -> Path:
    """Where baseline ``name`` lives; a name may also be a path to a baseline JSON file."""
    if name.endswith(".json") and Path(name).is_file():
        return Path(name)
    if not _NAME.match(name):
        raise GateError(f"baseline name {name!r}: use letters, digits, '.', '_' and '-' (e.g. cpu_standing_still)")
    return (directory or default_baselines_dir()) / f"{name}.json"


def resolve_metric(runs: Sequence[RunData], names: Sequence[str]) -> str | None:
    """The first of ``names`` that every run carries (as a value or a non-finite marker)."""
    for name in names:
        if all(_has_metric(run, name) for run in runs):
            return name
    return None


def _has_metric(run: RunData, name: str) -> bool:
    s = run.series(name, step_key=None)
    return bool(len(s) or s.nonfinite_steps)


def pick_step_key(runs: Sequence[RunData], metric: str, step_keys: Sequence[str]) -> str | None:
    """The first step axis of the profile on which every run has values of ``metric``."""
    for key in step_keys:
        if all(len(run.series(metric, step_key=key)) for run in runs):
            return key
    return None


def _ranges(series: Sequence[Series], n_bins: int) -> list[dict[str, float]]:
    """Step ranges ``[lo, hi)`` (last one closed) covered by every series, centred on steps or on equal bins."""
    if not series or any(len(s) == 0 for s in series):
        return []
    start = min(min(s.steps) for s in series)
    end = min(max(s.steps) for s in series)
    distinct = sorted({x for s in series for x in s.steps if x <= end})
    if len(distinct) <= n_bins:
        centers = distinct
    else:
        width = (end - start) / n_bins
        centers = [start + width * (i + 0.5) for i in range(n_bins)]
    if len(centers) == 1:
        return [{"lo": centers[0], "hi": centers[0], "center": centers[0]}]
    out = []
    for i, c in enumerate(centers):
        lo = start if i == 0 else (centers[i - 1] + c) / 2
        hi = end if i == len(centers) - 1 else (c + centers[i + 1]) / 2
        out.append({"lo": lo, "hi": hi, "center": c})
    return out


def _in_range(step: float, rng: dict[str, float], last: bool) -> bool:
    return rng["lo"] <= step < rng["hi"] or (last and step == rng["hi"]) or rng["lo"] == rng["hi"] == step


def range_medians(
    series: Sequence[Series], ranges: Sequence[dict[str, float]]
) -> list[tuple[float | None, list[float]]]:
    """For each range: (median across runs of each run's median in the range, the per-run medians)."""
    out: list[tuple[float | None, list[float]]] = []
    for i, rng in enumerate(ranges):
        last = i == len(ranges) - 1
        per_run = []
        for s in series:
            vals = [v for x, v in zip(s.steps, s.values, strict=True) if _in_range(x, rng, last)]
            if vals:
                per_run.append(statistics.median(vals))
        out.append((statistics.median(per_run) if per_run else None, per_run))
    return out


def build_baseline(
    runs: Sequence[RunData],
    *,
    name: str,
    gate: str | None = None,
    tolerances: dict[str, Any] | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """The baseline document for ``runs`` (seeds of one configuration). Raises :class:`GateError` when the runs
    carry none of the gate's metrics or come from different trainers."""
    if not runs:
        raise GateError("a baseline needs at least one run directory")
    gate = gate or detect_gate(list(runs))
    if gate not in GATES:
        raise GateError(f"unknown gate {gate!r}; known: {', '.join(GATES)}")
    profile: GateProfile = GATES[gate]
    n_bins = int(apply_overrides(profile.tolerances, tolerances or {}).get("bins", 10))
    metrics = {
        check.metric: entry
        for check in profile.checks
        if (entry := _metric_entry(runs, check, profile.step_keys, n_bins)) is not None
    }
    if not metrics:
        wanted = sorted({n for c in profile.checks for n in c.names()})
        raise GateError(f"gate {gate}: the runs carry none of its metrics ({', '.join(wanted)}); are they empty?")
    return {
        "schema_version": BASELINE_SCHEMA_VERSION,
        "name": name,
        "gate": gate,
        "trainer": runs[0].trainer,
        "created_at": utc_now(),
        "command": command,
        **_provenance(runs),
        "tolerances": apply_overrides(profile.tolerances, tolerances or {}),
        "metrics": metrics,
    }


def _provenance(runs: Sequence[RunData]) -> dict[str, Any]:
    """Where the baseline comes from: the runs' config hashes, code, ids and seeds."""
    hashes = sorted({r.config_hash for r in runs if r.config_hash})
    return {
        "config_hash": hashes[0] if len(hashes) == 1 else None,
        "config_hashes": hashes,
        "code": {
            "created_with": code_identity(),
            "runs": _unique([{k: r.code.get(k) for k in ("git_commit", "git_dirty")} for r in runs if r.code]),
        },
        "runs": [
            {"run_id": r.run_id, "seed": r.seed, "config_hash": r.config_hash, "status": r.status, "name": r.name}
            for r in runs
        ],
    }


def _metric_entry(
    runs: Sequence[RunData], check: Check, step_keys: Sequence[str], n_bins: int
) -> dict[str, Any] | None:
    """One checked metric of the baseline: the runs' median (and spread) in each of ``n_bins`` step ranges; None
    when the runs do not log it, or on no step axis of the gate."""
    metric = resolve_metric(runs, check.names())
    if metric is None:
        return None
    step_key = pick_step_key(runs, metric, step_keys)
    if step_key is None:
        return None
    series = [run.series(metric, step_key=step_key) for run in runs]
    ranges = _ranges(series, n_bins)
    entries = [
        {**rng, "median": median, "min": min(per_run), "max": max(per_run), "n_runs": len(per_run)}
        for rng, (median, per_run) in zip(ranges, range_medians(series, ranges), strict=True)
        if median is not None
    ]
    return {"name": metric, "step_key": step_key, "rule": check.rule, "ranges": entries}


def _unique(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def save_baseline(document: dict[str, Any], *, directory: Path | None = None, force: bool = False) -> Path:
    """Write the baseline atomically; an existing one is replaced only with ``force`` (refreshing is deliberate)."""
    path = baseline_path(document["name"], directory)
    if path.exists() and not force:
        raise GateError(f"baseline {path} exists; pass --force to refresh it on purpose (see docs/validation.md)")
    atomic_write_json(path, document)
    return path


def load_baseline(name: str, directory: Path | None = None) -> dict[str, Any]:
    """Read baseline ``name`` (or a path to one); a missing or malformed file raises :class:`GateError`."""
    path = baseline_path(name, directory)
    if not path.is_file():
        where = path.parent
        known = sorted(p.stem for p in where.glob("*.json")) if where.is_dir() else []
        hint = f"known: {', '.join(known)}" if known else "create one with `orch gate baseline RUN... --name NAME`"
        raise GateError(f"baseline {name!r} not found at {path} ({hint})")
    try:
        doc = read_json(path)
    except Exception as exc:  # a torn or hand-edited file: say which and why
        raise GateError(f"baseline {path} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("gate") not in GATES or not isinstance(doc.get("metrics"), dict):
        raise GateError(f"baseline {path} is malformed (needs gate and metrics); recreate it with `orch gate baseline`")
    return doc


def create_baseline(
    paths: Sequence[str | os.PathLike[str]],
    *,
    name: str,
    gate: str | None = None,
    tolerances: dict[str, Any] | None = None,
    force: bool = False,
    directory: Path | None = None,
    command: str | None = None,
) -> tuple[Path, dict[str, Any]]:
    """``orch gate baseline``: read the runs (or sweeps) at ``paths``, build and save the baseline."""
    from orchestrator.gate.rundata import load_runs

    document = build_baseline(load_runs(paths), name=name, gate=gate, tolerances=tolerances, command=command)
    return save_baseline(document, directory=directory, force=force), document
