"""The DreamerV3 training loop: ``train(job)`` is the trainer's entry point (``trainers.registry``).

Collect with the policy (uniform random for ``prefill`` steps), add to replay, and run exactly as many updates as
``train_ratio`` asks, counted from the end of the prefill as the reference's ratio counts from its first update: at
the first step where the prefill is done and a sequence fits, one update; N env steps later, 1 + floor(N *
train_ratio / (batch_size * batch_length)) in total, so the prefill's steps never become a burst of updates.
Every ``log_every`` env steps a metrics line; every ``eval_every`` an evaluation (best checkpoint on a new best
return); every ``checkpoint_every`` a checkpoint holding everything needed to resume exactly (model, optimisers,
replay, counters, RNG states, the envs themselves when they pickle). A non-finite value stops the run with a
failure bundle in ``failures/`` and ``run.json`` marked failed; the exception propagates (non-zero exit).
"""

from __future__ import annotations

import pickle
import random
import time
import warnings
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from manifests import atomic_path, atomic_write_json, update_run_manifest
from trainers.common.checkpoints import CheckpointInfo, find_latest_checkpoint, list_checkpoints, save_checkpoint
from trainers.common.job import TrainJob
from trainers.common.metrics_stream import JsonlWriter, read_jsonl, to_jsonable
from trainers.common.run_record import RunRecorder
from trainers.common.signals import TrainingStopped, stop_if_requested, workers_ignore_stop_signals
from trainers.common.tracking import Tracker
from trainers.common.trial import TrialPruned, report_evaluation
from trainers.dreamerv3.agent import DreamerAgent
from trainers.dreamerv3.checkpoints import (
    agent_weights,
    load_agent_weights,
    policy_payload,
    prune,
    replay_of,
    to_host,
)
from trainers.dreamerv3.collector import Collector
from trainers.dreamerv3.config import DreamerConfig
from trainers.dreamerv3.envs import action_spec, make_vector_env, obs_shapes
from trainers.dreamerv3.evaluate import run_episodes
from trainers.dreamerv3.learner import Learner, NonFiniteError, as_floats
from trainers.dreamerv3.outputs import run_metadata, write_failure_bundle, write_policy_manifest
from trainers.dreamerv3.recon import save_reconstruction
from trainers.dreamerv3.replay import SequenceReplay
from trainers.dreamerv3.standing_still import StandingStillCheck, StandingStillError

__all__ = ["DreamerTrainer", "pick_device", "train"]

TIMING_KEYS = ("sps", "train_sps", "time", "wall_s")

# ``check_every: auto`` on CUDA: one host sync per this many updates instead of several in every update.
AUTO_CHECK_EVERY_CUDA = 50


def pick_device(name: str) -> torch.device:
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("device: cuda requested but torch sees no GPU; use device: auto or cpu")
        return torch.device("cuda")
    return torch.device("cpu")


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def train(job: TrainJob) -> None:
    """Trainer entry point: train (or resume) the run of ``job`` to completion."""
    DreamerTrainer(job).run()


