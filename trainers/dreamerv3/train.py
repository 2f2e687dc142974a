"""The DreamerV3 training loop: ``train(job)`` is the trainer's entry point (``trainers.registry``).

Collect with the policy (uniform random for ``prefill`` steps), add to replay, and run exactly as many updates as
``train_ratio`` asks (``progress.py``: counted from the end of the prefill, no burst of updates for its steps).
Every ``log_every`` env steps a metrics line; every ``eval_every`` an evaluation (a policy checkpoint, and the best
checkpoint on a new best return); every ``checkpoint_every`` a checkpoint holding everything needed to resume
exactly (model, optimisers, counters, RNG states, the envs themselves when they pickle; the replay in its own file).
A non-finite value stops the run with a failure bundle in ``failures/`` and ``run.json`` marked failed; the
exception propagates (non-zero exit).
"""

from __future__ import annotations

import contextlib
import json
import pickle
import random
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from manifests import atomic_path, atomic_write_json, update_run_manifest
from trainers.common.checkpoints import CheckpointInfo, find_latest_checkpoint, list_checkpoints, save_checkpoint
from trainers.common.job import TrainJob
from trainers.common.metrics_stream import read_jsonl, to_jsonable
from trainers.common.run_record import RunRecorder
from trainers.common.signals import TrainingStopped, stop_if_requested
from trainers.common.trial import TrialPruned, report_evaluation
from trainers.dreamerv3.checkpoints import agent_weights, load_agent_weights, policy_payload, prune, replay_of, to_host
from trainers.dreamerv3.collector import EpisodeResult
from trainers.dreamerv3.config import DreamerConfig
from trainers.dreamerv3.evaluate import run_episodes
from trainers.dreamerv3.graphs import GraphedUpdate
from trainers.dreamerv3.learner import Learner, NonFiniteError, as_floats
from trainers.dreamerv3.outputs import RunOutputs, open_outputs, write_failure_bundle, write_policy_manifest
from trainers.dreamerv3.overlap import EnvSteps
from trainers.dreamerv3.parts import RunParts, build_parts, compile_step_cells, pick_device
from trainers.dreamerv3.progress import Progress
from trainers.dreamerv3.recon import save_reconstruction
from trainers.dreamerv3.replay_files import ChunkRecords, load_replay_chunks, ring_state, write_replay_chunks
from trainers.dreamerv3.staging import BatchSource, FreshBatches, StaticBatches
from trainers.dreamerv3.standing_still import StandingStillCheck, StandingStillError

__all__ = ["DreamerTrainer", "compile_step_cells", "pick_device", "train"]

# Runs that share a process (``runs_per_job``) are built one at a time: ``seed_everything`` seeds the global
# generators the weight init draws from, and a checkpoint's restore sets them; interleaved, two runs would draw each
# other's numbers. After building, every draw of a run comes from its own generators.
_BUILDING = threading.RLock()


class _ProcessDeterminism:
    """torch's deterministic-algorithms switch is process-wide: the runs of one process hold it together, and the
    setting found before the first of them is given back when the last one ends (a run that ends first must not
    switch it off under a sibling that still trains)."""

    def __init__(self) -> None:
        self.live = 0
        self.before = False

    def hold(self) -> None:
        with _BUILDING:
            if self.live == 0:
                self.before = torch.are_deterministic_algorithms_enabled()
            self.live += 1

    def release(self) -> None:
        with _BUILDING:
            self.live -= 1
            if self.live == 0:
                torch.use_deterministic_algorithms(self.before)


_DETERMINISM = _ProcessDeterminism()

# ``check_every: auto`` on CUDA: one host sync per this many updates instead of several in every update.
AUTO_CHECK_EVERY_CUDA = 50


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


def run_config(job: TrainJob) -> DreamerConfig:
    """The typed config of ``job`` (the dry-run variant for ``--dry-run``)."""
    resolved = job.resolved
    deterministic = bool(resolved.get("deterministic", job.settings.get("deterministic")))
    cfg = DreamerConfig.from_settings(job.settings, deterministic=deterministic)
    return dry_run_config(cfg) if job.dry_run else cfg


