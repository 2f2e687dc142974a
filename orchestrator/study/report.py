"""``orch status STUDY`` and ``orch study best STUDY``: a study's trials and its best parameters, as data.

The journal says each trial's state, parameters, intermediate and final values; each trial's run directory says where
its training is (step, rate, its job's state through the same scheduler query as ``orch status``). Nothing here
writes: a trial whose worker is gone is shown as such (``worker gone``) and failed only by the next worker or
``orch study``. Light: Optuna (no torch) and orch's status module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestrator.study.config import StudyDefinition
from orchestrator.study.space import apply_params
from orchestrator.study.store import StudyError, artifact_root_of, read_study, trial_run_dir
from orchestrator.study.trials import EFFECTIVE_ATTR, NOTE_ATTR, RUN_DIR_ATTR, RUN_ID_ATTR, WORKER_ATTR

__all__ = ["StudyReport", "TrialRow", "best_config", "collect_study"]

STUDY_STATUS_VERSION = 1


@dataclass
class TrialRow:
    """One trial as ``orch status STUDY`` shows it."""

    number: int
    state: str
    value: float | None
    step: int | None
    total_steps: int | None
    params: dict[str, Any]
    run_id: str | None = None
    run_dir: str | None = None
    run_status: str | None = None
    job_id: str | None = None
    note: str | None = None
    intermediate: dict[int, float] = field(default_factory=dict)
    retried_from: int | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["intermediate"] = {str(k): v for k, v in self.intermediate.items()}
        return out


@dataclass
class StudyReport:
    """A study's header, its trials and its best trial."""

    name: str
    folder: str
    definition: StudyDefinition
    counts: dict[str, int]
    trials: list[TrialRow]
    best: TrialRow | None
    submissions: list[dict[str, Any]]
    messages: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d = self.definition
        return {
            "schema_version": STUDY_STATUS_VERSION,
            "study": {
                "name": self.name,
                "folder": self.folder,
                "trainer": d.trainer,
                "metric": d.metric,
                "direction": d.direction,
                "objective_mode": d.objective_mode,
                "objective_window": d.objective_window,
                "trials": d.trials,
                "parallel": d.parallel,
                "pruner": dict(d.pruner),
                "sampler": dict(d.sampler),
                "constraints": dict(d.constraints),
                "constraint_handling": d.constraint_handling,
                "space": [p.to_json() for p in d.space],
            },
            "counts": self.counts,
            "trials": [t.to_json() for t in self.trials],
            "best": self.best.to_json() if self.best else None,
            "submissions": self.submissions,
            "messages": self.messages,
        }


def _value(trial: Any) -> float | None:
    """The trial's final value, else its latest objective so far."""
    if trial.value is not None:
        return float(trial.value)
    if trial.intermediate_values:
        return float(trial.intermediate_values[max(trial.intermediate_values)])
    return None


def collect_study(folder: Path, *, root: Path | None = None) -> StudyReport:
    """Every trial of the study in ``folder`` with its run's progress, and the best trial."""
    from orchestrator.study import engine

    manifest = read_study(folder)
    definition = StudyDefinition.from_json(manifest["definition"])
    runs_root = root or artifact_root_of(folder)
    study = engine.load(folder, definition)
    frozen = study.get_trials(deepcopy=False)
    run_dirs: dict[int, Path] = {}
    for trial in frozen:
        found = trial_run_dir(runs_root, folder, trial.user_attrs.get(RUN_ID_ATTR), trial.user_attrs.get(RUN_DIR_ATTR))
        if found is not None:
            run_dirs[trial.number] = found
    runs, messages = _run_rows(runs_root, list(run_dirs.values()))
    rows = []
    counts = {"complete": 0, "pruned": 0, "fail": 0, "running": 0, "waiting": 0}
    for trial in frozen:
        counts[trial.state.name.lower()] = counts.get(trial.state.name.lower(), 0) + 1
        run_dir = run_dirs.get(trial.number)
        rows.append(_trial_row(trial, run_dir, runs.get(str(run_dir.resolve())) if run_dir else None))
    counts["finished"] = counts["complete"] + counts["pruned"]
    best = _best(study, rows)
    return StudyReport(
        definition.name, str(folder), definition, counts, rows, best, list(manifest.get("submissions") or []), messages
    )


