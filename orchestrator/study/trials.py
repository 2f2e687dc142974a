"""Trials as orch runs: a trial's run directory, the study's bookkeeping on each trial, and trials whose worker died.

A trial's run directory is created like any run's (``orchestrator.launch.rundir``): ``config.yaml`` is the trial's own
trainer config (the study's with the trial's parameters; ``orch run`` runs it as it is), ``resolved.json`` what
runs, ``run.json`` with ``sweep_id`` = the study's name and a ``study`` block (study, trial number, parameters as
sampled and as trained, and, once told, its state and score). The trial in Optuna's journal carries the other half
in user attributes: which worker runs it (backend, job id, host), its run id and directory, and the series of every
evaluation's metrics (so a worker that resumes the trial after a requeue, or after it died between training and
telling, scores it from the journal alone).

A RUNNING trial whose worker's job the scheduler says is gone is failed, its run marked failed, and its parameters
queued again as a new trial with Optuna's retry callback (``failed_trial`` / ``retry_history`` in its system
attributes); only complete and pruned trials count towards ``trials``, so nothing is counted twice.
"""

from __future__ import annotations

import datetime as _dt
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from manifests import RunManifest, atomic_write_text, update_run_manifest, utc_now
from orchestrator.config.resolve import check_loaded
from orchestrator.errors import ConfigError
from orchestrator.launch.backend import job_alive
from orchestrator.launch.rundir import RUNS, Provenance, create_run_dir
from orchestrator.launch.runspec import RunSpec, fingerprint, make_run_id
from orchestrator.study.config import StudyDefinition, trial_document
from orchestrator.study.space import cap_batch_size
from orchestrator.study.store import trial_run_dir

__all__ = [
    "RUN_DIR_ATTR",
    "RUN_ID_ATTR",
    "SERIES_ATTR",
    "WORKER_ATTR",
    "TrialRun",
    "create_trial_run",
    "fail_stale",
    "handle",
    "record_outcome",
    "tally",
]

WORKER_ATTR = "orch_worker"
RUN_ID_ATTR = "orch_run_id"
RUN_DIR_ATTR = "orch_run_dir"
SERIES_ATTR = "orch_series"
EFFECTIVE_ATTR = "orch_trained_params"
NOTE_ATTR = "orch_note"
RETRIED_ATTR = "orch_asked_again"  # failed because its worker died; its parameters were queued again
# A trial asked for but never claimed (its worker died between the two) is failed after this long.
UNCLAIMED_GRACE_S = 600.0
MAX_RETRIES = 2


@dataclass(frozen=True)
class TrialRun:
    """A trial's run directory and the parameters it trains with (a capped batch size differs from the sampled)."""

    run_dir: Path
    run_id: str
    trained: Mapping[str, Any] = field(default_factory=dict)


def _num_envs(document: Mapping[str, Any]) -> int:
    value = document.get("num_envs", "auto")
    if value != "auto":
        return int(value)
    from manifests.provenance import allocated_cpus, allocated_memory_gb
    from trainers.registry import load_spec

    return int(load_spec("ppo_expert").auto_num_envs(allocated_cpus(), allocated_memory_gb()))


def create_trial_run(
    root: Path,
    definition: StudyDefinition,
    number: int,
    values: Mapping[str, Any],
    *,
    scheduler: Mapping[str, Any],
    provenance: Provenance,
) -> TrialRun:
    """Resolve trial ``number`` with ``values`` and create its run directory; :class:`ConfigError` when the trial's
    config is invalid (the trial fails, the study goes on)."""
    from trainers.registry import get_trainer

    loaded = trial_document(definition, number, values)
    trained = dict(values)
    if definition.trainer == "ppo_expert":
        capped = cap_batch_size(loaded.data, _num_envs(loaded.data))
        if capped is not None:
            trained["ppo_hyperparams.batch_size"] = capped
    report = check_loaded(loaded)
    if report.issues or report.resolved is None:
        raise ConfigError(report.issues or [loaded.marks.issue((), "the trial's config does not resolve")])
    resolved = report.resolved
    seed = int(resolved.run_seeds()[0]) if resolved.run_seeds() else 0
    run_id = make_run_id(resolved.name, resolved.config_hash, seed)
    base, counter = run_id, 2
    while (root / RUNS / run_id).exists():
        run_id, counter = f"{base}-r{counter}", counter + 1
    entry = get_trainer(resolved.trainer)
    spec = RunSpec(
        run_id=run_id,
        run_dir=root / RUNS / run_id,
        trainer=resolved.trainer,
        name=resolved.name,
        seed=seed,
        config_hash=resolved.config_hash,
        resolved=resolved.for_seed(seed),
        sweep_id=definition.name,
        fingerprint=fingerprint(resolved.config_hash, seed, provenance.code, provenance.diff_sha256),
        trainer_entry={"spec_module": entry.spec_module, "entry_point": entry.entry_point},
    )
    run_dir = create_run_dir(spec, provenance, scheduler=scheduler)
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(loaded.data, sort_keys=False))
    block = {
        "name": definition.name,
        "trial": int(number),
        "params": dict(values),
        "trained_params": trained,
        "metric": definition.metric,
        "direction": definition.direction,
        "state": "RUNNING",
    }
    _record_trial(run_dir, block, spec.trainer_entry)
    return TrialRun(run_dir, run_id, trained)


