"""Compare runs with a baseline under a gate's rules; one verdict line and a JSON summary.

The candidate runs (one run, or seeds of one configuration) are reduced exactly as the baseline was: per step range,
each run's median, then the median across runs. Each range at or past ``min_step_fraction`` of the baseline's span is
compared by the check's rule (see :mod:`orchestrator.gate.profiles`). A gate fails when any check fails, when fewer
than ``min_coverage`` of the eligible ranges were reached, on non-finite values (any, or a sustained streak), or when a
run ended ``failed`` (the Dreamer trainer stops at the first non-finite loss and says so in run.json).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.gate.baseline import load_baseline, range_medians, resolve_metric
from orchestrator.gate.profiles import GATES, GateProfile, apply_overrides, tolerance
from orchestrator.gate.rundata import GateError, RunData, load_runs

__all__ = ["GateResult", "compare_runs", "compare_with_baseline"]


@dataclass(frozen=True)
class GateResult:
    """``passed``, the one-line ``verdict`` and the ``summary`` document printed as JSON."""

    passed: bool
    verdict: str
    summary: dict[str, Any]


def _limit(rule: str, base: float, tol: dict[str, Any], metric: str) -> tuple[float, float]:
    """The admitted interval ``(low, high)`` for a candidate value given the baseline value ``base``."""
    if rule == "within":
        band = max(float(tolerance(tol, metric, "rtol", 0.15)) * abs(base), float(tolerance(tol, metric, "atol", 0.0)))
        return base - band, base + band
    slack = float(tolerance(tol, metric, "ratio_atol", 0.0))
    if rule == "at_least":
        ratio = float(tolerance(tol, metric, "min_ratio", 0.6))
        low = base * ratio if base >= 0 else base / ratio  # a negative return may be at most 1/ratio times worse
        return low - slack, math.inf
    if rule == "at_most":
        ratio = float(tolerance(tol, metric, "max_ratio", 1.2))
        high = base * ratio if base >= 0 else base / ratio
        return -math.inf, high + slack
    raise GateError(f"unknown rule {rule!r} in baseline; expected within, at_least or at_most")


def _check_metric(runs: Sequence[RunData], key: str, entry: dict[str, Any], tol: dict[str, Any]) -> dict[str, Any]:
    metric = resolve_metric(runs, (entry.get("name", key), key))
    eligible = _eligible(entry.get("ranges") or [], float(tolerance(tol, key, "min_step_fraction", 0.0)))
    result: dict[str, Any] = {"metric": key, "name": metric, "rule": entry.get("rule"), "eligible": len(eligible)}
    if metric is None:
        return {**result, "passed": False, "compared": 0, "reason": f"runs do not log {key}"}
    series = [run.series(metric, step_key=entry.get("step_key")) for run in runs]
    details = _range_details(series, eligible, str(entry.get("rule")), tol, key)
    failures = [d for d in details if not d["ok"]]
    if details and str(tolerance(tol, key, "aggregate", "ranges")) == "mean":
        # Task metrics from a few evaluation episodes are noisy per range: judge the mean over the compared ranges.
        result["mean"] = _mean_check(details, str(entry.get("rule")), tol, key)
        failures = [] if result["mean"]["ok"] else [{"step": details[-1]["step"], **result["mean"]}]
    coverage = len(details) / len(eligible) if eligible else 0.0
    result.update(compared=len(details), coverage=round(coverage, 3), details=details)
    if not details:
        return {**result, "passed": False, "reason": "no step range of the baseline was reached"}
    if coverage < float(tolerance(tol, key, "min_coverage", 0.5)):
        return {**result, "passed": False, "reason": f"only {len(details)}/{len(eligible)} step ranges reached"}
    if failures:
        return {**result, "passed": False, "reason": _failure_reason(metric, failures, details, "mean" in result)}
    return {**result, "passed": True}


def _eligible(ranges: list[dict[str, Any]], fraction: float) -> list[dict[str, Any]]:
    """The baseline's step ranges that count: those ending past ``fraction`` of its span (all, for 0)."""
    if fraction <= 0:
        return list(ranges)
    span_end = max((r["hi"] for r in ranges), default=0.0)
    span_start = min((r["lo"] for r in ranges), default=0.0)
    cutoff = span_start + fraction * (span_end - span_start)
    return [r for r in ranges if r["hi"] >= cutoff]


