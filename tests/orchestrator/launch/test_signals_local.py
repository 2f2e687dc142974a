"""The time-limit warning through submitit's real local executor: its controller sends SIGUSR2 ``signal_delay_s``
before the time limit, the trainer saves at its step boundary, submitit requeues, the next attempt resumes there."""

from __future__ import annotations

import json
from pathlib import Path

from manifests import load_run_manifest
from orchestrator.launch.clusters import load_cluster
from orchestrator.launch.submit import submit
from orchestrator.status import wait_for
from tests.orchestrator.launch.launch_helpers import wait_until


def test_a_local_job_saves_at_the_warning_and_resumes_from_there(tmp_path: Path, make_toy_config, toy_resolver) -> None:
    # 1-minute limit, warned 55 s before: SIGUSR2 5 s after the job starts, mid-training; periodic checkpoints
    # every 50 steps, so resuming from the last periodic one would go back up to 50 steps.
    config = make_toy_config(total_steps=2000, step_sleep_s=0.02, checkpoint_every=50, resume_step_sleep_s=0.0)
    profile = load_cluster("local", {"time_min": 1, "signal_delay_s": 55, "max_requeues": 2})
    result = submit([config], root=tmp_path, resolver=toy_resolver, profile=profile)
    run_dir = Path(result.runs[0]["run_dir"])
    row = wait_for(tmp_path, result.sweep_id, poll_s=0.5, timeout_s=120).runs[0]
    assert row.status == "completed" and row.step == 2000, row.error
    # the trainer marks the run completed a moment before its job closes the attempt: wait for that close
    wait_until(lambda: load_run_manifest(run_dir).attempts[-1].end, 30, what="the attempt closed")
    manifest = load_run_manifest(run_dir)
    first, last = manifest.attempts[0], manifest.attempts[-1]
    assert first.state == "requeued" and last.state == "completed" and manifest.requeue_count == 1
    saved = int((first.reason or "").rsplit("saved at step ", 1)[1])
    sidecar = json.loads((run_dir / "checkpoints" / f"step_{saved}.json").read_text())
    assert sidecar["meta"] == {"saved_on": "stop"}
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["resumed_from"] == saved
    assert "SIGUSR2: the job ends soon" in (run_dir / "logs" / "attempt_1.err").read_text()
