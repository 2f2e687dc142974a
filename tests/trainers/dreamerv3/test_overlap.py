"""``overlap_collection``: the envs step in a worker thread while the learner runs the due updates; the number of
updates is unchanged and a run stays deterministic; an env that fails in the thread fails the run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import pytest
from dreamer_testing import metric_lines, resolved_doc, tiny_settings

from manifests import load_run_manifest
from trainers.common.job import TrainJob
from trainers.dreamerv3.overlap import EnvSteps
from trainers.dreamerv3.train import DreamerTrainer

QUIET = {"tensorboard": False, "wandb": {"enabled": False}}
FINISHED = {"updates": 0}  # updates finished so far, read by the env (same process: sync vector env)


class SlowCartPole(gym.Wrapper):
    """CartPole whose step takes 30 ms of sleep (which releases the GIL, as waiting on an env subprocess does) and
    counts the steps during which an update finished."""

    metadata = {"render_modes": []}  # noqa: RUF012 (gymnasium < 1.2 reads it from the class)
    overlapped: ClassVar[int] = 0

    def __init__(self) -> None:
        super().__init__(gym.make("CartPole-v1"))

    def step(self, action: Any) -> Any:
        before = FINISHED["updates"]
        time.sleep(0.03)
        SlowCartPole.overlapped += FINISHED["updates"] > before
        return self.env.step(action)


class BrokenCartPole(gym.Wrapper):
    """CartPole whose sensor dies at its 25th step."""

    metadata = {"render_modes": []}  # noqa: RUF012 (gymnasium < 1.2 reads it from the class)

    def __init__(self) -> None:
        super().__init__(gym.make("CartPole-v1"))
        self.count = 0

    def step(self, action: Any) -> Any:
        self.count += 1
        if self.count >= 25:
            raise RuntimeError("sensor died")
        return self.env.step(action)


gym.register("OrchSlowCartPole-v0", entry_point=SlowCartPole, max_episode_steps=500)  # type: ignore[arg-type]
gym.register("OrchBrokenCartPole-v0", entry_point=BrokenCartPole, max_episode_steps=500)  # type: ignore[arg-type]


class CountingTrainer(DreamerTrainer):
    def _update(self) -> None:
        super()._update()
        FINISHED["updates"] += 1


def _run(run_dir: Path, **changes: Any) -> tuple[CountingTrainer, int]:
    SlowCartPole.overlapped = 0
    settings = tiny_settings(env={"id": "OrchSlowCartPole-v0"}, tracking=QUIET, eval_episodes=0, **changes)
    trainer = CountingTrainer(TrainJob(resolved=resolved_doc(settings), run_dir=run_dir))
    trainer.run()
    return trainer, SlowCartPole.overlapped


def test_env_steps_run_while_the_learner_updates_and_runs_stay_deterministic(tmp_path: Path) -> None:
    plain, plain_overlapped = _run(tmp_path / "plain")
    first, overlapped = _run(tmp_path / "overlap-1", overlap_collection=True)
    _run(tmp_path / "overlap-2", overlap_collection=True)
    assert plain.env_thread is None and isinstance(first.env_thread, EnvSteps)
    assert plain_overlapped == 0  # without the flag no update finishes while an env steps
    assert overlapped > 0, "no env step overlapped an update"
    lines = metric_lines(tmp_path / "overlap-1" / "metrics.jsonl")
    plain_lines = metric_lines(tmp_path / "plain" / "metrics.jsonl")
    assert [r["opt_steps"] for r in lines] == [r["opt_steps"] for r in plain_lines]  # the same train ratio
    assert lines[-1]["opt_steps"] > 3
    assert metric_lines(tmp_path / "overlap-2" / "metrics.jsonl") == lines  # deterministic with the thread too
    assert first.env_thread is not None and first.env_thread.pending is None


def test_an_env_failing_in_the_thread_fails_the_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "broken"
    settings = tiny_settings(
        env={"id": "OrchBrokenCartPole-v0"}, tracking=QUIET, eval_episodes=0, overlap_collection=True
    )
    trainer = DreamerTrainer(TrainJob(resolved=resolved_doc(settings), run_dir=run_dir))
    with pytest.raises(RuntimeError, match="sensor died"):
        trainer.run()
    manifest = load_run_manifest(run_dir)
    assert manifest.status == "failed" and "sensor died" in (manifest.error or "")
    assert trainer.env_thread is not None and trainer.env_thread.pending is None


def test_env_steps_refuse_a_second_step_in_flight() -> None:
    steps = EnvSteps()
    env = gym.make_vec("CartPole-v1", num_envs=1, vectorization_mode="sync")
    env.reset(seed=0)
    try:
        steps.start(env, env.action_space.sample())
        with pytest.raises(RuntimeError, match="not collected"):
            steps.start(env, env.action_space.sample())
        assert len(steps.result()) == 5
        with pytest.raises(RuntimeError, match="no env step"):
            steps.result()
    finally:
        steps.close()
        env.close()