def _range_details(
    series: list[Any], eligible: list[dict[str, Any]], rule: str, tol: dict[str, Any], key: str
) -> list[dict[str, Any]]:
    """The candidate's median in each range it reached, against the baseline's median and the rule's limits."""
    details = []
    for rng, (value, _) in zip(eligible, range_medians(series, eligible), strict=True):
        if value is None:
            continue
        low, high = _limit(rule, float(rng["median"]), tol, key)
        details.append(
            {
                "step": rng["center"],
                "baseline": rng["median"],
                "candidate": value,
                "low": _num(low),
                "high": _num(high),
                "ok": low <= value <= high,
            }
        )
    return details


def _mean_check(details: list[dict[str, Any]], rule: str, tol: dict[str, Any], key: str) -> dict[str, Any]:
    """The candidate's mean over the compared ranges against the baseline's mean there."""
    base_mean = sum(d["baseline"] for d in details) / len(details)
    cand_mean = sum(d["candidate"] for d in details) / len(details)
    low, high = _limit(rule, base_mean, tol, key)
    return {
        "baseline": base_mean,
        "candidate": cand_mean,
        "low": _num(low),
        "high": _num(high),
        "ok": low <= cand_mean <= high,
    }


def _failure_reason(metric: str, failures: list[dict[str, Any]], details: list[dict[str, Any]], mean: bool) -> str:
    """One sentence on the worst failure: where, the candidate's value, the baseline's, and the limit it crossed."""
    worst = max(failures, key=lambda d: abs(d["candidate"] - d["baseline"]) / max(abs(d["baseline"]), 1e-12))
    bound = worst["low"] if worst["low"] is not None and worst["candidate"] < worst["low"] else worst["high"]
    if mean:
        where = f"mean over {len(details)} ranges (steps {details[0]['step']:g}-{details[-1]['step']:g})"
        tail = ""
    else:
        where = f"at step {worst['step']:g}"
        tail = f"; {len(failures)}/{len(details)} ranges out"
    return f"{metric} {where}: {worst['candidate']:.4g} vs baseline {worst['baseline']:.4g} (limit {bound:.4g}){tail}"


def _nonfinite(runs: Sequence[RunData], watch: Sequence[str], tol: dict[str, Any]) -> dict[str, Any]:
    """Count lines with a non-finite watched value and the longest streak of such lines, per run."""
    mode = str(tol.get("nonfinite", "any"))
    allowed = 0 if mode == "any" else int(tol.get("sustained_nonfinite", 3)) - 1
    per_run = []
    for run in runs:
        count = streak = longest = 0
        first: Any = None
        for record in run.metrics:
            if record.get("updates_in_interval") == 0:
                continue  # no update in this interval (e.g. replay prefill): null losses mean "none", not NaN
            bad = [k for k in watch if k in record and not _finite(record[k])]
            if bad:
                count += 1
                streak += 1
                longest = max(longest, streak)
                first = first or {"line": count, "keys": bad, "step": record.get("env_steps", record.get("step"))}
            else:
                streak = 0
        per_run.append({"run_id": run.run_id, "lines": count, "longest_streak": longest, "first": first})
    worst = max((r["longest_streak"] for r in per_run), default=0)
    passed = worst <= allowed
    reason = None if passed else f"non-finite values ({mode}): longest streak {worst} line(s)"
    return {"mode": mode, "passed": passed, "runs": per_run, "reason": reason}


