"""Several runs in one process of one job (``runs_per_job``), with the real DreamerV3 trainer on a tiny CartPole run.

Grouped seeds train exactly as they train alone (the threads share no random state); a failing run leaves its
sibling training; the warning signal stops every run of the group at a checkpoint, the group is requeued once and
each run resumes from its own checkpoint; a real local submission makes one job for two runs.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

from manifests import load_run_manifest
from orchestrator.errors import LaunchError
from orchestrator.launch.entry import RunJob
from orchestrator.launch.group import GroupJob
from tests.orchestrator.launch.group_helpers import planned_run_dirs, tiny_dreamer_config
from tests.orchestrator.launch.launch_helpers import wait_until
from tests.trainers.dreamerv3.dreamer_testing import PoisonedCartPole, metric_lines

pytest.importorskip("torch", reason="the DreamerV3 trainer needs torch")

POISONED = "OrchGroupPoisonedCartPole-v0"
gym.register(POISONED, entry_point=PoisonedCartPole, max_episode_steps=500)


def _group(run_dirs: list[Path], **kwargs: Any) -> GroupJob:
    return GroupJob([RunJob(str(d)) for d in run_dirs], torch_threads=1, **kwargs)


def test_grouped_seeds_write_exactly_the_metrics_they_write_alone(tmp_path: Path) -> None:
    config = tiny_dreamer_config(tmp_path, "together", [1, 2])
    grouped = planned_run_dirs(config, tmp_path / "grouped")
    assert _group(grouped)() == "completed"
    alone = planned_run_dirs(config, tmp_path / "alone")
    for run_dir in alone:
        assert RunJob(str(run_dir), torch_threads=1)() == "completed"
    for together, by_itself in zip(grouped, alone, strict=True):
        assert metric_lines(together / "metrics.jsonl") == metric_lines(by_itself / "metrics.jsonl")
        assert metric_lines(together / "episodes.jsonl") == metric_lines(by_itself / "episodes.jsonl")
    first, second = (metric_lines(d / "metrics.jsonl") for d in grouped)
    assert first != second  # two seeds: the comparison above could tell them apart
    for run_dir in grouped:  # each run kept its own manifest, policy manifest, checkpoints and logs
        manifest = load_run_manifest(run_dir)
        assert manifest.status == "completed" and [a.state for a in manifest.attempts] == ["completed"]
        assert (run_dir / "policy.json").is_file() and any((run_dir / "checkpoints").glob("step_*.pt"))
        log = (run_dir / "logs" / "attempt_1.out").read_text()
        other = next(d for d in grouped if d != run_dir)
        assert f"attempt 1 of run {run_dir.name}" in log and other.name not in log


def test_a_failing_run_is_marked_failed_and_its_sibling_completes(tmp_path: Path) -> None:
    good = planned_run_dirs(tiny_dreamer_config(tmp_path, "good", [1]), tmp_path)
    bad = planned_run_dirs(
        tiny_dreamer_config(tmp_path, "bad", [1], env={"id": POISONED}, prefill=16, eval_episodes=0), tmp_path
    )
    with pytest.raises(LaunchError, match=rf"1 of 2 runs of this job failed \({bad[0].name}\)"):
        _group([*bad, *good])()
    failed, completed = load_run_manifest(bad[0]), load_run_manifest(good[0])
    assert failed.status == "failed" and "non-finite" in (failed.error or "")
    assert failed.attempts[-1].state == "failed"
    assert completed.status == "completed" and completed.error is None
    assert metric_lines(good[0] / "metrics.jsonl")[-1]["step"] == 120


class _SubmititStandIn:
    """What submitit's handler does on the warning signal (checkpoint, requeue, exit), for an in-process group; the
    real one runs in the local-executor and Slurm tests."""

    def __init__(self, job: GroupJob) -> None:
        self.job, self.calls, self.resubmission = job, 0, None

    def __call__(self, signum: int, frame: object) -> None:
        self.calls += 1
        self.resubmission = self.job.checkpoint()
        raise SystemExit(-1)


def _signal_when_both_train(run_dirs: list[Path]) -> threading.Thread:
    """SIGUSR2 to this process once both runs wrote a metrics line (both are in their training loops)."""

    def fire() -> None:
        def training() -> bool:
            return all((d / "metrics.jsonl").is_file() and (d / "metrics.jsonl").stat().st_size for d in run_dirs)

        wait_until(training, 120, 0.1, "both runs training")
        os.kill(os.getpid(), signal.SIGUSR2)

    thread = threading.Thread(target=fire, daemon=True)
    thread.start()
    return thread


def test_the_warning_stops_every_run_at_a_checkpoint_and_the_group_resumes_once(tmp_path: Path) -> None:
    config = tiny_dreamer_config(tmp_path, "warned", [1, 2], total_env_steps=160, checkpoint_every=1000)
    run_dirs = planned_run_dirs(config, tmp_path / "warned")
    group = _group(run_dirs, signal_delay_s=60)
    stand_in = _SubmititStandIn(group)
    previous = signal.signal(signal.SIGUSR2, stand_in)
    try:
        firing = _signal_when_both_train(run_dirs)
        with pytest.raises(SystemExit):
            group()
        firing.join(5)
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert stand_in.calls == 1 and stand_in.resubmission is not None  # one requeue for the whole group
    saved: dict[Path, int] = {}
    for run_dir in run_dirs:
        manifest = load_run_manifest(run_dir)
        assert manifest.status == "preempted" and manifest.requeue_count == 1
        reason = manifest.attempts[-1].reason or ""
        assert manifest.attempts[-1].state == "requeued" and "saved at step " in reason
        saved[run_dir] = int(reason.rsplit("saved at step ", 1)[1])
        sidecar = json.loads((run_dir / "checkpoints" / f"step_{saved[run_dir]}.json").read_text())
        assert sidecar["step"] == saved[run_dir] and 40 <= saved[run_dir] < 160  # no periodic one: saved at the stop
    again = stand_in.resubmission.function
    assert isinstance(again, GroupJob) and again.run_dirs == run_dirs
    assert again() == "completed"
    unstopped = planned_run_dirs(config, tmp_path / "unstopped")
    assert _group(unstopped)() == "completed"
    for run_dir, plain in zip(run_dirs, unstopped, strict=True):
        manifest = load_run_manifest(run_dir)
        assert manifest.status == "completed" and [a.state for a in manifest.attempts] == ["requeued", "completed"]
        # resumed from its own checkpoint: it ends exactly as the same run trained without a stop
        assert metric_lines(run_dir / "metrics.jsonl") == metric_lines(plain / "metrics.jsonl")
        assert metric_lines(run_dir / "episodes.jsonl") == metric_lines(plain / "episodes.jsonl")
    assert again() == "completed"  # a requeue that comes after the end trains nothing again
    assert all(len(load_run_manifest(d).attempts) == 2 for d in run_dirs)