def resolve_check_every(cfg: DreamerConfig, learner: Learner, device: torch.device) -> int:
    """Updates between reads of the non-finite checks (1: every update, raising before the bad step). A captured
    update (``cuda_graph``) cannot read them inside: ``auto`` defers them on every device, and it needs fused Adam."""
    if cfg.cuda_graph and not learner.can_defer:
        raise ValueError("cuda_graph needs the fused Adam step, which this torch build lacks on this device")
    if cfg.mode == "standing_still" or not learner.can_defer:  # the standing-still check reads every update
        return 1
    if cfg.check_every == "auto":
        return AUTO_CHECK_EVERY_CUDA if device.type == "cuda" or cfg.cuda_graph else 1
    return int(cfg.check_every)


def batches_and_update(
    cfg: DreamerConfig, parts: RunParts, device: torch.device
) -> tuple[BatchSource, GraphedUpdate | None]:
    """Where the updates take their batches from, and the captured update when ``cuda_graph`` asks for one: static
    batch tensors for ``cuda_graph`` or ``pinned_staging`` (``staging.py``), a fresh batch per update otherwise."""
    shape = (parts.replay, cfg.batch_size, cfg.batch_length, device)
    if not (cfg.cuda_graph or cfg.pinned_staging):
        return FreshBatches(*shape), None
    static = StaticBatches(*shape)
    return static, GraphedUpdate(parts.learner, static.tensors) if cfg.cuda_graph else None


