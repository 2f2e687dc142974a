"""``train(job)``: the PPO grid expert, run from a resolved configuration into its run directory.

The loop is SB3's ``PPO.learn``; orch adds, through callbacks, evaluation on the resolved schedule, checkpoints with
the resume state, the metrics stream, tracking and the manifests. ``job.resume`` continues from the newest complete
checkpoint (model, ``num_timesteps``, schedule position, best tracker, RNG, W&B run id). ``job.dry_run`` builds
everything, checks the spaces, runs one short rollout and one evaluation episode, and marks the manifests.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from manifests import atomic_write_text, load_run_manifest
from manifests.provenance import allocated_cpus
from trainers.common.checkpoints import CheckpointInfo, find_latest_checkpoint, list_checkpoints, save_checkpoint
from trainers.common.job import TrainJob
from trainers.common.metrics_stream import JsonlWriter
from trainers.common.plots import write_learning_curves
from trainers.common.run_record import RunRecorder
from trainers.common.signals import workers_ignore_stop_signals
from trainers.common.tracking import Tracker
from trainers.ppo_expert.callbacks import (
    CheckpointAtEvaluationCallback,
    EvalLogCallback,
    MetricsLineCallback,
    ProgressCallback,
    ScheduledEvaluationCallback,
    StopOnRequestCallback,
    model_bytes,
)
from trainers.ppo_expert.envsource import CrowdNavSource, EnvSource, split_scenarios
from trainers.ppo_expert.evaluation import Evaluator
from trainers.ppo_expert.logformats import MetricsLineFormat, TrackerFormat
from trainers.ppo_expert.manifest import TRAINER_VERSIONS, build_policy_manifest, mark_dry_run, write_policy_manifest
from trainers.ppo_expert.policies import build_policy_kwargs
from trainers.ppo_expert.resume import clear_logs, restore_state, sync_best, truncate_logs
from trainers.ppo_expert.schedule import EvalSchedule, evaluation_steps
from trainers.ppo_expert.spaces import action_space_json, check_observation_space
from trainers.ppo_expert.state import BestTracker, TrainerState

__all__ = ["TrainOutcome", "configure_threads", "run_training", "train"]

EVAL_SEED_OFFSET = 1_000_000
DRY_RUN_STEPS = 16
PPO_KEYS = (
    "learning_rate",
    "n_steps",
    "batch_size",
    "n_epochs",
    "gamma",
    "gae_lambda",
    "clip_range",
    "clip_range_vf",
    "normalize_advantage",
    "ent_coef",
    "vf_coef",
    "max_grad_norm",
    "use_sde",
    "sde_sample_freq",
    "target_kl",
)


@dataclass(frozen=True)
class TrainOutcome:
    """What a finished run produced (tests and benchmarks read it; the run directory has it all too)."""

    run_dir: Path
    num_timesteps: int
    eval_steps: list[int]
    final_checkpoint: CheckpointInfo
    policy_manifest: Path
    train_wall_sec: float


def train(job: TrainJob) -> None:
    """Registered entry point (``trainers.registry``): train with the embedded crowd-nav simulator."""
    run_training(job)


def run_training(job: TrainJob, *, env_source: EnvSource | None = None, progress_stream: Any = None) -> TrainOutcome:
    """Train and record; a failure leaves its traceback in ``failures/`` and propagates. The job that runs the
    trainer (``orchestrator.launch.entry``) records the failure in ``run.json``, for every trainer alike."""
    run_dir = Path(job.run_dir)
    recorder = RunRecorder(run_dir, resolved=dict(job.resolved))
    try:
        source = env_source or CrowdNavSource.from_settings(job.settings)
        return _Run(job, source, recorder, progress_stream).run()
    except (Exception, KeyboardInterrupt) as exc:
        _write_failure(run_dir, exc)
        raise


def _write_failure(run_dir: Path, exc: BaseException) -> None:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    atomic_write_text(run_dir / "failures" / f"{stamp}-ppo_expert.txt", text)


def configure_threads(num_envs: int, worker_mode: str, cpus: int | None = None) -> dict[str, int]:
    """Split the allocated CPUs: one thread per env worker process, the rest to the learner (at least one).

    With DummyVecEnv the envs step in the learner's own thread, between small policy forwards (batch = num_envs)
    where extra OpenMP threads only spin; half the CPUs is the measured sweet spot there (on 2 shared cores:
    349 steps/s with 1 torch thread, 139 with 2, on the smoke config).
    """
    cpus = cpus or allocated_cpus()
    learner = max(1, cpus - num_envs) if worker_mode == "subproc" else max(1, cpus // 2)
    torch.set_num_threads(learner)
    return {
        "allocated_cpus": cpus,
        "torch_threads": learner,
        "env_workers": num_envs if worker_mode == "subproc" else 0,
    }


_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@contextmanager
def _single_threaded_children() -> Iterator[None]:
    """Env worker processes start with BLAS/OpenMP at one thread each (they inherit the environment)."""
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    os.environ.update({k: "1" for k in _THREAD_VARS})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _monitored(source: EnvSource, scenario_id: str | None, exclude: Sequence[str], seed: int) -> Any:
    return Monitor(source.make(scenario_id=scenario_id, exclude=exclude, seed=seed))


def build_vec_env(
    source: EnvSource, *, num_envs: int, worker_mode: str, scenario_id: str | None, exclude: Sequence[str], seed: int
) -> VecEnv:
    """``num_envs`` monitored envs, env ``i`` seeded ``seed + i``, in worker processes or in this one."""
    fns: list[Callable[[], gym.Env]] = [
        functools.partial(_monitored, source, scenario_id, tuple(exclude), seed + i) for i in range(num_envs)
    ]
    if worker_mode == "subproc" and num_envs > 1:
        with _single_threaded_children(), workers_ignore_stop_signals():
            vec: VecEnv = SubprocVecEnv(fns)
    else:
        vec = DummyVecEnv(fns)
    vec.seed(seed)
    return vec


def ppo_kwargs(settings: Mapping[str, Any], *, num_envs: int, dry_run: bool) -> dict[str, Any]:
    """SB3 PPO keyword arguments from ``ppo_hyperparams`` (reference names); a dry run shrinks the rollout."""
    hyper = {k: v for k, v in dict(settings.get("ppo_hyperparams") or {}).items() if k in PPO_KEYS and v is not None}
    unknown = sorted(set(dict(settings.get("ppo_hyperparams") or {})) - set(PPO_KEYS))
    if unknown:
        raise ValueError(f"ppo_hyperparams has keys SB3 PPO does not take: {unknown} (known: {', '.join(PPO_KEYS)})")
    if dry_run:
        hyper["n_steps"] = min(int(hyper.get("n_steps", 2048)), DRY_RUN_STEPS)
        hyper["batch_size"] = min(int(hyper.get("batch_size", 64)), hyper["n_steps"] * num_envs)
    return hyper


@dataclass(frozen=True)
class _Plan:
    """What one execution trains: sizes, threads, scenarios, PPO keywords, total steps and evaluation schedule."""

    num_envs: int
    worker_mode: str
    threads: Mapping[str, int]
    hold_out: list[str]
    train_ids: list[str]
    eval_ids: list[str]
    hyper: dict[str, Any]
    total: int
    steps: list[int]
    episodes: int


@dataclass(frozen=True)
class _Writers:
    """The run's two line streams: metrics.jsonl (through SB3's logger) and episodes.jsonl."""

    metrics: JsonlWriter
    episodes: JsonlWriter

    def close(self) -> None:
        self.metrics.close()
        self.episodes.close()


def _wall_clock(offset: float) -> Callable[[], float]:
    """Training wall seconds: what earlier attempts recorded plus this attempt's so far."""
    start = time.perf_counter()
    return lambda: offset + time.perf_counter() - start


