"""A real, tiny trainer for the launch tests: it counts steps, writes metrics.jsonl and checkpoints, and resumes.

Knobs (``settings``): ``total_steps``, ``step_sleep_s``, ``checkpoint_every``, ``fail_at_step`` (raise there; on
the first attempt only with ``fail_once``), ``hang_at_step`` (block there until killed or signalled; on the first
attempt only unless ``hang_on_resume``), ``resume_step_sleep_s`` (pace after a resume), ``num_envs`` (``auto`` is
decided on the node by the launcher), ``wandb`` (log every step to an offline W&B run, reusing the run's W&B id as
the real trainers do), ``report_env`` (names of variables whose presence, never value, goes into metrics.jsonl).
Like the real trainers it polls ``trainers.common.signals`` at every step boundary (and while it hangs): on a stop
request it saves a checkpoint marked ``saved_on: stop`` and raises ``TrainingStopped``. ``ignore_stop`` makes it
deaf to that (the job entry's deadline must requeue it anyway); ``slow_stop_save_s`` makes that checkpoint's write
last this long (a write the deadline cuts short).
It goes through the same helpers as the real trainers (RunRecorder, JsonlWriter, save_checkpoint), so the
launcher sees exactly what it sees from them. ``resolve_toy`` is its config resolution: the YAML file's keys are the
settings, with defaults filled and ``--set`` overrides applied, and it answers with the ResolvedConfig interface.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestrator.errors import ConfigError, ConfigIssue
from trainers.common.checkpoints import find_latest_checkpoint, save_checkpoint
from trainers.common.job import TrainJob
from trainers.common.metrics_stream import JsonlWriter
from trainers.common.run_record import RunRecorder
from trainers.common.signals import stop_if_requested
from trainers.common.tracking import Tracker

DEFAULTS: dict[str, Any] = {
    "total_steps": 6,
    "step_sleep_s": 0.0,
    "resume_step_sleep_s": None,
    "checkpoint_every": 1,
    "fail_at_step": None,
    "hang_at_step": None,
    "hang_on_resume": False,
    "fail_once": False,
    "num_envs": 1,
    "wandb": False,
    "report_env": [],
    "ignore_stop": False,
    "slow_stop_save_s": 0.0,
}


def auto_num_envs(cpus: int, mem_gb: float | None = None) -> int:
    """The toy's rule, easy to recognise in a test: two envs per CPU."""
    return 2 * cpus


def reward(seed: int, step: int) -> float:
    return round(step * 0.1 + seed * 0.01, 6)


def train(job: TrainJob) -> None:
    settings = job.settings
    total = int(settings["total_steps"]) if not job.dry_run else min(2, int(settings["total_steps"]))
    recorder = RunRecorder(job.run_dir, resolved=dict(job.resolved))
    recorder.mark_running(total_steps=total, versions=("orch",))
    start = 0
    if job.resume:
        latest = find_latest_checkpoint(job.run_dir)
        if latest is not None:
            start = json.loads(latest.path.read_text())["step"]
    sleep = float(settings["step_sleep_s"])
    if job.resume and settings.get("resume_step_sleep_s") is not None:
        sleep = float(settings["resume_step_sleep_s"])
    print(f"toy: start at step {start} of {total} (resume={job.resume}, num_envs={settings['num_envs']})", flush=True)
    tracker = _tracker(job, recorder) if settings.get("wandb") else None
    try:
        with JsonlWriter(Path(job.run_dir) / "metrics.jsonl") as metrics:
            if settings.get("report_env"):
                present = {name: bool(os.environ.get(name)) for name in settings["report_env"]}
                metrics.write({"step": start, "env_present": present})
            for step in range(start + 1, total + 1):
                time.sleep(sleep)
                value = reward(job.seed, step)
                metrics.write({"step": step, "total_steps": total, "reward": value, "resumed_from": start})
                if tracker is not None:
                    tracker.log({"reward": value}, step=step)
                print(f"toy: step {step}", flush=True)
                if settings["checkpoint_every"] and step % int(settings["checkpoint_every"]) == 0:
                    _save(job, step, 0.0, {"reward": value})
                if settings["fail_at_step"] == step and not (job.resume and settings["fail_once"]):
                    raise RuntimeError(f"toy failure at step {step}")
                if settings["hang_at_step"] == step and (not job.resume or settings["hang_on_resume"]):
                    print("toy: hanging", flush=True)
                    while True:
                        time.sleep(0.1)
                        _poll_stop(job, step, settings)
                _poll_stop(job, step, settings)
        recorder.mark_completed(metrics={"reward": reward(job.seed, total)})
    finally:
        if tracker is not None:
            tracker.close()


