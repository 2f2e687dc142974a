"""A study worker: one task of the study's job array, taking trials until the study has its ``trials``.

Each worker loops: under the study lock it fails the trials of dead workers (``trials.fail_stale``), takes back its
own unfinished trial (after a requeue) or asks Optuna for a new one; then it runs the trial as an ordinary run in
this process, through the same job entry as every run (:class:`~orchestrator.launch.entry.RunJob`: the run's lock,
attempts, attempt logs, the warning signal that saves a checkpoint, bounded requeues), with a listener on the
trainer's evaluation reports (:class:`TrialReporter`): each report goes to Optuna as the objective so far, and when
the pruner (or, with ``constraint_handling: prune``, a safety constraint) says stop, the trainer is stopped there.
At the end the trial is scored from its evaluations and told.

On the scheduler's warning the trial's trainer saves and submitit calls :meth:`StudyWorker.checkpoint`, which closes
the trial run's attempt and requeues the worker; the requeued worker (same job id) finds its RUNNING trial in the
journal and resumes its run from that checkpoint. A worker killed without notice comes back the same way; one that
never comes back has its trial failed and asked again by the next worker or ``orch study``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optuna.exceptions import UpdateFinishedTrialError
from submitit.helpers import Checkpointable, DelayedSubmission

from manifests import utc_now
from orchestrator.errors import ConfigError
from orchestrator.launch.entry import RunJob, job_context, profile_job_settings
from orchestrator.launch.rundir import Provenance
from orchestrator.study import engine
from orchestrator.study.config import StudyDefinition
from orchestrator.study.objective import check_constraints, penalized, reduce_series
from orchestrator.study.space import suggest
from orchestrator.study.store import artifact_root_of, read_study, study_lock, trial_run_dir
from orchestrator.study.trials import (
    EFFECTIVE_ATTR,
    NOTE_ATTR,
    RETRIED_ATTR,
    RUN_DIR_ATTR,
    RUN_ID_ATTR,
    SERIES_ATTR,
    WORKER_ATTR,
    TrialRun,
    create_trial_run,
    fail_stale,
    handle,
    record_outcome,
    tally,
    worker_record,
)
from trainers.registry import TrialPruned, reporting_to

if TYPE_CHECKING:
    from orchestrator.launch.clusters import ClusterProfile
    from orchestrator.launch.runspec import RunSpec

__all__ = ["Claim", "StudySession", "StudyWorker", "TrialReporter"]

SeriesMap = dict[str, list[list[float]]]


@dataclass
class Claim:
    """A trial this worker runs: Optuna's handle on it, its run, whether it resumes, its evaluations so far."""

    trial: Any
    run: TrialRun | None
    resume: bool = False
    series: SeriesMap = field(default_factory=dict)

    @property
    def number(self) -> int:
        return int(self.trial.number)


def _say(text: str) -> None:
    print(f"orch study: {text}", flush=True)


