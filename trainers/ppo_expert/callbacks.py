"""SB3 callbacks, one per concern, each named for what it does: evaluation on the schedule, its log, a checkpoint at
each evaluation, the metrics line of each rollout, progress, and a stop at the next rollout boundary when the job is
about to end. (SB3's own ``CheckpointCallback`` and ``EvalCallback`` do other things; these names do not clash.)

Evaluation runs at the start of a rollout (right after the previous PPO update, so the model, ``num_timesteps`` and
the schedule form a clean resume point) and once more at the end of training. Its children run after every
evaluation, in order: :class:`EvalLogCallback` (episodes.jsonl, eval timeline) then
:class:`CheckpointAtEvaluationCallback` (step checkpoint with the resume state, ``best``, run manifest), so a
checkpoint never exists without its episodes.
"""

from __future__ import annotations

import csv
import io
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from manifests import atomic_path, atomic_write_json
from trainers.common.checkpoints import CheckpointInfo, save_checkpoint
from trainers.common.metrics_stream import JsonlWriter
from trainers.common.run_record import RunRecorder
from trainers.common.signals import stop_if_requested
from trainers.common.tracking import Tracker
from trainers.common.trial import report_evaluation
from trainers.ppo_expert.evaluation import EVAL_METRICS, EvalResult, Evaluator
from trainers.ppo_expert.schedule import EvalSchedule
from trainers.ppo_expert.state import TrainerState, capture_rng

__all__ = [
    "CheckpointAtEvaluationCallback",
    "EvalLogCallback",
    "MetricsLineCallback",
    "ProgressCallback",
    "ScheduledEvaluationCallback",
    "StopOnRequestCallback",
    "model_bytes",
]

TIMELINE_JSON = "eval_timeline.json"
TIMELINE_CSV = "eval_timeline.csv"


def model_bytes(model: Any) -> bytes:
    """The SB3 zip of ``model`` in memory, so one serialisation serves the step, best and final files."""
    buffer = io.BytesIO()
    model.save(buffer)
    return buffer.getvalue()


class ScheduledEvaluationCallback(BaseCallback):
    """Evaluates the deterministic policy when the schedule says so; children act on :attr:`last_result`."""

    def __init__(
        self,
        evaluator: Evaluator,
        schedule: EvalSchedule,
        state: TrainerState,
        children: Sequence[BaseCallback] = (),
    ):
        super().__init__()
        self.evaluator = evaluator
        self.schedule = schedule
        self.state = state
        self.children = list(children)
        self.last_result: EvalResult | None = None
        self.eval_wall_sec = 0.0
        self.eval_cpu_sec = 0.0
        for child in self.children:
            child.parent = self

    def _init_callback(self) -> None:
        for child in self.children:
            child.init_callback(self.model)

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:
        self.evaluate_if_due()

    def _on_training_end(self) -> None:
        self.evaluate_if_due()

    def evaluate_if_due(self) -> EvalResult | None:
        due = self.schedule.due(self.model.num_timesteps)
        if not due:
            return None
        cpu = time.process_time()
        policy: Any = self.model
        result = self.evaluator.evaluate(policy, eval_step=due[-1], env_steps=self.model.num_timesteps)
        self.eval_cpu_sec += time.process_time() - cpu
        self.eval_wall_sec += result.wall_sec
        # Several scheduled steps inside one rollout share one model: each is recorded (none is skipped), from one
        # evaluation. The schedule index advances label by label, so each label's checkpoint resumes after itself.
        for label in due:
            self.state.schedule_index = self.schedule.steps.index(label) + 1
            self.last_result = result.relabel(label)
            self.state.last_summary = result.summary
            for child in self.children:
                child.on_step()
            report_evaluation(label, result.means)  # a study's trial: the pruner may stop it here (TrialPruned)
        return self.last_result


class EvalLogCallback(BaseCallback):
    """Appends the evaluation's episodes to episodes.jsonl and rewrites the eval timeline (JSON + CSV)."""

    def __init__(self, run_dir: Path, episodes: JsonlWriter, state: TrainerState, tracker: Tracker | None = None):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.episodes = episodes
        self.state = state
        self.tracker = tracker

    def _on_step(self) -> bool:
        result: EvalResult = self.parent.last_result  # type: ignore[union-attr]
        for record in result.episodes:
            self.episodes.write(record)
        self.state.timeline.append(result.timeline_row())
        write_timeline(self.run_dir, self.state.timeline)
        if self.tracker is not None:
            self.tracker.log({f"eval/{k}": v for k, v in result.means.items()}, step=result.env_steps)
            self.tracker.flush()
        return True


