"""The PPO trainer on a stop request (the job's time limit is near): it saves at the next rollout boundary, stops
without marking the run failed, and a resume continues from that checkpoint to the same end as an unstopped run."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import pytest
from ppo_helpers import toy_resolved
from ppo_toy_env import ToyNavEnv, ToySource

from manifests import load_run_manifest
from trainers.common.checkpoints import find_latest_checkpoint
from trainers.common.job import TrainJob
from trainers.common.metrics_stream import read_jsonl
from trainers.common.signals import TrainingStopped, clear_stop, request_stop
from trainers.ppo_expert.train import EVAL_SEED_OFFSET, run_training


class StopRequestingSource(ToySource):
    """A ToySource whose training envs ask for a stop after ``stop_after`` steps in total, as the job's signal handler
    would (evaluation envs, seeded from EVAL_SEED_OFFSET on, do not count)."""

    def __init__(self, stop_after: int, max_steps: int = 40):
        super().__init__(max_steps)
        self.stop_after, self.count = stop_after, [0]

    def make(self, *, scenario_id: str | None, exclude: Sequence[str], seed: int | None) -> ToyNavEnv:
        env = super().make(scenario_id=scenario_id, exclude=exclude, seed=seed)
        if seed is not None and seed >= EVAL_SEED_OFFSET:
            return env
        count, limit, step = self.count, self.stop_after, env.step

        def stepping(action):
            count[0] += 1
            if count[0] == limit:
                request_stop("SIGUSR2")
            return step(action)

        env.step = stepping  # type: ignore[method-assign]
        return env


def _train(run_dir: Path, *, resume: bool = False, source=None):
    job = TrainJob(resolved=toy_resolved(), run_dir=run_dir, resume=resume)
    return run_training(job, env_source=source or ToySource(), progress_stream=io.StringIO())


def test_a_stop_request_saves_at_the_rollout_boundary_and_resume_finishes(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "20260101T000000Z-toy-abc123-s3"
    run_dir.mkdir(parents=True)
    try:
        with pytest.raises(TrainingStopped) as stopped:
            _train(run_dir, source=StopRequestingSource(stop_after=300))  # rollouts of 128 steps: 300 is in the third
    finally:
        clear_stop()
    assert stopped.value.step == 384  # the end of that rollout, after its PPO update
    latest = find_latest_checkpoint(run_dir)
    assert latest is not None and latest.step == 384 and latest.meta["saved_on"] == "stop"
    assert latest.meta["eval_step"] == 200  # the last evaluation before it: resume keeps its episodes
    stopped_manifest = load_run_manifest(run_dir)
    assert stopped_manifest.status == "running" and stopped_manifest.error is None  # not a failure
    wandb_id = stopped_manifest.tracking["wandb_run_id"]

    resumed = _train(run_dir, resume=True)
    assert resumed.num_timesteps == 512 and resumed.eval_steps == [200, 400, 512]
    steps = [m["step"] for m in read_jsonl(run_dir / "metrics.jsonl")]
    assert steps == [128, 256, 384, 512]  # nothing lost, nothing repeated
    episodes = read_jsonl(run_dir / "episodes.jsonl")
    assert [e["eval_step"] for e in episodes] == [s for s in (200, 400, 512) for _ in range(2)]
    manifest = load_run_manifest(run_dir)
    assert manifest.status == "completed" and manifest.tracking["wandb_run_id"] == wandb_id