def _run_rows(root: Path, run_dirs: list[Path]) -> tuple[dict[str, Any], list[str]]:
    """``orch status``'s rows of the trials' runs (one scheduler query for all), by resolved run directory."""
    from orchestrator.status import collect_status

    if not run_dirs:
        return {}, []
    status = collect_status(root, [str(p) for p in run_dirs])
    return {str(Path(r.run_dir).resolve()): r for r in status.runs}, list(status.messages)


def _trial_row(trial: Any, run_dir: Path | None, run: Any) -> TrialRow:
    """One trial as the journal has it, with its run's progress (``run``: its status row, None without a run)."""
    state = trial.state.name
    note = trial.user_attrs.get(NOTE_ATTR)
    worker = trial.user_attrs.get(WORKER_ATTR) or {}
    if state == "RUNNING" and run is not None and run.status in ("failed", "cancelled"):
        note = f"worker gone ({run.error or run.status}); the next worker or orch study fails and re-asks it"
    reported = max(trial.intermediate_values) if trial.intermediate_values else None
    return TrialRow(
        number=trial.number,
        state=state,
        value=_value(trial),
        step=run.step if run else reported,
        total_steps=run.total_steps if run else None,
        params=dict(trial.params),
        run_id=trial.user_attrs.get(RUN_ID_ATTR),
        run_dir=str(run_dir) if run_dir else None,
        run_status=run.status if run else None,
        job_id=(run.job_id if run else None) or worker.get("job_id"),
        note=note,
        intermediate={int(k): float(v) for k, v in trial.intermediate_values.items()},
        retried_from=trial.system_attrs.get("failed_trial"),
    )


def _best(study: Any, rows: list[TrialRow]) -> TrialRow | None:
    try:
        number = study.best_trial.number
    except ValueError:  # no complete trial yet
        return None
    return next((r for r in rows if r.number == number), None)


def best_config(folder: Path) -> tuple[str, dict[str, Any]]:
    """The best trial's trainer config, ready to run (the study's trainer config with the parameters the trial
    trained with), as YAML text with a header; and a summary (trial, value, parameters, run)."""
    from orchestrator.study import engine

    manifest = read_study(folder)
    definition = StudyDefinition.from_json(manifest["definition"])
    study = engine.load(folder, definition)
    try:
        best = study.best_trial
    except ValueError:
        raise StudyError(
            f"study {definition.name} has no complete trial yet; see orch status {definition.name}"
        ) from None
    trained: Mapping[str, Any] = best.user_attrs.get(EFFECTIVE_ATTR) or best.params
    document = apply_params(dict(definition.trainer_config), trained)
    name = f"{definition.trial_name}_best"
    document["name"] = name
    if definition.trainer == "ppo_expert":
        document["policy_id"] = name
    value = float(best.value) if best.value is not None and math.isfinite(best.value) else best.value
    summary = {
        "study": definition.name,
        "trial": best.number,
        "value": value,
        "metric": definition.metric,
        "objective_mode": definition.objective_mode,
        "params": dict(best.params),
        "trained_params": dict(trained),
        "run_id": best.user_attrs.get(RUN_ID_ATTR),
    }
    lines = [
        f"# Best trial {best.number} of study {definition.name}: {definition.metric} ({definition.objective_mode}"
        + (
            f" over {definition.objective_window}"
            if definition.objective_mode in ("last_n_mean", "episodic_snqi")
            else ""
        )
        + f") = {value:.6g}, run {summary['run_id']}.",
        "# The study's trainer config with the trial's parameters (the run length is the study's trial_timesteps):",
    ]
    lines += [f"#   {path}: {trained[path]!r}" for path in trained]
    lines.append("# Train it: orch run THIS_FILE (or orch submit THIS_FILE --cluster NAME for every seed)")
    text = "\n".join(lines) + "\n" + yaml.safe_dump(document, sort_keys=False)
    return text, summary