class StudySession:
    """A worker's view of its study: the definition, Optuna's study on the journal, and who this worker is."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        manifest = read_study(self.folder)
        self.definition = StudyDefinition.from_json(manifest["definition"])
        self.root = artifact_root_of(self.folder)
        self.study = engine.load(self.folder, self.definition)
        self.context = job_context()
        self.me = str(self.context["job_id"])
        self.scheduler = _scheduler_block(manifest, self.context)
        self._provenance: Provenance | None = None

    def provenance(self) -> Provenance:
        if self._provenance is None:
            self._provenance = Provenance.collect()
        return self._provenance

    # ------------------------------------------------------------------------------------------- taking
    def next_trial(self) -> Claim | None:
        """This worker's unfinished trial, else a new one, else None (the study has its trials, or too many
        failed). A trial whose config does not resolve is failed here and the next one taken."""
        from optuna.trial import TrialState

        while True:
            with study_lock(self.folder):
                stale = fail_stale(self.study, self.root, self.folder, me=self.me)
                if stale:
                    _say(f"failed trial(s) {stale} of dead workers; their parameters are asked again")
                running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                mine = [t for t in running if (t.user_attrs.get(WORKER_ATTR) or {}).get("job_id") == self.me]
                if mine:
                    return self._take_back(mine[0])
                counts = tally(self.study)
                if counts["finished"] + counts["running"] >= self.definition.trials:
                    return None
                if counts["failed"] >= max(1, self.definition.max_failed_trials):
                    _say(f"{counts['failed']} trials failed (max_failed_trials {self.definition.max_failed_trials})")
                    return None
                engine.reseed(self.study, self.definition)
                trial = self.study.ask()
                trial.set_user_attr(WORKER_ATTR, worker_record(self.context))
                for attr in (SERIES_ATTR, RUN_ID_ATTR, RUN_DIR_ATTR, NOTE_ATTR, RETRIED_ATTR):  # a retry's copies
                    trial.set_user_attr(attr, {} if attr == SERIES_ATTR else None)
                values = suggest(trial, self.definition.space)
            claim = self._create(trial, values)
            if claim is not None:
                return claim

    def _create(self, trial: Any, values: Mapping[str, Any]) -> Claim | None:
        try:
            run = create_trial_run(
                self.root,
                self.definition,
                trial.number,
                values,
                scheduler=self.scheduler,
                provenance=self.provenance(),
            )
        except ConfigError as exc:
            why = "; ".join(exc.lines())
            _say(f"trial {trial.number}: its config is invalid: {why}")
            trial.set_user_attr(NOTE_ATTR, f"invalid config: {why}"[:2000])
            self.study.tell(trial, state=_state("FAIL"))
            return None
        trial.set_user_attr(RUN_ID_ATTR, run.run_id)
        trial.set_user_attr(RUN_DIR_ATTR, str(run.run_dir))
        trial.set_user_attr(EFFECTIVE_ATTR, dict(run.trained))
        _say(f"trial {trial.number}: {run.run_id} with {dict(values)}")
        return Claim(trial, run)

    def _take_back(self, frozen: Any) -> Claim | None:
        """This worker's own RUNNING trial (it was requeued, or it died after training and before telling)."""
        trial = handle(self.study, frozen)
        attrs = frozen.user_attrs
        run_dir = trial_run_dir(self.root, self.folder, attrs.get(RUN_ID_ATTR), attrs.get(RUN_DIR_ATTR))
        if run_dir is None:
            return self._create(trial, dict(frozen.params))
        series = {k: [list(p) for p in v] for k, v in dict(attrs.get(SERIES_ATTR) or {}).items()}
        run = TrialRun(run_dir, str(attrs.get(RUN_ID_ATTR) or run_dir.name), dict(attrs.get(EFFECTIVE_ATTR) or {}))
        _say(f"trial {frozen.number}: resuming {run.run_id} (this worker was requeued)")
        return Claim(trial, run, resume=True, series=series)

    # ------------------------------------------------------------------------------------------ telling
    def finish(self, claim: Claim, series: SeriesMap) -> None:
        """Score a trained trial from its evaluations and tell Optuna (safety constraints applied at the end)."""
        d = self.definition
        value = reduce_series(
            _points(series, d.metric), mode=d.objective_mode, window=d.objective_window, direction=d.direction
        )
        if value is None:
            self.fail(claim, f"no evaluation reported {d.metric}")
            return
        fields: dict[str, Any] = {}
        if d.constraints:
            feasibility = check_constraints(
                {k: _points(series, k) for k in series},
                d.constraints,
                metric=d.metric,
                mode=d.objective_mode,
                window=d.objective_window,
                direction=d.direction,
            )
            claim.trial.set_user_attr("orch_feasibility", feasibility.to_json())
            fields["feasibility"] = feasibility.to_json()
            if not feasibility.feasible:
                if d.constraint_handling == "prune":
                    self.prune(claim, TrialPruned(_last_step(series, d.metric), f"safety: {feasibility.describe()}"))
                    return
                fields["unpenalized_value"] = value
                value = penalized(value, feasibility, d.direction)
                fields["note"] = f"penalized: {feasibility.describe()}"
        self.study.tell(claim.trial, value)
        record_outcome(_run_dir(claim), state="COMPLETE", value=value, **fields)
        _say(f"trial {claim.number}: complete, {d.metric} ({d.objective_mode}) = {value:.6g}")

    def prune(self, claim: Claim, pruned: TrialPruned) -> None:
        claim.trial.set_user_attr(NOTE_ATTR, f"pruned at step {pruned.step}: {pruned.reason}")
        self.study.tell(claim.trial, state=_state("PRUNED"))
        last = _last_value(self.study, claim.number)
        record_outcome(_run_dir(claim), state="PRUNED", value=last, step=pruned.step, note=pruned.reason)
        _say(f"trial {claim.number}: pruned at step {pruned.step} ({pruned.reason})")

    def fail(self, claim: Claim, why: str) -> None:
        claim.trial.set_user_attr(NOTE_ATTR, why[:2000])
        self.study.tell(claim.trial, state=_state("FAIL"))
        record_outcome(_run_dir(claim), state="FAIL", note=why)
        _say(f"trial {claim.number}: failed ({why})")


