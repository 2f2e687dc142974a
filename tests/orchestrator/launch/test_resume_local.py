"""orch resume on this machine: real background processes, real checkpoints, the run's own directory."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from manifests import load_run_manifest, trainer_holding
from orchestrator.cli import main
from orchestrator.launch.clusters import load_cluster
from orchestrator.launch.submit import submit
from orchestrator.status import StallPolicy, collect_status, wait_for
from tests.orchestrator.launch.launch_helpers import wait_until


def _submit(root: Path, make_toy_config, toy_resolver, **values):
    config = make_toy_config(**values)
    return submit([config], root=root, resolver=toy_resolver, profile=load_cluster("local", {"array_parallelism": 2}))


def _steps(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if '"reward"' in x]


def test_a_failed_run_is_resumed_from_its_checkpoint_into_the_same_directory(
    tmp_path: Path, make_toy_config, toy_resolver, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _submit(tmp_path, make_toy_config, toy_resolver, total_steps=6, fail_at_step=4, fail_once=True)
    run_id, run_dir = result.runs[0]["run_id"], Path(result.runs[0]["run_dir"])
    report = wait_for(tmp_path, result.sweep_id, poll_s=0.5, timeout_s=90)
    assert report.runs[0].status == "failed"
    assert report.runs[0].resume_command == f"orch resume {run_id} --artifact-root {tmp_path}"
    assert main(["status", result.sweep_id, "--artifact-root", str(tmp_path)]) == 0
    assert f"orch resume {run_id} --artifact-root {tmp_path}" in capsys.readouterr().out

    assert main(["resume", run_id, "--artifact-root", str(tmp_path)]) == 0
    assert f"resumed {run_id} as job" in capsys.readouterr().out
    report = wait_for(tmp_path, result.sweep_id, poll_s=0.5, timeout_s=90)
    row = report.runs[0]
    assert row.status == "completed" and row.step == 6 and row.resume_command is None, row.error
    # the trainer marks the run completed a moment before its job closes the attempt: wait for that close
    wait_until(lambda: load_run_manifest(run_dir).attempts[-1].end, timeout=30, what="the attempt closed")
    manifest = load_run_manifest(run_dir)
    assert [a.state for a in manifest.attempts] == ["failed", "completed"]
    assert manifest.extra["resumes"][0]["status"] == "failed" and manifest.extra["resumes"][0]["new_job_id"]
    assert manifest.scheduler["job_id"] == manifest.extra["resumes"][0]["new_job_id"] != result.runs[0]["job_id"]
    assert [s["resumed_from"] for s in _steps(run_dir)][-2:] == [4, 4]  # continued from the step-4 checkpoint
    assert main(["resume", run_id, "--artifact-root", str(tmp_path)]) == 0
    assert f"skipped {run_id}: completed" in capsys.readouterr().out


def test_resume_and_run_resume_refuse_while_the_job_is_alive(
    tmp_path: Path, make_toy_config, toy_resolver, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _submit(tmp_path, make_toy_config, toy_resolver, total_steps=5, hang_at_step=1)
    run_id, run_dir = result.runs[0]["run_id"], Path(result.runs[0]["run_dir"])
    wait_until(lambda: trainer_holding(run_dir) and (run_dir / "metrics.jsonl").exists(), 60, what="step 1")
    before = (run_dir / "run.json").read_text()
    assert main(["resume", run_id, "--artifact-root", str(tmp_path)]) == 2
    assert "a trainer is running it now" in capsys.readouterr().err
    assert main(["run", "--resume", str(run_dir)]) == 2
    assert "is not resumed: a trainer is running it now" in capsys.readouterr().err
    assert (run_dir / "run.json").read_text() == before
    assert main(["cancel", run_id, "-y", "--artifact-root", str(tmp_path)]) == 0


def test_a_vanished_trainer_is_resumed_and_a_stalled_one_restarted(
    tmp_path: Path, make_toy_config, toy_resolver, capsys: pytest.CaptureFixture[str]
) -> None:
    killed = _submit(tmp_path, make_toy_config, toy_resolver, total_steps=8, step_sleep_s=0.3, name="killed")
    hung = _submit(
        tmp_path, make_toy_config, toy_resolver, total_steps=4, step_sleep_s=0.1, hang_at_step=2, name="hung"
    )
    killed_dir, hung_dir = Path(killed.runs[0]["run_dir"]), Path(hung.runs[0]["run_dir"])
    holder = wait_until(
        lambda: (killed_dir / "checkpoints" / "step_2.json").exists() and trainer_holding(killed_dir), 60
    )
    os.kill(int(killed.runs[0]["job_id"]), signal.SIGKILL)  # the controller: its trainer goes too, without a word
    os.kill(int(holder["pid"]), signal.SIGKILL)
    wait_until(lambda: collect_status(tmp_path, killed.sweep_id).runs[0].status == "failed", 30, what="failed")
    assert load_run_manifest(killed_dir).status == "running"  # what run.json says: the trainer never closed it

    policy = StallPolicy(factor=1, min_s=1.5)
    wait_until(lambda: collect_status(tmp_path, hung.sweep_id, stall=policy).runs[0].stalled, 60, what="STALLED")
    code = main(
        ["resume", "--stalled", "--stall-after", "0.025", "--stall-factor", "1", "--artifact-root", str(tmp_path)]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert f"resumed {hung.runs[0]['run_id']}" in out and killed.runs[0]["run_id"] not in out  # only the stalled one
    assert main(["resume", killed.runs[0]["run_id"], "--artifact-root", str(tmp_path)]) == 0

    for result, total in ((killed, 8), (hung, 4)):
        row = wait_for(tmp_path, result.sweep_id, poll_s=0.5, timeout_s=90).runs[0]
        assert row.status == "completed" and row.step == total, row.error
    attempts = load_run_manifest(killed_dir).attempts
    assert attempts[0].state == "failed" and "ended without notice" in (attempts[0].reason or "")
    assert _steps(killed_dir)[-1]["resumed_from"] >= 2
    hung_manifest = load_run_manifest(hung_dir)
    assert hung_manifest.extra["resumes"][0]["by"] == "orch resume --stalled"
    assert hung_manifest.extra["resumes"][0]["status"] == "cancelled"