def write_timeline(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    """eval_timeline.json (upstream's list of rows) and the same rows as CSV, both atomic."""
    atomic_write_json(run_dir / TIMELINE_JSON, rows)
    columns = ["eval_step", "env_steps", *EVAL_METRICS, "eval_wall_sec"]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_path(run_dir / TIMELINE_CSV) as tmp:
        tmp.write_text(text.getvalue(), encoding="utf-8")


class CheckpointAtEvaluationCallback(BaseCallback):
    """A step checkpoint at every evaluation (with the resume state), ``best`` when it changes, run.json updated."""

    def __init__(
        self,
        run_dir: Path,
        state: TrainerState,
        recorder: RunRecorder,
        *,
        total_timesteps: int,
        wall_clock: Callable[[], float],
    ):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.state = state
        self.recorder = recorder
        self.total_timesteps = int(total_timesteps)
        self.wall_clock = wall_clock
        self.saved: list[CheckpointInfo] = []

    def _on_step(self) -> bool:
        result: EvalResult = self.parent.last_result  # type: ignore[union-attr]
        new_best = self.state.best.update(result.eval_step, result.means, result.summary)
        data = model_bytes(self.model)
        info = self.save(f"step_{result.eval_step}", data, result, kind="step")
        if new_best:
            self.save("best", data, result, kind="best")
        self.recorder.record_progress(
            self.model.num_timesteps,
            metrics=dict(result.means),
            total_steps=self.total_timesteps,
            eval_step=result.eval_step,
            best_step=self.state.best.step,
        )
        self.saved.append(info)
        return True

    def save_resume_point(self) -> CheckpointInfo:
        """A step checkpoint now, between evaluations (the job is about to end): the same resume state as at an
        evaluation, labelled with the last evaluation so resume keeps that evaluation's episodes."""
        steps = self.model.num_timesteps
        if self.saved and self.saved[-1].step == steps:  # an evaluation just saved this very point
            return self.saved[-1]
        self.state.wall_sec = self.wall_clock()
        self.state.rng = capture_rng()
        last_eval = int(self.state.timeline[-1]["eval_step"]) if self.state.timeline else 0
        meta = {"eval_step": last_eval, "trainer_state": self.state.to_json(), "saved_on": "stop"}
        data = model_bytes(self.model)
        info = save_checkpoint(
            self.run_dir, f"step_{steps}", lambda p: p.write_bytes(data), step=steps, suffix=".zip", meta=meta
        )
        self.recorder.record_checkpoint(info.path, step=info.step, sha256=info.sha256, kind="step", metrics={})
        self.recorder.record_progress(steps, total_steps=self.total_timesteps)
        self.saved.append(info)
        return info

    def save(self, name: str, data: bytes, result: EvalResult, *, kind: str) -> CheckpointInfo:
        self.state.wall_sec = self.wall_clock()
        self.state.rng = capture_rng()
        meta = {"eval_step": result.eval_step, "trainer_state": self.state.to_json()}
        info = save_checkpoint(
            self.run_dir,
            name,
            lambda p: p.write_bytes(data),
            step=self.model.num_timesteps,
            kind=kind,
            suffix=".zip",
            metrics=dict(result.means),
            meta=meta,
        )
        self.recorder.record_checkpoint(info.path, step=info.step, sha256=info.sha256, kind=kind, metrics=info.metrics)
        return info


class StopOnRequestCallback(BaseCallback):
    """When the job is about to end (``trainers.common.signals``), save at the next rollout boundary and stop.

    A rollout start follows a finished PPO update: the model, ``num_timesteps`` and the schedule form the same clean
    resume point as an evaluation's checkpoint. Listed last, so this rollout's metrics line is written first.
    """

    def __init__(self, checkpoints: CheckpointAtEvaluationCallback):
        super().__init__()
        self.checkpoints = checkpoints

    def _init_callback(self) -> None:
        self.checkpoints.init_callback(self.model)

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:
        stop_if_requested(self.checkpoints.save_resume_point, step=self.model.num_timesteps)


class MetricsLineCallback(BaseCallback):
    """One metrics line per rollout + PPO update, through SB3's logger: this rollout's figures (steps, fps, CPU
    seconds, wall time, episode return and length) recorded beside the update's losses, then one ``logger.dump``
    right after the update, so the line holds that rollout's update (the output formats are in
    ``trainers.ppo_expert.logformats``). SB3 dumps only before an update; the trainer calls ``learn`` with
    ``log_interval=None`` so that this is the one dump.

    ``fps`` covers collection, update and checkpoint writing, but not the evaluation episodes (``paused()`` gives
    their cumulative wall and CPU seconds); ``cpu_sec`` is the process CPU time of the same window (steps per CPU
    second compare on a busy machine).
    """

    def __init__(
        self,
        state: TrainerState,
        *,
        total_timesteps: int,
        wall_clock: Callable[[], float],
        paused: Callable[[], tuple[float, float]] = lambda: (0.0, 0.0),
    ):
        super().__init__()
        self.state = state
        self.total_timesteps = int(total_timesteps)
        self.wall_clock = wall_clock
        self.paused = paused
        self._iter_start = self._iter_cpu = 0.0
        self._iter_paused = (0.0, 0.0)
        self._iter_steps0 = 0

    def _on_training_start(self) -> None:
        self._restart()

    def _restart(self) -> None:
        self._iter_start = time.perf_counter()
        self._iter_cpu = time.process_time()
        self._iter_paused = self.paused()
        self._iter_steps0 = self.model.num_timesteps

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:  # the previous rollout's update has just ended
        self._dump()

    def _on_training_end(self) -> None:  # after the last update
        self._dump()

    def _dump(self) -> None:
        steps = self.model.num_timesteps - self._iter_steps0
        if steps <= 0:
            return
        paused = self.paused()
        elapsed = max(time.perf_counter() - self._iter_start - (paused[0] - self._iter_paused[0]), 1e-9)
        self.state.iteration += 1
        figures: dict[str, Any] = {
            "iteration": self.state.iteration,
            "step": self.model.num_timesteps,
            "env_steps": self.model.num_timesteps,
            "total_steps": self.total_timesteps,
            "fps": steps / elapsed,
            "cpu_sec": time.process_time() - self._iter_cpu - (paused[1] - self._iter_paused[1]),
            "wall_time": self.wall_clock(),
        }
        buffer: Any = self.model.ep_info_buffer or []
        if buffer:
            figures["ep_return_mean"] = float(sum(e["r"] for e in buffer) / len(buffer))
            figures["ep_length_mean"] = float(sum(e["l"] for e in buffer) / len(buffer))
        for key, value in figures.items():
            self.logger.record(key, value)
        self.logger.dump(step=self.model.num_timesteps)
        self._restart()


class ProgressCallback(BaseCallback):
    """A rich bar (steps, fps, ETA, last eval) on a terminal; a plain line every ``interval_sec`` otherwise."""

    def __init__(
        self,
        total_timesteps: int,
        *,
        evaluation: ScheduledEvaluationCallback | None = None,
        interval_sec: float = 30.0,
        tty: bool | None = None,
        stream: Any = None,
    ):
        super().__init__()
        self.total = int(total_timesteps)
        self.evaluation = evaluation
        self.interval_sec = interval_sec
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self._progress: Any = None
        self._task: Any = None
        self._last_line = 0.0
        self._start = time.perf_counter()
        self._start_steps = 0

    def _on_training_start(self) -> None:
        self._start = time.perf_counter()
        self._start_steps = self.model.num_timesteps
        if self.tty:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("[bold]ppo_expert"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[fps]} steps/s"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[last_eval]}"),
                console=Console(file=self.stream),
            )
            self._progress.start()
            self._task = self._progress.add_task(
                "train", total=self.total, completed=self.model.num_timesteps, fps="-", last_eval=""
            )

    def _on_step(self) -> bool:
        return True

    def _last_eval(self) -> str:
        result = self.evaluation.last_result if self.evaluation else None
        if result is None:
            return "no eval yet"
        m = result.means
        return f"eval@{result.eval_step}: success {m['success_rate']:.2f} collision {m['collision_rate']:.2f}"

    def _on_rollout_end(self) -> None:
        self.update()

    def _on_training_end(self) -> None:
        self.update(force=True)
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def update(self, force: bool = False) -> None:
        steps = self.model.num_timesteps
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        fps = (steps - self._start_steps) / elapsed
        if self._progress is not None:
            completed = min(steps, self.total)
            self._progress.update(self._task, completed=completed, fps=f"{fps:.0f}", last_eval=self._last_eval())
            return
        now = time.perf_counter()
        if not force and now - self._last_line < self.interval_sec:
            return
        self._last_line = now
        eta = (self.total - steps) / fps if fps > 0 and steps < self.total else 0.0
        print(
            f"[ppo_expert] step {steps}/{self.total} ({100.0 * steps / max(self.total, 1):.1f}%) "
            f"{fps:.0f} steps/s eta {eta:.0f}s | {self._last_eval()}",
            file=self.stream,
            flush=True,
        )