class _Run:
    """One execution of a run (first start or resume): plan, set up, learn, finish; one method per step."""

    def __init__(self, job: TrainJob, source: EnvSource, recorder: RunRecorder, progress_stream: Any):
        self.job = job
        self.source = source
        self.recorder = recorder
        self.progress_stream = progress_stream
        self.run_dir = Path(job.run_dir)
        self.settings = job.settings
        self.seed = job.seed
        self.dry_run = bool(job.dry_run)

    def _plan(self) -> _Plan:
        """Sizes, threads, scenarios, hyperparameters and the evaluation schedule of this run (a dry run: small)."""
        settings = self.settings
        num_envs = int(settings.get("num_envs") or 1)
        worker_mode = str(settings.get("worker_mode") or ("subproc" if num_envs > 1 else "dummy"))
        if self.dry_run:
            num_envs = min(num_envs, 2)
        evaluation = dict(settings.get("evaluation") or {})
        hold_out = [str(s) for s in evaluation.get("hold_out_scenarios") or []]
        train_ids, eval_ids = split_scenarios(
            self.source.scenario_ids(), scenario_id=settings.get("scenario_id"), hold_out=hold_out
        )
        hyper = ppo_kwargs(settings, num_envs=num_envs, dry_run=self.dry_run)
        total, steps = int(settings["total_timesteps"]), evaluation_steps(settings)
        episodes = int(evaluation.get("evaluation_episodes") or 10)
        if self.dry_run:
            total = int(hyper.get("n_steps", DRY_RUN_STEPS)) * num_envs
            steps, episodes = [total], 1
        threads = configure_threads(num_envs, worker_mode)
        return _Plan(num_envs, worker_mode, threads, hold_out, train_ids, eval_ids, hyper, total, steps, episodes)

    def _resume_point(self) -> CheckpointInfo | None:
        """The newest complete checkpoint to continue from (resume only); a resume with none starts over cleanly."""
        if not self.job.resume:
            return None
        checkpoint = find_latest_checkpoint(self.run_dir)
        if checkpoint is None:
            clear_logs(self.run_dir)  # died before its first checkpoint: start over, without the dead attempt's lines
        return checkpoint

    def run(self) -> TrainOutcome:
        plan = self._plan()
        checkpoint = self._resume_point()
        if checkpoint is not None and checkpoint.kind == "final" and (self.run_dir / "policy.json").exists():
            return self._already_complete(checkpoint)
        if self.job.resolved.get("deterministic"):
            torch.use_deterministic_algorithms(True, warn_only=True)
        with contextlib.ExitStack() as resources:  # closed in reverse: writers, tracker, evaluator, envs
            vec_env = self._vec_env(plan, checkpoint)
            resources.callback(vec_env.close)
            evaluator = self._evaluator(plan)
            resources.callback(evaluator.close)
            signature = self.job.resolved.get("observation_signature")
            if signature:
                check_observation_space(vec_env.observation_space, signature)
            model, state = self._model(vec_env, plan, checkpoint)
            tracker = self._tracker(state)
            resources.callback(tracker.close)
            writers = _Writers(
                JsonlWriter(self.run_dir / "metrics.jsonl"), JsonlWriter(self.run_dir / "episodes.jsonl")
            )
            resources.callback(writers.close)
            model.set_logger(
                Logger(folder=None, output_formats=[MetricsLineFormat(writers.metrics), TrackerFormat(tracker)])
            )
            self._record_start(plan, checkpoint)
            wall_clock = _wall_clock(state.wall_sec)
            train_wall = self._learn(model, state, plan, evaluator, tracker, writers, wall_clock)
            return self._finish(model, state, vec_env, plan.train_ids, wall_clock, train_wall)

    def _vec_env(self, plan: _Plan, checkpoint: CheckpointInfo | None) -> VecEnv:
        return build_vec_env(
            self.source,
            num_envs=plan.num_envs,
            worker_mode=plan.worker_mode,
            scenario_id=self.settings.get("scenario_id"),
            exclude=plan.hold_out,
            seed=self.seed + (checkpoint.step if checkpoint else 0),
        )

    def _evaluator(self, plan: _Plan) -> Evaluator:
        eval_seed = self.seed + EVAL_SEED_OFFSET
        return Evaluator(
            lambda sid: self.source.make(scenario_id=sid, exclude=(), seed=eval_seed),
            plan.eval_ids or [None],
            episodes=plan.episodes,
            seed=eval_seed,
        )

    def _model(self, vec_env: VecEnv, plan: _Plan, checkpoint: CheckpointInfo | None) -> tuple[PPO, TrainerState]:
        """A new PPO model and trainer state, or both as the checkpoint left them (logs cut back to it)."""
        device = str(self.settings.get("device") or "auto")
        if checkpoint is None:
            metric = str(self.settings.get("best_checkpoint_metric") or "success_rate")
            policy_kwargs = build_policy_kwargs(self.settings)
            model = PPO(
                "MultiInputPolicy", vec_env, policy_kwargs=policy_kwargs, seed=self.seed, device=device, **plan.hyper
            )
            return model, TrainerState(best=BestTracker(metric))
        model = PPO.load(checkpoint.path, env=vec_env, device=device)
        state = restore_state(checkpoint)
        truncate_logs(self.run_dir, checkpoint)
        sync_best(self.run_dir, state, self.recorder)
        return model, state

    def _tracker(self, state: TrainerState) -> Tracker:
        """TensorBoard and W&B for this run; a resume keeps the W&B run id of the checkpoint or of run.json."""
        tracking = dict(self.settings.get("tracking") or {})
        previous = load_run_manifest(self.run_dir, validate=False).tracking.get("wandb_run_id")
        tracker = Tracker(
            self.run_dir,
            tensorboard=bool(tracking.get("tensorboard", True)),
            wandb_config=tracking.get("wandb") or {},
            run_config=dict(self.job.resolved),
            wandb_run_id=state.wandb_run_id or previous,
            run_name=self.run_dir.name,
        )
        state.wandb_run_id = tracker.wandb_run_id
        self.recorder.set_tracking(
            tensorboard_dir="tensorboard" if tracker.tensorboard_dir else None,
            wandb_run_id=tracker.wandb_run_id,
            wandb_mode=tracker.wandb_mode,
        )
        return tracker

    def _record_start(self, plan: _Plan, checkpoint: CheckpointInfo | None) -> None:
        self.recorder.mark_running(total_steps=plan.total, versions=TRAINER_VERSIONS)
        self._record_setup(plan.threads, plan.num_envs, plan.worker_mode, plan.train_ids, plan.eval_ids)
        if checkpoint is not None:
            self.recorder.record_progress(checkpoint.step, resumed_from_step=checkpoint.step)
        if self.dry_run:
            mark_dry_run(self.run_dir)

    def _learn(
        self,
        model: PPO,
        state: TrainerState,
        plan: _Plan,
        evaluator: Evaluator,
        tracker: Tracker,
        writers: _Writers,
        wall_clock: Callable[[], float],
    ) -> float:
        """``PPO.learn`` over what is left, with orch's callbacks; a run already at its last step only evaluates.
        Returns the seconds it took."""
        checkpoints = CheckpointAtEvaluationCallback(
            self.run_dir, state, self.recorder, total_timesteps=plan.total, wall_clock=wall_clock
        )
        evaluation = ScheduledEvaluationCallback(
            evaluator,
            EvalSchedule(plan.steps, state.schedule_index),
            state,
            [EvalLogCallback(self.run_dir, writers.episodes, state, tracker), checkpoints],
        )
        metrics = MetricsLineCallback(
            state,
            total_timesteps=plan.total,
            wall_clock=wall_clock,
            paused=lambda: (evaluation.eval_wall_sec, evaluation.eval_cpu_sec),
        )
        progress = ProgressCallback(plan.total, evaluation=evaluation, stream=self.progress_stream)
        stop = StopOnRequestCallback(checkpoints)
        remaining = plan.total - model.num_timesteps
        start = time.perf_counter()
        if remaining > 0:  # log_interval=None: the metrics callback is the logger's one dump, after each update
            model.learn(
                remaining,
                callback=[metrics, evaluation, progress, stop],
                reset_num_timesteps=False,
                log_interval=None,  # type: ignore[arg-type]  # SB3 takes None, its annotation says int
            )
        else:
            evaluation.init_callback(model)
            evaluation.evaluate_if_due()
        return time.perf_counter() - start

    def _record_setup(
        self, threads: Mapping[str, int], num_envs: int, worker_mode: str, train_ids: list[str], eval_ids: list[str]
    ) -> None:
        from manifests import update_run_manifest

        def change(m: Any) -> None:
            m.host = {**m.host, **threads}
            m.extra["ppo_expert"] = {
                "num_envs": num_envs,
                "worker_mode": worker_mode,
                "training_scenarios": train_ids,
                "evaluation_scenarios": eval_ids,
                "dry_run": self.dry_run,
            }

        update_run_manifest(self.run_dir, change)

    def _convergence_step(self, state: TrainerState) -> int | None:
        conv = dict(self.settings.get("convergence") or {})
        if "success_rate" not in conv:
            return None
        for row in state.timeline:
            if row["success_rate"] >= float(conv["success_rate"]) and row["collision_rate"] <= float(
                conv.get("collision_rate", 1.0)
            ):
                return int(row["env_steps"])
        return None

    def _finish(
        self,
        model: PPO,
        state: TrainerState,
        vec_env: VecEnv,
        train_ids: list[str],
        wall_clock: Callable[[], float],
        train_wall: float,
    ) -> TrainOutcome:
        state.wall_sec = wall_clock()
        data = model_bytes(model)
        final = save_checkpoint(
            self.run_dir,
            "final",
            lambda p: p.write_bytes(data),
            step=model.num_timesteps,
            kind="final",
            suffix=".zip",
            metrics=dict(state.timeline[-1]) if state.timeline else {},
            meta={"trainer_state": state.to_json()},
        )
        self.recorder.record_checkpoint(
            final.path, step=final.step, sha256=final.sha256, kind="final", metrics=final.metrics
        )
        policy = self._write_policy(
            final, state, train_ids, action_space_json(vec_env.action_space), model.num_timesteps
        )
        write_learning_curves(self.run_dir, title=str(self.job.resolved.get("name", "")))
        self.recorder.mark_completed(metrics={k: v for k, v in (state.timeline[-1] if state.timeline else {}).items()})
        return TrainOutcome(
            self.run_dir,
            int(model.num_timesteps),
            [int(r["eval_step"]) for r in state.timeline],
            final,
            policy,
            train_wall,
        )

    def _write_policy(
        self, final: CheckpointInfo, state: TrainerState, train_ids: list[str], action: dict[str, Any], executed: int
    ) -> Path:
        best = next((c for c in list_checkpoints(self.run_dir) if c.kind == "best"), None)
        manifest = build_policy_manifest(
            resolved=self.job.resolved,
            run_dir=self.run_dir,
            final=final,
            best=best,
            final_summary=state.last_summary,
            best_summary=state.best.summary,
            scenario_profile=train_ids,
            action_space=action,
            total_timesteps_executed=executed,
            timesteps_to_convergence=self._convergence_step(state),
            dry_run=self.dry_run,
        )
        path = write_policy_manifest(self.run_dir, manifest, self.run_dir.parent.parent)
        self.recorder.set_policy_manifest(path.name)
        return path

    def _already_complete(self, final: CheckpointInfo) -> TrainOutcome:
        """Resume of a run whose final checkpoint exists: nothing to train; make sure the manifests say so."""
        state = restore_state(final)
        policy = self.run_dir / "policy.json"
        self.recorder.mark_completed()
        return TrainOutcome(self.run_dir, final.step, [int(r["eval_step"]) for r in state.timeline], final, policy, 0.0)