def _save(job: TrainJob, step: int, slow_s: float, metrics: dict[str, Any], meta: dict[str, Any] | None = None) -> None:
    def write(path: Path) -> None:
        path.write_text(json.dumps({"step": step}))
        time.sleep(slow_s)

    save_checkpoint(job.run_dir, f"step_{step}", write, step=step, suffix=".json.ckpt", metrics=metrics, meta=meta)


def _poll_stop(job: TrainJob, step: int, settings: dict[str, Any]) -> None:
    """The step boundary: save and stop when the job entry asked for it (a time limit or preemption is near)."""
    if not settings["ignore_stop"]:
        slow = float(settings["slow_stop_save_s"])
        stop_if_requested(lambda: _save(job, step, slow, {}, {"saved_on": "stop"}), step=step)


def _tracker(job: TrainJob, recorder: RunRecorder) -> Tracker:
    """An offline W&B run (no TensorBoard), continuing the run's W&B id on resume, as the real trainers do."""
    tracker = Tracker(
        job.run_dir,
        tensorboard=False,
        wandb_config={"enabled": True, "project": "orch-toy", "mode": "offline"},
        wandb_run_id=recorder.load().tracking.get("wandb_run_id"),
        run_name=Path(job.run_dir).name,
    )
    recorder.set_tracking(wandb_run_id=tracker.wandb_run_id, wandb_mode=tracker.wandb_mode)
    return tracker


@dataclass(frozen=True)
class ToyResolved:
    """The toy trainer's resolved config, with the ResolvedConfig interface the launcher uses."""

    trainer: str
    name: str
    seeds: tuple[int, ...]
    settings: dict[str, Any]
    config_hash: str
    source: dict[str, Any]
    deterministic: bool = False
    observation_signature: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "trainer": self.trainer,
            "name": self.name,
            "source": dict(self.source),
            "seeds": list(self.seeds),
            "seed": None,
            "deterministic": self.deterministic,
            "settings": json.loads(json.dumps(self.settings)),
            "observation_signature": {},
            "config_hash": self.config_hash,
            "warnings": list(self.warnings),
            "not_applicable": [],
        }

    def for_seed(self, seed: int) -> dict[str, Any]:
        doc = self.to_json()
        doc["seed"] = int(seed)
        return doc


def resolve_toy(path: str | Path, *, overrides: list[str] | tuple[str, ...] = (), strict: bool = False) -> ToyResolved:
    """Resolve a toy config; every problem becomes a ConfigIssue, as the real resolver does."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(ConfigIssue(str(p), None, "", "file not found")) from None
    issues = []
    for item in overrides:
        key, _, value = item.partition("=")
        data[key.removeprefix("settings.")] = yaml.safe_load(value)
    known = {*DEFAULTS, "trainer", "name", "seeds"}
    for key in data:
        if key not in known:
            issues.append(ConfigIssue(str(p), 1, key, f"unknown key {key!r}", "see DEFAULTS in toy_trainer.py"))
    if not isinstance(data.get("total_steps", 1), int):
        issues.append(ConfigIssue(str(p), 1, "total_steps", "must be an integer"))
    if issues:
        raise ConfigError(issues)
    settings = {**DEFAULTS, **{k: v for k, v in data.items() if k in DEFAULTS}}
    auto = {}
    if settings["num_envs"] == "auto":
        settings["num_envs"] = auto_num_envs(1)
        auto["num_envs"] = "auto: from 1 CPU"
    name = str(data.get("name") or p.stem)
    seeds = tuple(int(s) for s in data.get("seeds") or (0,))
    text = json.dumps({"name": name, "seeds": seeds, "settings": settings}, sort_keys=True)
    return ToyResolved(
        trainer=str(data.get("trainer", "toy")),
        name=name,
        seeds=seeds,
        settings=settings,
        config_hash=hashlib.sha256(text.encode()).hexdigest(),
        source={"path": str(p.absolute()), "detected_as": "toy", "auto": auto},
    )