def _num(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def compare_runs(
    runs: Sequence[RunData],
    baseline: dict[str, Any],
    *,
    overrides: dict[str, Any] | None = None,
) -> GateResult:
    """Check ``runs`` against ``baseline`` (a document from :func:`~orchestrator.gate.baseline.load_baseline`)."""
    _check_comparable(runs, baseline)
    gate = baseline["gate"]
    profile = GATES[gate]
    tol = apply_overrides({**profile.tolerances, **(baseline.get("tolerances") or {})}, overrides or {})
    checks = [_check_metric(runs, key, entry, tol) for key, entry in baseline["metrics"].items()]
    metric_ok = _metrics_pass(checks, profile)
    nonfinite = _nonfinite(runs, profile.watch_nonfinite, tol)
    failed_runs = [{"run_id": r.run_id, "error": r.error} for r in runs if r.status == "failed"]
    hashes = {r.config_hash for r in runs}
    base_hashes = set(baseline.get("config_hashes") or [])
    passed = bool(checks) and metric_ok and nonfinite["passed"] and not failed_runs
    summary = {
        "gate": gate,
        "baseline": baseline.get("name"),
        "passed": passed,
        "runs": [{"run_id": r.run_id, "seed": r.seed, "status": r.status, "path": str(r.path)} for r in runs],
        "config_hash_match": bool(base_hashes) and hashes <= base_hashes,
        "checks": checks,
        "nonfinite": nonfinite,
        "failed_runs": failed_runs,
        "tolerances": tol,
    }
    return GateResult(passed=passed, verdict=_verdict(summary), summary=summary)


def _check_comparable(runs: Sequence[RunData], baseline: dict[str, Any]) -> None:
    """Refuse an empty comparison, and runs of another trainer than the baseline's."""
    if not runs:
        raise GateError("compare needs at least one run directory")
    wrong = sorted({r.trainer for r in runs if baseline.get("trainer") and r.trainer != baseline["trainer"]})
    if wrong:
        raise GateError(
            f"baseline {baseline.get('name')!r} is a {baseline['gate']} baseline of {baseline['trainer']} runs; "
            f"got {', '.join(wrong)} runs: pick a baseline of the same trainer"
        )


def _metrics_pass(checks: list[dict[str, Any]], profile: GateProfile) -> bool:
    """Every check outside a group passed, and in each group (``any_group``: alternatives) at least one did. Each
    check is marked with its group."""
    groups: dict[str, list[dict[str, Any]]] = {c.any_group: [] for c in profile.checks if c.any_group}
    for result in checks:
        group = next((c.any_group for c in profile.checks if c.metric == result["metric"]), None)
        result["group"] = group
        if group:
            groups[group].append(result)
    return all(r["passed"] for r in checks if not r["group"]) and all(
        any(r["passed"] for r in members) for members in groups.values() if members
    )


def _verdict(summary: dict[str, Any]) -> str:
    head = f"{summary['gate']} vs baseline {summary['baseline']}"
    checks = summary["checks"]
    if summary["passed"]:
        compared = sum(c.get("compared", 0) for c in checks)
        ok = sum(c["passed"] for c in checks)
        return f"PASS {head}: {ok}/{len(checks)} metrics within limits over {compared} step ranges"
    reasons = [f"run {f['run_id']} failed: {f['error']}" for f in summary["failed_runs"]]
    if summary["nonfinite"]["reason"]:
        reasons.append(summary["nonfinite"]["reason"])
    reasons += [c["reason"] for c in checks if not c["passed"] and c.get("reason")]
    return f"FAIL {head}: " + "; ".join(reasons or ["no metric could be compared"])


def compare_with_baseline(
    paths: Sequence[str | os.PathLike[str]],
    *,
    baseline: str,
    overrides: dict[str, Any] | None = None,
    directory: Path | None = None,
) -> GateResult:
    """``orch gate compare``: read the runs (or sweeps) at ``paths`` and check them against baseline ``baseline``."""
    return compare_runs(load_runs(paths), load_baseline(baseline, directory), overrides=overrides)
