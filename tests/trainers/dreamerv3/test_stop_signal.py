"""The DreamerV3 trainer on a stop request (the job's time limit is near): it saves at the env-step boundary where
the request arrived, stops without marking the run failed, and the resumed run ends exactly as an unstopped one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest
from dreamer_testing import metric_lines, resolved_doc, tiny_settings

from manifests import load_run_manifest
from trainers.common.checkpoints import find_latest_checkpoint
from trainers.common.job import TrainJob
from trainers.common.signals import TrainingStopped, clear_stop, request_stop
from trainers.dreamerv3.train import train

PLAIN, STOPPING = "OrchStopRequestingCartPole-plain-v0", "OrchStopRequestingCartPole-at35-v0"


ARMED = {"stop": False}  # one request per test run: evaluation builds fresh envs that count from zero again


class StopRequestingCartPole(gym.Wrapper):
    """CartPole that asks for a stop (as the job's signal handler would) at its ``stop_after``-th step, once."""

    def __init__(self, stop_after: int | None = None) -> None:
        super().__init__(gym.make("CartPole-v1"))
        self.stop_after, self.count = stop_after, 0

    def step(self, action: Any) -> Any:
        self.count += 1
        if ARMED["stop"] and self.count == self.stop_after:
            ARMED["stop"] = False
            request_stop("SIGUSR2")
        return self.env.step(action)


gym.register(PLAIN, entry_point=StopRequestingCartPole, max_episode_steps=500)
gym.register(STOPPING, entry_point=StopRequestingCartPole, max_episode_steps=500, kwargs={"stop_after": 35})


def _run(run_dir: Path, env_id: str, *, resume: bool = False) -> None:
    settings = tiny_settings(env={"id": env_id})
    train(TrainJob(resolved=resolved_doc(settings), run_dir=run_dir, resume=resume))


def test_a_stop_request_saves_where_it_arrived_and_resume_is_exact(tmp_path: Path) -> None:
    plain, stopped = tmp_path / "runs" / "plain", tmp_path / "runs" / "stopped"
    _run(plain, PLAIN)
    ARMED["stop"] = True
    try:
        with pytest.raises(TrainingStopped) as stop:
            _run(stopped, STOPPING)  # two envs: the request lands at env step 70, between the checkpoints at 60 and 120
    finally:
        clear_stop()
        ARMED["stop"] = False
    assert stop.value.step == 70
    latest = find_latest_checkpoint(stopped)
    assert latest is not None and latest.step == 70  # later than the last periodic checkpoint (60)
    manifest = load_run_manifest(stopped)
    assert manifest.status == "running" and manifest.error is None  # not a failure
    _run(stopped, STOPPING, resume=True)
    assert metric_lines(stopped / "metrics.jsonl") == metric_lines(plain / "metrics.jsonl")
    assert metric_lines(stopped / "episodes.jsonl") == metric_lines(plain / "episodes.jsonl")
    assert load_run_manifest(stopped).status == "completed"
