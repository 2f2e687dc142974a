"""Tables for the Run and Inspect commands (``submit``, ``run``, ``status``): built here, printed by ``cli.py``."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from orchestrator.console import make_table

__all__ = ["duration", "groups_table", "resume_lines", "status_table", "submit_table", "sync_lines"]

_STYLE = {
    "completed": "green",
    "running": "cyan",
    "pending": "dim",
    "preempted": "yellow",
    "failed": "red",
    "cancelled": "magenta",
}


def duration(seconds: float | None) -> str:
    """``42s``, ``3m05s``, ``2h10m``, ``3d4h``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    s = int(max(0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600}h"


def _no_wrap(table: Table, first: int) -> None:
    """Ids stay on one line: a cut run id cannot be pasted into the next command."""
    for column in table.columns[:first]:
        column.no_wrap = True


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}"


def _progress(row: Any) -> str:
    if row.step is None:
        return "-"
    if row.total_steps:
        return f"{row.step}/{row.total_steps} ({100 * row.step / row.total_steps:.0f}%)"
    return str(row.step)


def status_table(report: Any) -> Table:
    """One row per run: state, job, progress, rate, ETA, latest metric, age of the last progress line."""
    table = make_table("run", "status", "job", "progress", "rate/s", "eta", "metric", "last progress", "note")
    _no_wrap(table, 4)
    for row in report.runs:
        status = "STALLED" if row.stalled else row.status
        style = "bold red" if row.stalled else _STYLE.get(row.status, "")
        metric = f"{row.metric}={_number(row.metric_value)}" if row.metric else "-"
        note = row.error or ""
        if row.requeue_count:
            note = f"requeued x{row.requeue_count}" + (f"; {note}" if note else "")
        if row.stalled:
            note = f"no progress for {duration(row.last_progress_age_s)} (> {duration(row.stall_threshold_s)})"
        if row.wandb_unsynced:
            note = f"W&B: {row.wandb_unsynced} unsynced" + (f"; {note}" if note else "")
        age = duration(row.last_progress_age_s) + " ago" if row.last_progress_age_s is not None else "-"
        table.add_row(
            row.run_id,
            f"[{style}]{status}[/]" if style else status,
            row.job_id or "-",
            _progress(row),
            _number(row.rate_steps_per_s),
            duration(row.eta_s),
            metric,
            age,
            note,
        )
    return table


def resume_lines(report: Any, *, limit: int = 10) -> list[str]:
    """The exact command that resumes each run that needs it (failed, cancelled, STALLED), at most ``limit`` of them,
    then one command per sweep for the rest."""
    rows = [r for r in report.runs if r.resume_command]
    if not rows:
        return []
    lines = ["to resume (back on its cluster, from its newest complete checkpoint, same run directory and W&B run):"]
    lines += [f"  {r.resume_command}" for r in rows[:limit]]
    if len(rows) > limit:
        sweeps = sorted({r.sweep_id for r in rows[limit:] if r.sweep_id})
        more = f"  ... and {len(rows) - limit} more"
        lines.append(more + (f"; a whole sweep at once: orch resume {sweeps[0]}" if sweeps else ""))
    return lines


def sync_lines(report: Any) -> list[str]:
    """How to upload the offline W&B runs that are not synced yet (one command per sweep, else per run)."""
    rows = [r for r in report.runs if r.wandb_unsynced]
    if not rows:
        return []
    names = sorted({r.sweep_id or r.run_id for r in rows})
    files = sum(r.wandb_unsynced for r in rows)
    return [f"W&B: {files} offline file(s) of {len(rows)} run(s) not uploaded; from a machine with network:"] + [
        f"  orch sync {name}" for name in names[:5]
    ]


def groups_table(report: Any) -> Table | None:
    """Seeds of one config together: how many in each state, mean and spread of the latest metric."""
    if not report.groups:
        return None
    table = make_table("config", "seeds", "states", "metric", "mean", "std", "min..max", title="seed groups")
    for group in report.groups:
        states = ", ".join(f"{k} {v}" for k, v in sorted(group.statuses.items()))
        span = f"{_number(group.min)}..{_number(group.max)}" if group.min is not None else "-"
        table.add_row(
            f"{group.name} ({group.config_hash[:8]})",
            str(len(group.run_ids)),
            states,
            group.metric or "-",
            _number(group.mean),
            _number(group.std),
            span,
        )
    return table


def submit_table(result: Any) -> Table:
    """Run ids, seeds, grid points, job ids and log paths of a submission."""
    table = make_table("run", "seed", "grid point", "job", "log")
    _no_wrap(table, 4)
    for run in result.runs:
        point = ", ".join(f"{k}={v}" for k, v in (run.get("grid_point") or {}).items()) or "-"
        seed = "-" if run.get("seed") is None else str(run["seed"])
        table.add_row(run["run_id"], seed, point, run.get("job_id") or "-", run.get("log") or "-")
    return table