def _state(name: str) -> Any:
    from optuna.trial import TrialState

    return TrialState[name]


def _run_dir(claim: Claim) -> Path | None:
    return claim.run.run_dir if claim.run else None


def _points(series: SeriesMap, name: str) -> list[tuple[int, float]]:
    return [(int(s), float(v)) for s, v in series.get(name) or ()]


def _last_step(series: SeriesMap, name: str) -> int:
    points = _points(series, name)
    return max((s for s, _ in points), default=0)


def _last_value(study: Any, number: int) -> float | None:
    values = study.get_trials(deepcopy=False)[number].intermediate_values
    return float(values[max(values)]) if values else None


def _scheduler_block(manifest: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """A trial run's ``run.json`` scheduler block: its worker's job, on the profile of the submission that queued
    it, so ``orch status`` asks the scheduler about the worker and ``orch logs`` finds its output."""
    submissions = list(manifest.get("submissions") or [])
    last = submissions[-1] if submissions else {}
    keep = ("backend", "cluster", "profile", "workdir", "submit_host", "max_requeues")
    block = {k: last[k] for k in keep if last.get(k) is not None}
    block.update(
        backend=context.get("backend"), job_id=context.get("job_id"), submitted_at=utc_now(), study_worker=True
    )
    if context.get("backend") == "local":
        import socket

        block["submit_host"] = socket.gethostname()  # a local worker's pid means something only on this machine
    try:
        from submitit import JobEnvironment

        paths = JobEnvironment().paths
        block.update(stdout=str(paths.stdout), stderr=str(paths.stderr))
    except Exception:  # not under submitit (a test calling the worker directly)
        pass
    return block


class TrialReporter:
    """Listens to the trainer's evaluation reports for one trial: records the metrics in the journal, reports the
    objective so far to Optuna, and stops the trial when the pruner (or a safety constraint, with
    ``constraint_handling: prune``) says so."""

    def __init__(self, session: StudySession, claim: Claim) -> None:
        self.definition = session.definition
        self.trial = claim.trial
        self.number = claim.number
        self.series: SeriesMap = {k: [list(p) for p in v] for k, v in claim.series.items()}
        self.pruner = str(session.definition.pruner.get("type", "median"))
        self.last_step = session.definition.trial_steps()

    def _record(self, step: int, metrics: Mapping[str, float]) -> None:
        d = self.definition
        for name in (d.metric, *d.constraints):
            value = metrics.get(name)
            if not isinstance(value, int | float) or not math.isfinite(float(value)):
                continue
            points = [p for p in self.series.get(name, []) if int(p[0]) != step]
            points.append([step, float(value)])
            self.series[name] = sorted(points)
        self.trial.set_user_attr(SERIES_ATTR, self.series)

    def __call__(self, step: int, metrics: Mapping[str, float]) -> None:
        d = self.definition
        if d.metric not in metrics:
            raise ValueError(f"the evaluation at step {step} reports no {d.metric} (it reports {', '.join(metrics)})")
        try:
            self._record(step, metrics)
            points = [(s, v) for s, v in _points(self.series, d.metric) if s <= step]
            objective = reduce_series(points, mode=d.objective_mode, window=d.objective_window, direction=d.direction)
            if objective is None:  # a non-finite evaluation: nothing to report, nothing to compare
                return
            self.trial.report(objective, step)
        except UpdateFinishedTrialError:  # failed elsewhere (its worker was taken for gone) and asked again
            raise TrialPruned(step, "the study finished this trial elsewhere (taken for its worker's, gone)") from None
        print(
            f"orch study: trial {self.number} step {step}: {d.metric} {float(metrics[d.metric]):.6g}, "
            f"objective ({d.objective_mode}) {objective:.6g}",
            flush=True,
        )
        if d.constraints and d.constraint_handling == "prune":
            so_far = {k: [(s, v) for s, v in _points(self.series, k) if s <= step] for k in self.series}
            feasibility = check_constraints(
                so_far,
                d.constraints,
                metric=d.metric,
                mode=d.objective_mode,
                window=d.objective_window,
                direction=d.direction,
            )
            if not feasibility.feasible:
                raise TrialPruned(step, f"safety constraint: {feasibility.describe()}")
        if self.last_step is not None and step >= self.last_step:
            return  # the trial has trained its budget: it completes and is scored (stopping it now saves nothing)
        if self.trial.should_prune():
            raise TrialPruned(step, f"{self.pruner} pruner: objective {objective:.6g} at step {step}")


class StudyWorker(Checkpointable):
    """One worker of a study's job array (see the module docstring); small and picklable for submitit.

    The backends build it like every job (``for_spec``, ``orchestrator.launch.backend.job_class_of``); the first
    argument is the study folder.
    """

    def __init__(
        self,
        study_dir: str,
        *,
        max_requeues: int = 3,
        time_min: float | None = None,
        signal_delay_s: int = 0,
        trainer_entry: Mapping[str, str] | None = None,
        slots: tuple[str, int] | None = None,
        resume: bool = False,
        dry_run: bool = False,
        tee: bool = False,
    ) -> None:
        self.study_dir = str(study_dir)
        self.max_requeues = int(max_requeues)
        self.time_min = time_min
        self.signal_delay_s = int(signal_delay_s)
        self.trainer_entry = dict(trainer_entry or {})
        self.slots = slots
        self.tee = tee
        self._current: RunJob | None = None

    @classmethod
    def for_spec(cls, spec: RunSpec, profile: ClusterProfile, *, slots: tuple[str, int] | None = None) -> StudyWorker:
        """The worker of a study's spec (its run_dir is the study folder) under a cluster profile."""
        return cls(str(spec.run_dir), **profile_job_settings(spec, profile, slots=slots))

    def __call__(self) -> str:
        session = StudySession(self.study_dir)
        _say(f"worker {session.me} of study {session.definition.name} on {session.context['node']}")
        taken = 0
        while (claim := session.next_trial()) is not None:
            self._run(session, claim)
            taken += 1
        counts = tally(session.study)
        _say(
            f"worker {session.me} done after {taken} trial(s); study: {counts['finished']} of "
            f"{session.definition.trials} finished ({counts['complete']} complete, {counts['pruned']} pruned), "
            f"{counts['fail']} failed"
        )
        return "completed"

    def _run(self, session: StudySession, claim: Claim) -> None:
        assert claim.run is not None
        job = RunJob(
            str(claim.run.run_dir),
            max_requeues=self.max_requeues,
            time_min=self.time_min,
            signal_delay_s=self.signal_delay_s,
            trainer_entry=self.trainer_entry,
            slots=self.slots,
            resume=claim.resume,
            tee=self.tee,
        )
        reporter = TrialReporter(session, claim)
        self._current = job
        try:
            try:
                with reporting_to(reporter):
                    job()
            except TrialPruned as pruned:
                session.prune(claim, pruned)
                return
            except Exception as exc:
                why = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
                session.fail(claim, why)
                return
            finally:
                self._current = None
            session.finish(claim, reporter.series)
        except UpdateFinishedTrialError:  # another worker or orch study took it for a dead worker's and re-asked it
            _say(f"trial {claim.number} was finished elsewhere (failed and asked again); taking the next one")

    def checkpoint(self, *args: Any, **kwargs: Any) -> DelayedSubmission:
        """Called by submitit on the warning signal: the running trial's run records its attempt's end (its trainer
        saved a checkpoint just before), then the worker is requeued; it takes the same trial back and resumes it.
        No journal write here: a signal handler must not wait on Optuna's lock held by the interrupted code."""
        if self._current is not None:
            try:
                self._current.checkpoint()
            except Exception as exc:  # never let bookkeeping stop a requeue
                print(f"orch study: could not record the requeue of the trial's run: {exc}", file=sys.stderr)
        again = StudyWorker(
            self.study_dir,
            max_requeues=self.max_requeues,
            time_min=self.time_min,
            signal_delay_s=self.signal_delay_s,
            trainer_entry=self.trainer_entry,
            slots=self.slots,
            tee=self.tee,
        )
        return DelayedSubmission(again)