class DreamerTrainer:
    """Owns one run: its config, the parts (envs, agent, learner, replay) and the run directory's outputs."""

    def __init__(self, job: TrainJob):
        self.job = job
        self.resolved = dict(job.resolved)
        self.run_dir = Path(job.run_dir)
        self.seed = int(self.resolved.get("seed") or 0)
        self.cfg = DreamerConfig.from_settings(
            job.settings, deterministic=bool(self.resolved.get("deterministic", job.settings.get("deterministic")))
        )
        if job.dry_run:
            self.cfg = dry_run_config(self.cfg)
        self.device = pick_device(self.cfg.device)
        self.recorder = RunRecorder(self.run_dir, resolved=self.resolved)
        self.env_steps = 0
        self.opt_steps = 0
        self.last_metrics: dict[str, Any] = {}
        self.last_batch: Mapping[str, Any] | None = None
        self.best_return: float | None = None
        self.best_returns: list[float] = []
        self.last_eval_returns: list[float] = []
        self.interval: dict[str, Any] = self._new_interval()
        self.next_log = self.cfg.log_every
        self.next_ckpt = self.cfg.checkpoint_every
        self.next_eval = self.cfg.eval_every
        self.train_start: int | None = None  # env steps when training began (the train ratio counts from here)
        self.replay_missing_on_resume = False
        self.check = StandingStillCheck(self.cfg.standing_still_updates) if self.cfg.mode == "standing_still" else None

    # ----------------------------------------------------------------------------------------------- setup
    def _build(self) -> None:
        cfg = self.cfg
        seed_everything(self.seed, cfg.deterministic)
        with workers_ignore_stop_signals():  # async env workers must outlive the job's stop signal
            self.envs = make_vector_env(cfg.env, cfg.num_envs, self.seed, asynchronous=cfg.vector_env == "async")
        self.shapes = obs_shapes(self.envs.single_observation_space)
        self.spec = action_spec(self.envs.single_action_space)
        self.agent = DreamerAgent(self.shapes, self.spec, cfg.model).to(self.device)
        if cfg.compile:
            compile_step_cells(self.agent)
        self.learner = Learner(self.agent, cfg, device=self.device, seed=self.seed)
        self.check_every = self._resolve_check_every()
        self.recent_index: dict[int, torch.Tensor] = {}  # learner update -> replay index of its batch (deferred)
        replay_device = self.device if cfg.replay_on_device else torch.device("cpu")
        self.replay = SequenceReplay(
            self.shapes,
            self.spec.n,
            capacity=cfg.replay_capacity,
            num_envs=cfg.num_envs,
            device=replay_device,
            seed=self.seed,
        )
        self.collector = Collector(self.envs, self.spec, self.device, self.seed)
        if cfg.mode == "standing_still":
            self.collector.fixed_action = self._fixed_action()
        self.env_signature = {k: {"shape": list(s), "dtype": "float32"} for k, s in sorted(self.shapes.items())}

    def _fixed_action(self) -> np.ndarray:
        if self.spec.discrete:
            return np.eye(self.spec.n, dtype=np.float32)[0]
        return np.full(self.spec.n, self.cfg.standing_still_action, np.float32)

    def _open_outputs(self, resume_state: Mapping[str, Any] | None) -> None:
        tracking = self.cfg.tracking or {}
        manifest = self.recorder.load()
        self.tracker = Tracker(
            self.run_dir,
            tensorboard=bool(tracking.get("tensorboard", True)),
            wandb_config=tracking.get("wandb") or {},
            run_config=to_jsonable(dict(self.job.settings)),
            wandb_run_id=manifest.tracking.get("wandb_run_id"),
            run_name=self.run_dir.name,
        )
        self.recorder.set_tracking(
            tensorboard_dir="tensorboard" if self.tracker.tensorboard_dir else None,
            wandb_run_id=self.tracker.wandb_run_id,
            wandb_mode=self.tracker.wandb_mode,
        )
        if self.job.resume:  # drop lines written after the checkpoint we resume from (all of them without one)
            for name in ("metrics.jsonl", "episodes.jsonl"):
                _truncate_jsonl(self.run_dir / name, self.env_steps)
        self.metrics_out = JsonlWriter(self.run_dir / "metrics.jsonl")
        self.episodes_out = JsonlWriter(self.run_dir / "episodes.jsonl")
        atomic_write_json(self.run_dir / "run_meta.json", to_jsonable(run_metadata(self.device, self.resolved)))

    # ------------------------------------------------------------------------------------------------ run
    def run(self) -> None:
        self.recorder.mark_running(total_steps=self.cfg.total_env_steps)
        if self.job.dry_run:
            update_run_manifest(self.run_dir, _mark_dry_run)
        opened = False
        was_deterministic = torch.are_deterministic_algorithms_enabled()
        try:
            self._build()
            resume_state = self._load_latest() if self.job.resume else None
            if resume_state is None:
                self.collector.reset(self.replay)
            self._open_outputs(resume_state)
            opened = True
            self._loop()
            self._finish()
        except NonFiniteError as exc:
            bundle = write_failure_bundle(
                self.run_dir,
                reason=str(exc),
                env_steps=self.env_steps,
                opt_steps=self.opt_steps,
                last_metrics=self.last_metrics,
                error_metrics=exc.metrics,
                resolved=self.resolved,
                batch=self.last_batch,
            )
            self.recorder.mark_failed(
                f"{exc} at env step {self.env_steps} (bundle: {bundle.relative_to(self.run_dir)})"
            )
            raise
        except (TrainingStopped, TrialPruned):  # saving before the job ends / pruned by a study: not failures
            raise
        except BaseException as exc:
            self.recorder.mark_failed(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            torch.use_deterministic_algorithms(was_deterministic)
            if opened:
                self.tracker.close()
                self.metrics_out.close()
                self.episodes_out.close()
            if hasattr(self, "envs"):
                self.envs.close()

    def _loop(self) -> None:
        cfg = self.cfg
        per_update = cfg.replayed_per_update
        self.t_interval = time.perf_counter()
        while not self.done():
            policy = self.agent if self.env_steps >= cfg.prefill else None
            action = self.collector.choose(policy)
            for ep in self.collector.step(action, self.replay):
                self.interval["returns"].append(ep.episode_return)
                self.interval["lengths"].append(ep.length)
                self.episodes_out.write(
                    {
                        "kind": "train",
                        "env_steps": self.env_steps + cfg.num_envs,
                        "env_index": ep.env_index,
                        "episode_return": ep.episode_return,
                        "length": ep.length,
                        "terminated": ep.terminated,
                    }
                )
            self.env_steps += cfg.num_envs
            if self.env_steps >= cfg.prefill and self.replay.can_sample(cfg.batch_length):
                if self.train_start is None:
                    self.train_start = self.env_steps
                due = 1 + int((self.env_steps - self.train_start) * cfg.train_ratio // per_update)
                while self.opt_steps < due:
                    self._update()
            if self.env_steps >= self.next_log or self.env_steps >= cfg.total_env_steps:
                self._log()
                self.next_log += cfg.log_every
            if cfg.eval_episodes > 0 and self.env_steps >= self.next_eval:
                self._evaluate()
                self.next_eval += cfg.eval_every
            if self.env_steps >= self.next_ckpt and self.env_steps < cfg.total_env_steps:
                self.next_ckpt += cfg.checkpoint_every
                self._checkpoint(f"step_{self.env_steps}", "step")
            stop_if_requested(lambda: self._checkpoint(f"step_{self.env_steps}", "step"), step=self.env_steps)

    def done(self) -> bool:
        """True once the run has collected ``total_env_steps`` (benchmarks may also stop on a target return)."""
        return self.env_steps >= self.cfg.total_env_steps

    def _resolve_check_every(self) -> int:
        """Updates between reads of the non-finite checks (1: every update, raising before the bad step)."""
        cfg = self.cfg
        if cfg.mode == "standing_still" or not self.learner.can_defer:  # the standing-still check reads every update
            return 1
        if cfg.check_every == "auto":
            return AUTO_CHECK_EVERY_CUDA if self.device.type == "cuda" else 1
        return int(cfg.check_every)

    def _update(self) -> None:
        batch = self.replay.sample(self.cfg.batch_size, self.cfg.batch_length, self.device)
        self.last_batch = batch
        if self.check_every == 1:
            metrics = self.learner.train_step(batch)
        else:  # GPU hot path: no host sync inside the update; the checks are read every check_every updates
            self.recent_index[self.learner.updates] = batch["index"]
            metrics = self.learner.train_step(batch, sync=False)
            if len(self.recent_index) >= self.check_every:
                self._read_checks()
        self.opt_steps += 1
        acc = self.interval["metrics"]
        for k, v in metrics.items():
            acc[k] = acc.get(k, 0.0) + v
        self.interval["updates"] += 1
        if self.check is not None:
            self.check.observe(metrics)

    def _read_checks(self) -> None:
        """Read the deferred checks (one sync). On a non-finite update, rebuild its batch for the failure bundle."""
        try:
            self.learner.raise_pending(self.last_metrics)
        except NonFiniteError as exc:
            index = self.recent_index.get(exc.update) if exc.update is not None else None
            if index is not None:
                self.last_batch = self.replay.gather(index, self.cfg.batch_length, self.device)
            raise
        finally:
            self.recent_index.clear()

    def _new_interval(self) -> dict[str, Any]:
        return {"metrics": {}, "updates": 0, "returns": [], "lengths": [], "env_steps": getattr(self, "env_steps", 0)}

    def _log(self) -> None:
        self._read_checks()
        now = time.perf_counter()
        dt = max(now - self.t_interval, 1e-9)
        iv = self.interval
        n = max(iv["updates"], 1)
        cfg = self.cfg
        record: dict[str, Any] = {
            "step": self.env_steps,
            "env_steps": self.env_steps,
            "total_steps": cfg.total_env_steps,
            "opt_steps": self.opt_steps,
            "sps": (self.env_steps - iv["env_steps"]) / dt,
            "train_sps": iv["updates"] * cfg.replayed_per_update / dt,
            "replay_size": len(self.replay),
            "replay_ratio": self.opt_steps * cfg.replayed_per_update / max(self.env_steps, 1),
            "updates_in_interval": iv["updates"],
        }
        means = as_floats(iv["metrics"])  # deferred checks leave device tensors here: one sync for all of them
        record.update({k: (v / n if iv["updates"] else None) for k, v in means.items()})
        rets = iv["returns"]
        record["episodes"] = len(rets)
        record["episode_return"] = float(np.mean(rets)) if rets else None
        record["episode_length"] = float(np.mean(iv["lengths"])) if rets else None
        self.metrics_out.write(record)
        self.tracker.log({k: v for k, v in record.items() if v is not None}, step=self.env_steps)
        self.last_metrics = record
        self.recorder.record_progress(self.env_steps, opt_steps=self.opt_steps)
        self.interval = self._new_interval()
        self.t_interval = time.perf_counter()

    def _evaluate(self) -> None:
        records = run_episodes(
            self.agent, self.cfg.env, self.cfg.eval_episodes, seed=self.seed + 1_000_003, device=self.device
        )
        returns = [r["episode_return"] for r in records]
        for r in records:
            self.episodes_out.write({"kind": "eval", "env_steps": self.env_steps, **r})
        self.last_eval_returns = returns
        mean = float(np.mean(returns))
        self.tracker.log({"eval_return": mean}, step=self.env_steps)
        self._policy_checkpoint(f"policy_{self.env_steps}", "policy", mean)
        if self.best_return is None or mean > self.best_return:
            self.best_return = mean
            self.best_returns = returns
            self._policy_checkpoint("best", "best", mean)
        report_evaluation(self.env_steps, {"eval_return": mean})  # a study's trial: the pruner may stop it here

    # ------------------------------------------------------------------------------------------ checkpoints
    def _state(self) -> dict[str, Any]:
        """Everything a resume needs except the replay (which goes to its own file, see ``checkpoints.py``)."""
        try:
            envs_blob: bytes | None = pickle.dumps(self.envs)
        except Exception:  # an env that does not pickle is reset on resume instead
            envs_blob = None
        return {
            "agent": agent_weights(self.agent),
            "learner": to_host(self.learner.state_dict()),
            "collector": to_host(self.collector.state_dict()),
            "envs": envs_blob,
            "counters": {
                "env_steps": self.env_steps,
                "opt_steps": self.opt_steps,
                "next_log": self.next_log,
                "next_ckpt": self.next_ckpt,
                "next_eval": self.next_eval,
                "train_start": self.train_start,
                "best_return": self.best_return,
                "best_returns": self.best_returns,
                "last_eval_returns": self.last_eval_returns,
                "interval": to_host(self.interval),
                "last_metrics": self.last_metrics,
                "check": None if self.check is None else self.check.state_dict(),
            },
            "rng": {
                "torch": torch.get_rng_state(),
                "numpy": np.random.get_state(),
                "python": random.getstate(),
                "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
            },
        }

    def _checkpoint(self, name: str, kind: str, metrics: Mapping[str, Any] | None = None) -> CheckpointInfo:
        """A resume checkpoint (``step`` or ``final``): its replay file first, then the state naming it; once both
        are complete, older step checkpoints beyond ``keep_last`` and every older replay file are deleted."""
        self._read_checks()  # never checkpoint past an unread non-finite update
        replay_name = f"replay_{self.env_steps}" if kind == "step" else f"replay_{name}"
        replay = self._save(replay_name, "replay", {"replay": self.replay.state_dict()}, {})
        self.recorder.record_checkpoint(replay.path, step=replay.step, sha256=replay.sha256, kind="replay", metrics={})
        meta = {
            "opt_steps": self.opt_steps,
            "replay_size": len(self.replay),
            "replay_checkpoint": replay_name,
            "replay_sha256": replay.sha256,
        }
        info = self._save(name, kind, self._state(), dict(metrics or {}), meta)
        self.recorder.record_checkpoint(info.path, step=info.step, sha256=info.sha256, kind=kind, metrics=info.metrics)
        gone = prune(self.run_dir, info, self.cfg.keep_last)
        if gone:
            self.recorder.drop_checkpoints(gone)
        return info

    def _policy_checkpoint(self, name: str, kind: str, eval_return: float) -> CheckpointInfo:
        """Weights only, for ``orch eval``: one per evaluation (``policy_<N>``) and the ``best``."""
        info = self._save(name, kind, policy_payload(self.agent, self.env_steps), {"eval_return": eval_return})
        self.recorder.record_checkpoint(info.path, step=info.step, sha256=info.sha256, kind=kind, metrics=info.metrics)
        return info

    def _save(
        self, name: str, kind: str, payload: Any, metrics: dict[str, Any], meta: dict[str, Any] | None = None
    ) -> CheckpointInfo:
        def write(path: Path) -> None:
            torch.save(payload, path)

        return save_checkpoint(self.run_dir, name, write, step=self.env_steps, kind=kind, metrics=metrics, meta=meta)

    def _load_latest(self) -> dict[str, Any] | None:
        info = find_latest_checkpoint(self.run_dir)
        if info is None:
            return None
        state = torch.load(info.path, map_location="cpu", weights_only=False)
        load_agent_weights(self.agent, state["agent"])
        self.learner.load_state_dict(state["learner"])
        replay = replay_of(info)
        if replay is not None:
            self.replay.load_state_dict(torch.load(replay.path, map_location="cpu", weights_only=False)["replay"])
        elif "replay" in state:  # a checkpoint of an older orch embeds the replay
            self.replay.load_state_dict(state["replay"])
        else:
            self.replay_missing_on_resume = True
            warnings.warn(
                f"resuming {self.run_dir.name} from {info.path.name} without its replay (absent or torn): "
                "collection refills an empty replay before training goes on",
                stacklevel=2,
            )
        if state.get("envs") is not None:
            self.envs.close()
            self.envs = pickle.loads(state["envs"])
            self.collector.envs = self.envs
            self.collector.load_state_dict(state["collector"])
        else:
            self.collector.reset(self.replay)
        c = state["counters"]
        self.env_steps, self.opt_steps = int(c["env_steps"]), int(c["opt_steps"])
        self.next_log, self.next_ckpt, self.next_eval = c["next_log"], c["next_ckpt"], c["next_eval"]
        self.train_start = c.get("train_start")
        self.best_return, self.best_returns = c["best_return"], c["best_returns"]
        self.last_eval_returns, self.interval, self.last_metrics = (
            c["last_eval_returns"],
            c["interval"],
            c["last_metrics"],
        )
        if self.check is not None and c.get("check"):
            self.check.load_state_dict(c["check"])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        np.random.set_state(rng["numpy"])
        random.setstate(rng["python"])
        if rng.get("cuda") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.resumed_from = info
        return state

    # ---------------------------------------------------------------------------------------------- finish
    def _finish(self) -> None:
        self._read_checks()
        if self.check is not None:
            result = self.check.result()
            atomic_write_json(self.run_dir / "standing_still.json", to_jsonable(result))
            self.metrics_out.write(
                {
                    "step": self.env_steps,
                    "env_steps": self.env_steps,
                    "total_steps": self.cfg.total_env_steps,
                    "standing_still": result,
                }
            )
            if not result["passed"]:
                raise StandingStillError(result["reason"])
        if self.cfg.eval_episodes > 0 and not self.last_eval_returns:
            self._evaluate()
        if self.replay.can_sample(self.cfg.batch_length):  # real vs decoded observations for ``orch plot``
            batch = self.replay.sample(1, self.cfg.batch_length, self.device)
            save_reconstruction(self.agent, batch, self.run_dir / "recon.npz", step=self.env_steps)
        final = self._checkpoint("final", "final", metrics={"eval_return": _mean(self.last_eval_returns)})
        best = next((c for c in list_checkpoints(self.run_dir) if c.kind == "best"), None)
        policy = write_policy_manifest(
            run_dir=self.run_dir,
            resolved=self.resolved,
            final=final,
            best=best,
            eval_returns=self.last_eval_returns,
            best_returns=self.best_returns,
            observation_signature=self.env_signature,
            action_space={
                "type": "discrete" if self.spec.discrete else "box",
                "n": self.spec.n,
                "low": None if self.spec.discrete else -1.0,
                "high": None if self.spec.discrete else 1.0,
            },
            env_steps=self.env_steps,
            dry_run=self.job.dry_run,
        )
        self.recorder.set_policy_manifest(str(policy.relative_to(self.run_dir)))
        summary: dict[str, Any] = {k: v for k, v in self.last_metrics.items() if isinstance(v, int | float)}
        summary["eval_return"] = _mean(self.last_eval_returns)
        self.recorder.mark_completed(metrics=summary)


def compile_step_cells(agent: DreamerAgent) -> None:
    """``torch.compile`` the cells called once per time step (the GRU, the imagination step): many small ops each,
    which the compiler fuses. In place (``nn.Module.compile``, a compiled method): parameter names do not change, so
    checkpoints load with and without ``compile``."""
    rssm = agent.rssm
    rssm.gru.compile()
    rssm.img_step_index = torch.compile(rssm.img_step_index)  # type: ignore[method-assign]


def dry_run_config(cfg: DreamerConfig) -> DreamerConfig:
    """``--dry-run``: the real model and env, two sequences of data, two updates, one evaluation episode."""
    total = cfg.num_envs * cfg.batch_length * 2
    return replace(
        cfg,
        total_env_steps=total,
        prefill=total // 2,
        train_ratio=cfg.replayed_per_update * 2 / total,
        log_every=total // 2,
        checkpoint_every=total,
        eval_every=total,
        eval_episodes=min(cfg.eval_episodes, 1),
    )


def _mark_dry_run(manifest: Any) -> None:
    manifest.dry_run = True


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _truncate_jsonl(path: Path, env_steps: int) -> None:
    """Keep the lines at or before ``env_steps`` (what the checkpoint we resume from had seen)."""
    if not path.exists():
        return
    keep = [r for r in read_jsonl(path) if int(r.get("env_steps", r.get("step", 0)) or 0) <= env_steps]
    import json

    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in keep), encoding="utf-8")
