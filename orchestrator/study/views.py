"""What ``orch status STUDY``, ``orch study`` and ``orch study best`` show: built here, printed by ``cli.py``."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from orchestrator.console import make_table

__all__ = ["launch_lines", "study_renderables"]

_STYLE = {"COMPLETE": "green", "RUNNING": "cyan", "WAITING": "dim", "PRUNED": "yellow", "FAIL": "red"}


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _short(path: str) -> str:
    """``ppo_hyperparams.learning_rate`` -> ``learning_rate`` (the last key names the parameter well enough)."""
    return path.rsplit(".", 1)[-1]


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{_short(k)}={v:.3g}" if isinstance(v, float) else f"{_short(k)}={v}" for k, v in params.items())


def _progress(row: Any) -> str:
    if row.step is None:
        return "-"
    if row.total_steps:
        return f"{row.step}/{row.total_steps}"
    return str(row.step)


def trials_table(report: Any) -> Table:
    d = report.definition
    objective = f"{d.metric} ({d.objective_mode}, {d.direction[:3]})"
    table = make_table("trial", "state", "step", objective, "params", "run", "note")
    table.columns[5].no_wrap = True
    for row in report.trials:
        state = Text(row.state, style=_STYLE.get(row.state, ""))
        if row.retried_from is not None:
            state.append(f" (retry of {row.retried_from})", style="dim")
        table.add_row(
            str(row.number),
            state,
            _progress(row),
            _number(row.value),
            _params(row.params),
            row.run_id or "-",
            row.note or "",
        )
    return table


def header_lines(report: Any) -> list[str]:
    d = report.definition
    c = report.counts
    pruner = ", ".join(f"{k}={v}" for k, v in d.pruner.items() if k != "type")
    lines = [
        f"study {report.name} ({d.trainer}): {c['finished']} of {d.trials} trials finished "
        f"({c['complete']} complete, {c['pruned']} pruned), {c['running']} running, {c['waiting']} waiting, "
        f"{c['fail']} failed",
        f"objective: {d.direction} {d.metric}, {d.objective_mode}"
        + (f" over {d.objective_window}" if d.objective_mode in ("last_n_mean", "episodic_snqi") else "")
        + f"; pruner {d.pruner.get('type', 'median')}"
        + (f" ({pruner})" if pruner else "")
        + f"; sampler {d.sampler.get('type', 'tpe')} (seed {d.sampler.get('seed', d.seed)})",
    ]
    if d.constraints:
        bounds = ", ".join(f"{m} <= {v:g}" for m, v in d.constraints.items())
        lines.append(f"safety constraints: {bounds} ({d.constraint_handling})")
    return lines


def best_lines(report: Any) -> list[str]:
    best = report.best
    if best is None:
        return ["best: no complete trial yet"]
    return [
        f"best: trial {best.number}, {report.definition.metric} = {_number(best.value)}, run {best.run_id}",
        f"      {_params(best.params)}",
        f"      orch study best {report.name} --out best.yaml   # its config, ready to run",
    ]


def study_renderables(report: Any) -> list[Any]:
    """The header, the trials table and the best trial."""
    return [
        *(Text(line) for line in header_lines(report)),
        trials_table(report),
        *(Text(line) for line in best_lines(report)),
    ]


def launch_lines(launch: Any) -> list[str]:
    """What ``orch study`` did, one line each."""
    lines = [
        f"study {launch.name} ({launch.trainer}) {'created' if launch.created else 'continued'} in {launch.folder}",
    ]
    if launch.counts:
        c = launch.counts
        lines.append(
            f"trials: {c.get('finished', 0)} of {launch.trials} finished, {c.get('running', 0)} running, "
            f"{c.get('fail', 0)} failed"
        )
    if launch.failed_stale:
        lines.append(
            f"failed trial(s) {launch.failed_stale} of workers that are gone; their parameters are asked again"
        )
    if launch.workers:
        ids = ", ".join(w["job_id"] for w in launch.workers)
        lines.append(f"queued {len(launch.workers)} worker(s) on {launch.cluster}: {ids}")
        lines.append(f"worker log: {launch.workers[0]['stdout']}")
    lines += launch.notes
    lines += [f"  next: {c}" for c in launch.next_commands()]
    return lines