def _record_trial(run_dir: Path, block: Mapping[str, Any], trainer_entry: Mapping[str, str]) -> None:
    """The trial's side of ``run.json``: its own config file, the ``study`` block, the trainer's entry."""

    def change(m: RunManifest) -> None:
        m.config_path = str(run_dir / "config.yaml")
        m.extra["study"] = dict(block)
        if trainer_entry:
            m.extra["trainer_entry"] = dict(trainer_entry)

    update_run_manifest(run_dir, change)


def record_outcome(run_dir: Path | None, **fields: Any) -> None:
    """Write how the study scored the trial into its run's ``run.json`` (``study`` block)."""
    if run_dir is None or not (Path(run_dir) / "run.json").is_file():
        return

    def change(m: RunManifest) -> None:
        block = dict(m.extra.get("study") or {})
        block.update(fields, told_at=utc_now())
        m.extra["study"] = block

    update_run_manifest(Path(run_dir), change)


def tally(study: Any) -> dict[str, int]:
    """Trials per state (complete, pruned, fail, running, waiting), ``finished`` = complete + pruned, and ``failed``:
    failures that count against ``max_failed_trials`` (not those of dead workers, whose parameters were re-asked)."""
    counts = {"complete": 0, "pruned": 0, "fail": 0, "running": 0, "waiting": 0, "failed": 0}
    for trial in study.get_trials(deepcopy=False):
        name = trial.state.name.lower()
        counts[name] = counts.get(name, 0) + 1
        if name == "fail" and not trial.user_attrs.get(RETRIED_ATTR):
            counts["failed"] += 1
    counts["finished"] = counts["complete"] + counts["pruned"]
    return counts


def worker_record(context: Mapping[str, Any]) -> dict[str, Any]:
    """What a trial records about the worker running it: enough to ask its backend whether it is alive."""
    return {
        "backend": context.get("backend"),
        "job_id": context.get("job_id"),
        "node": context.get("node"),
        "submit_host": socket.gethostname(),
        "since": utc_now(),
    }


def _worker_alive(worker: Mapping[str, Any]) -> bool | None:
    if not worker or not worker.get("job_id"):
        return None
    return job_alive(
        {"backend": worker.get("backend"), "job_id": worker["job_id"], "submit_host": worker.get("submit_host")}
    )


def _age_s(trial: Any) -> float:
    start = trial.datetime_start
    if start is None:
        return 0.0
    return (_dt.datetime.now() - start).total_seconds()


def fail_stale(study: Any, root: Path, folder: Path, *, me: str | None = None) -> list[int]:
    """Fail every RUNNING trial whose worker is gone (its job ended without finishing it), mark its run failed and
    queue its parameters again as a new trial. Trials of live (or requeued, pending) workers, and of ``me``, are left
    alone, as are those whose worker cannot be asked from here, and those whose run a trainer still holds (a job the
    scheduler already calls cancelled runs on until it is killed). Call under the study lock."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    from manifests import trainer_holding

    failed: list[int] = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get(WORKER_ATTR) or {}
        if me is not None and worker.get("job_id") == me:
            continue
        alive = _worker_alive(worker)
        if not worker:
            alive = _age_s(trial) < UNCLAIMED_GRACE_S
        run_dir = trial_run_dir(root, folder, trial.user_attrs.get(RUN_ID_ATTR), trial.user_attrs.get(RUN_DIR_ATTR))
        if alive is not False or (run_dir is not None and trainer_holding(run_dir) is not None):
            continue
        note = f"its worker (job {worker.get('job_id')}) ended without finishing it; failed and asked again"
        try:
            live = handle(study, trial)
            live.set_user_attr(NOTE_ATTR, note)
            live.set_user_attr(RETRIED_ATTR, True)
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        except UpdateFinishedTrialError:  # its worker finished it a moment ago after all
            continue
        if study.get_trials(deepcopy=False)[trial.number].state != TrialState.FAIL:
            continue
        _retry(study, study.get_trials(deepcopy=False)[trial.number])
        if run_dir is not None:
            _mark_run_failed(run_dir, f"trial {trial.number}: {note}")
        failed.append(trial.number)
    return failed


def handle(study: Any, frozen: Any) -> Any:
    """A live handle (``optuna.Trial``) on a trial of the study, to report to or set attributes on it from any
    process (a worker resuming its trial after a requeue did not ask for it in this process)."""
    import optuna

    return optuna.trial.Trial(study, frozen._trial_id)


def _retry(study: Any, frozen: Any) -> None:
    """Queue the failed trial's parameters again, with Optuna's retry callback (it records the retry history)."""
    import optuna

    callback = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
    if callback is None:  # Optuna < 4.9
        callback = optuna.storages.RetryFailedTrialCallback
    callback(max_retry=MAX_RETRIES)(study, frozen)


def _mark_run_failed(run_dir: Path, error: str) -> None:
    def change(m: RunManifest) -> None:
        if m.status == "completed":
            return
        if m.attempts and m.attempts[-1].end is None:
            m.attempts[-1].end = utc_now()
            m.attempts[-1].state = "failed"
            m.attempts[-1].reason = "ended without notice (its study worker is gone)"
        m.status, m.error, m.ended_at = "failed", error, m.ended_at or utc_now()
        block = dict(m.extra.get("study") or {})
        block.update(state="FAIL", note=error, told_at=utc_now())
        m.extra["study"] = block

    update_run_manifest(run_dir, change)