class DreamerTrainer:
    """Owns one run. Built complete here: the config, the run's parts (``parts.py``), the state of the newest valid
    checkpoint when resuming, and the outputs (metrics, episodes, TensorBoard / W&B). :meth:`run` trains to the end
    and releases everything; :meth:`close` releases a trainer that is not run. A failure while building or training
    marks the run failed (a non-finite value with a failure bundle) and propagates."""

    def __init__(self, job: TrainJob):
        self.job = job
        self.resolved = dict(job.resolved)
        self.run_dir = Path(job.run_dir)
        self.seed = int(self.resolved.get("seed") or 0)
        self.cfg = run_config(job)
        self.device = pick_device(self.cfg.device)
        self.recorder = RunRecorder(self.run_dir, resolved=self.resolved)
        self.progress = Progress.start(self.cfg)
        self.check = StandingStillCheck(self.cfg.standing_still_updates) if self.cfg.mode == "standing_still" else None
        self.last_batch: Mapping[str, Any] | None = None
        self.recent_index: dict[int, torch.Tensor] = {}  # learner update -> replay index of its batch (deferred)
        self.resumed_from: CheckpointInfo | None = None
        self.replay_missing_on_resume = False
        self.replay_records: ChunkRecords = {}  # the replay files the newest checkpoint names
        self._holds_determinism = False
        self.recorder.mark_running(total_steps=self.cfg.total_env_steps)
        if job.dry_run:
            update_run_manifest(self.run_dir, _mark_dry_run)
        with _BUILDING:  # seeding and weight init use the global generators: one run at a time per process
            _DETERMINISM.hold()
            self._holds_determinism = True
            self._build(job)
        self.env_thread = EnvSteps() if self.cfg.overlap_collection else None
        self.t_interval = time.perf_counter()

    def _build(self, job: TrainJob) -> None:
        """Seed, build the run's parts, restore its checkpoint when resuming, open its outputs."""
        with self._failure_recorded():
            seed_everything(self.seed, self.cfg.deterministic)
            self.parts: RunParts = build_parts(self.cfg, self.seed, self.device)
        with self._failure_recorded(close_parts=True):
            self.check_every = resolve_check_every(self.cfg, self.parts.learner, self.device)
            self.batches, self.graphed = batches_and_update(self.cfg, self.parts, self.device)
            resumed = job.resume and self._resume()
            if job.resume:  # drop lines written after the checkpoint resumed from (all of them without one)
                self._truncate_outputs()
            if not resumed:
                self.parts.collector.reset(self.parts.replay)
            self.outputs: RunOutputs = open_outputs(self.run_dir, self.cfg, job, self.recorder, self.device)

    @contextlib.contextmanager
    def _failure_recorded(self, *, close_parts: bool = False) -> Iterator[None]:
        """While building: an exception marks the run failed, releases what was built and propagates."""
        try:
            yield
        except BaseException as exc:
            self.recorder.mark_failed(f"{type(exc).__name__}: {exc}")
            self._release_determinism()
            if close_parts:
                self.parts.close()
            raise

    # ------------------------------------------------------------------------------------------------ run
    def run(self) -> None:
        """Train to ``total_env_steps``, write the final checkpoint and policy manifest, release everything."""
        try:
            self._loop()
            self._finish()
        except NonFiniteError as exc:
            self._record_non_finite(exc)
            raise
        except (TrainingStopped, TrialPruned):  # saving before the job ends / pruned by a study: not failures
            raise
        except BaseException as exc:
            self.recorder.mark_failed(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self.close()

    def _release_determinism(self) -> None:
        if self._holds_determinism:
            self._holds_determinism = False
            _DETERMINISM.release()

    def close(self) -> None:
        """Release the env thread, the outputs and the envs (idempotent)."""
        self._release_determinism()
        if self.env_thread is not None:
            self.env_thread.close()
        self.outputs.close()
        self.parts.close()

    def done(self) -> bool:
        """True once the run has collected ``total_env_steps`` (benchmarks may also stop on a target return)."""
        return self.progress.env_steps >= self.cfg.total_env_steps

    def _loop(self) -> None:
        self.t_interval = time.perf_counter()
        while not self.done():
            if self.env_thread is None:
                self._collect()
                self._updates()
            else:
                self._collect_while_learning(self.env_thread)
            self._periodic()

    def _updates(self) -> None:
        """The updates due now, so that the train ratio holds (``progress.py``)."""
        for _ in range(self.progress.updates_due(self.cfg, self.parts.replay.can_sample(self.cfg.batch_length))):
            self._update()

    def _choose(self) -> np.ndarray:
        """The next actions: the agent's after the prefill, uniform random ones before."""
        policy = self.parts.agent if self.progress.env_steps >= self.cfg.prefill else None
        return self.parts.collector.choose(policy)

    def _collect(self) -> None:
        """One step of every env, recorded into the replay."""
        ended = self.parts.collector.step(self._choose(), self.parts.replay)
        self.progress.env_steps += self.cfg.num_envs
        for episode in ended:
            self._record_episode(episode)

    def _collect_while_learning(self, env_thread: EnvSteps) -> None:
        """``overlap_collection``: the env step runs in ``env_thread`` while the due updates run here; the step is
        recorded into the replay after them (``overlap.py``)."""
        collector = self.parts.collector
        action = self._choose()
        env_thread.start(collector.envs, collector.env_action(action))
        self.progress.env_steps += self.cfg.num_envs
        self._updates()
        for episode in collector.record(action, env_thread.result(), self.parts.replay):
            self._record_episode(episode)

    def _record_episode(self, ep: EpisodeResult) -> None:
        self.progress.interval.returns.append(ep.episode_return)
        self.progress.interval.lengths.append(ep.length)
        row = {"kind": "train", "env_steps": self.progress.env_steps, "env_index": ep.env_index}
        row.update({"episode_return": ep.episode_return, "length": ep.length, "terminated": ep.terminated})
        self.outputs.episodes.write(row)

    def _periodic(self) -> None:
        """What is due after a step: a metrics line, an evaluation, a checkpoint, a stop at a job's end."""
        cfg, progress = self.cfg, self.progress
        if progress.env_steps >= progress.next_log or progress.env_steps >= cfg.total_env_steps:
            self._log()
            progress.next_log += cfg.log_every
        if cfg.eval_episodes > 0 and progress.env_steps >= progress.next_eval:
            self._evaluate()
            progress.next_eval += cfg.eval_every
        if progress.env_steps >= progress.next_ckpt and progress.env_steps < cfg.total_env_steps:
            progress.next_ckpt += cfg.checkpoint_every
            self._checkpoint(f"step_{progress.env_steps}", "step")
        stop_if_requested(lambda: self._checkpoint(f"step_{progress.env_steps}", "step"), step=progress.env_steps)

    # -------------------------------------------------------------------------------------------- updates
    def _update(self) -> None:
        learner = self.parts.learner
        batch = self.batches.sample()
        self.last_batch = batch
        if self.check_every == 1:
            metrics = learner.train_step(batch)
        else:  # GPU hot path: no host sync inside the update; the checks are read every check_every updates
            self.recent_index[learner.updates] = batch["index"].clone()  # a static batch is overwritten next time
            metrics = self.graphed(batch) if self.graphed is not None else learner.train_step(batch, sync=False)
            if len(self.recent_index) >= self.check_every:
                self._read_checks()
        self.progress.opt_steps += 1
        self.progress.interval.add_update(metrics)
        if self.check is not None:
            self.check.observe(metrics)

    def _read_checks(self) -> None:
        """Read the deferred checks (one sync). On a non-finite update, rebuild its batch for the failure bundle."""
        try:
            self.parts.learner.raise_pending(self.progress.last_metrics)
        except NonFiniteError as exc:
            index = self.recent_index.get(exc.update) if exc.update is not None else None
            if index is not None:
                self.last_batch = self.parts.replay.gather(index, self.cfg.batch_length, self.device)
            raise
        finally:
            self.recent_index.clear()

    def _record_non_finite(self, exc: NonFiniteError) -> None:
        progress = self.progress
        bundle = write_failure_bundle(
            self.run_dir,
            reason=str(exc),
            env_steps=progress.env_steps,
            opt_steps=progress.opt_steps,
            last_metrics=progress.last_metrics,
            error_metrics=exc.metrics,
            resolved=self.resolved,
            batch=self.last_batch,
        )
        where = f"at env step {progress.env_steps} (bundle: {bundle.relative_to(self.run_dir)})"
        self.recorder.mark_failed(f"{exc} {where}")

    # ------------------------------------------------------------------------------------ logs and evaluation
    def _log(self) -> None:
        self._read_checks()
        record = self._metrics_record(time.perf_counter() - self.t_interval)
        self.outputs.metrics.write(record)
        self.outputs.tracker.log({k: v for k, v in record.items() if v is not None}, step=self.progress.env_steps)
        self.progress.last_metrics = record
        self.recorder.record_progress(self.progress.env_steps, opt_steps=self.progress.opt_steps)
        self.progress.new_interval()
        self.t_interval = time.perf_counter()

    def _metrics_record(self, seconds: float) -> dict[str, Any]:
        """One metrics line: counters and rates, the interval's mean update metrics and training episodes."""
        cfg, progress, iv = self.cfg, self.progress, self.progress.interval
        dt = max(seconds, 1e-9)
        record: dict[str, Any] = {
            "step": progress.env_steps,
            "env_steps": progress.env_steps,
            "total_steps": cfg.total_env_steps,
            "opt_steps": progress.opt_steps,
            "sps": (progress.env_steps - iv.env_steps) / dt,
            "train_sps": iv.updates * cfg.replayed_per_update / dt,
            "replay_size": len(self.parts.replay),
            "replay_ratio": progress.opt_steps * cfg.replayed_per_update / max(progress.env_steps, 1),
            "updates_in_interval": iv.updates,
        }
        means = as_floats(iv.metrics)  # deferred checks leave device tensors here: one sync for all of them
        record.update({k: (v / max(iv.updates, 1) if iv.updates else None) for k, v in means.items()})
        record["episodes"] = len(iv.returns)
        record["episode_return"] = float(np.mean(iv.returns)) if iv.returns else None
        record["episode_length"] = float(np.mean(iv.lengths)) if iv.returns else None
        return record

    def _evaluate(self) -> None:
        env_steps = self.progress.env_steps
        records = run_episodes(
            self.parts.agent, self.cfg.env, self.cfg.eval_episodes, seed=self.seed + 1_000_003, device=self.device
        )
        returns = [r["episode_return"] for r in records]
        for r in records:
            self.outputs.episodes.write({"kind": "eval", "env_steps": env_steps, **r})
        mean = float(np.mean(returns))
        self.outputs.tracker.log({"eval_return": mean}, step=env_steps)
        self._policy_checkpoint(f"policy_{env_steps}", "policy", mean)
        if self.progress.record_eval(returns):
            self._policy_checkpoint("best", "best", mean)
        report_evaluation(env_steps, {"eval_return": mean})  # a study's trial: the pruner may stop it here

    # ------------------------------------------------------------------------------------------ checkpoints
    def _state(self) -> dict[str, Any]:
        """Everything a resume needs except the replay (which goes to its own file, see ``checkpoints.py``)."""
        parts = self.parts
        try:
            envs_blob: bytes | None = pickle.dumps(parts.envs)
        except Exception:  # an env that does not pickle is reset on resume instead
            envs_blob = None
        counters = self.progress.state_dict()
        counters["check"] = None if self.check is None else self.check.state_dict()
        return {
            "agent": agent_weights(parts.agent),
            "learner": to_host(parts.learner.state_dict()),
            "collector": to_host(parts.collector.state_dict()),
            "envs": envs_blob,
            "counters": to_host(counters),
            "rng": {
                "torch": torch.get_rng_state(),
                "numpy": np.random.get_state(),
                "python": random.getstate(),
                "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
            },
        }

    def _checkpoint(self, name: str, kind: str, metrics: Mapping[str, Any] | None = None) -> CheckpointInfo:
        """A resume checkpoint (``step`` or ``final``): the replay's changed ranges first (``replay_files.py``), then
        the state naming every range; once both are complete, older step checkpoints beyond ``keep_last`` and every
        replay file the new checkpoint does not name are deleted."""
        self._read_checks()  # never checkpoint past an unread non-finite update
        replay = self.parts.replay
        records, written = write_replay_chunks(
            replay, self.replay_records, self.progress.env_steps, lambda n, data: self._save(n, "replay", data, {})
        )
        self.replay_records = records  # complete files: the next checkpoint names them even if this one fails
        for chunk in written:
            self.recorder.record_checkpoint(chunk.path, step=chunk.step, sha256=chunk.sha256, kind="replay", metrics={})
        meta = {"opt_steps": self.progress.opt_steps, "replay_size": len(replay), "replay_chunks": records}
        state = {**self._state(), "replay_ring": ring_state(replay)}
        info = self._save(name, kind, state, dict(metrics or {}), meta)
        self.recorder.record_checkpoint(info.path, step=info.step, sha256=info.sha256, kind=kind, metrics=info.metrics)
        gone = prune(self.run_dir, info, self.cfg.keep_last)
        if gone:
            self.recorder.drop_checkpoints(gone)
        return info

    def _policy_checkpoint(self, name: str, kind: str, eval_return: float) -> CheckpointInfo:
        """Weights only, for ``orch eval``: one per evaluation (``policy_<N>``) and the ``best``."""
        payload = policy_payload(self.parts.agent, self.progress.env_steps)
        info = self._save(name, kind, payload, {"eval_return": eval_return})
        self.recorder.record_checkpoint(info.path, step=info.step, sha256=info.sha256, kind=kind, metrics=info.metrics)
        return info

    def _save(
        self, name: str, kind: str, payload: Any, metrics: dict[str, Any], meta: dict[str, Any] | None = None
    ) -> CheckpointInfo:
        def write(path: Path) -> None:
            torch.save(payload, path)

        step = self.progress.env_steps
        return save_checkpoint(self.run_dir, name, write, step=step, kind=kind, metrics=metrics, meta=meta)

    # ----------------------------------------------------------------------------------------------- resume
    def _resume(self) -> bool:
        """Load the newest valid resume checkpoint and its replay into the parts and the counters; False if none."""
        info = find_latest_checkpoint(self.run_dir)
        if info is None:
            return False
        state = torch.load(info.path, map_location="cpu", weights_only=False)
        parts = self.parts
        load_agent_weights(parts.agent, state["agent"])
        parts.learner.load_state_dict(state["learner"])
        self._load_replay(info, state)
        if state.get("envs") is not None:
            parts.close()
            parts.envs = pickle.loads(state["envs"])
            parts.collector.envs = parts.envs
            parts.collector.load_state_dict(state["collector"])
        else:
            parts.collector.reset(parts.replay)
        counters = state["counters"]
        self.progress = Progress.from_state(counters)
        if self.check is not None and counters.get("check"):
            self.check.load_state_dict(counters["check"])
        _restore_rng(state["rng"], self.device)
        self.resumed_from = info
        return True

    def _load_replay(self, info: CheckpointInfo, state: Mapping[str, Any]) -> None:
        why = self._restore_replay(info, state)
        if why is not None:
            self.replay_missing_on_resume = True
            warnings.warn(
                f"resuming {self.run_dir.name} from {info.path.name} without its replay ({why}): "
                "collection refills an empty replay before training goes on",
                stacklevel=4,
            )

    def _restore_replay(self, info: CheckpointInfo, state: Mapping[str, Any]) -> str | None:
        """Fill the replay from what ``info`` names; why it could not, or None."""
        records = info.meta.get("replay_chunks")
        if records is not None and "replay_ring" in state:
            why = load_replay_chunks(self.parts.replay, records, state["replay_ring"], self.run_dir)
            if why is None:
                self.replay_records = {k: dict(v) for k, v in records.items()}
            return why
        single = replay_of(info)  # orch before the ranges: one replay file, or the replay inside the state
        if single is not None:
            self.parts.replay.load_state_dict(torch.load(single.path, map_location="cpu", weights_only=False)["replay"])
        elif "replay" in state:
            self.parts.replay.load_state_dict(state["replay"])
        else:
            return "absent or torn"
        return None

    def _truncate_outputs(self) -> None:
        """Drop the metrics and episode lines written after the checkpoint this run resumes from."""
        for name in ("metrics.jsonl", "episodes.jsonl"):
            _truncate_jsonl(self.run_dir / name, self.progress.env_steps)

    # ---------------------------------------------------------------------------------------------- finish
    def _finish(self) -> None:
        self._read_checks()
        if self.check is not None:
            self._finish_standing_still(self.check)
        if self.cfg.eval_episodes > 0 and not self.progress.last_eval_returns:
            self._evaluate()
        replay = self.parts.replay
        if replay.can_sample(self.cfg.batch_length):  # real vs decoded observations for ``orch plot``
            batch = replay.sample(1, self.cfg.batch_length, self.device)
            save_reconstruction(self.parts.agent, batch, self.run_dir / "recon.npz", step=self.progress.env_steps)
        eval_return = _mean(self.progress.last_eval_returns)
        final = self._checkpoint("final", "final", metrics={"eval_return": eval_return})
        self._publish_policy(final)
        summary: dict[str, Any] = {k: v for k, v in self.progress.last_metrics.items() if isinstance(v, int | float)}
        summary["eval_return"] = eval_return
        self.recorder.mark_completed(metrics=summary)

    def _finish_standing_still(self, check: StandingStillCheck) -> None:
        """Write the standing-still verdict (file and last metrics line); a failed check fails the run."""
        result = check.result()
        atomic_write_json(self.run_dir / "standing_still.json", to_jsonable(result))
        env_steps, total = self.progress.env_steps, self.cfg.total_env_steps
        self.outputs.metrics.write(
            {"step": env_steps, "env_steps": env_steps, "total_steps": total, "standing_still": result}
        )
        if not result["passed"]:
            raise StandingStillError(result["reason"])

    def _publish_policy(self, final: CheckpointInfo) -> None:
        """``policy.json`` for the final checkpoint (and the best one), published under the artifact root."""
        spec = self.parts.spec
        best = next((c for c in list_checkpoints(self.run_dir) if c.kind == "best"), None)
        policy = write_policy_manifest(
            run_dir=self.run_dir,
            resolved=self.resolved,
            final=final,
            best=best,
            eval_returns=self.progress.last_eval_returns,
            best_returns=self.progress.best_returns,
            observation_signature=self.parts.env_signature,
            action_space={
                "type": "discrete" if spec.discrete else "box",
                "n": spec.n,
                "low": None if spec.discrete else -1.0,
                "high": None if spec.discrete else 1.0,
            },
            env_steps=self.progress.env_steps,
            dry_run=self.job.dry_run,
        )
        self.recorder.set_policy_manifest(str(policy.relative_to(self.run_dir)))


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


def _restore_rng(rng: Mapping[str, Any], device: torch.device) -> None:
    torch.set_rng_state(rng["torch"])
    np.random.set_state(rng["numpy"])
    random.setstate(rng["python"])
    if rng.get("cuda") is not None and device.type == "cuda":
        torch.cuda.set_rng_state_all(rng["cuda"])


def _mark_dry_run(manifest: Any) -> None:
    manifest.dry_run = True


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _truncate_jsonl(path: Path, env_steps: int) -> None:
    """Keep the lines at or before ``env_steps`` (what the checkpoint we resume from had seen)."""
    if not path.exists():
        return
    keep = [r for r in read_jsonl(path) if int(r.get("env_steps", r.get("step", 0)) or 0) <= env_steps]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in keep), encoding="utf-8")
