"""Must hold: the smoke config end to end (< 2 min, manifests valid) and SIGKILL + resume == uninterrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from manifests import load_policy_manifest, load_run_manifest
from orchestrator.config import resolve_config
from trainers.common.checkpoints import list_checkpoints
from trainers.common.job import TrainJob
from trainers.common.metrics_stream import read_jsonl
from trainers.registry import load_entry_point

REPO = Path(__file__).resolve().parents[3]
SMOKE = REPO / "configs" / "ppo_expert" / "grid_socnav_smoke.yaml"
RUN_NAME = "20260101T000000Z-grid_socnav_smoke-abc123-s123"


def _summary(run_dir: Path) -> dict[str, Any]:
    """What must agree between an uninterrupted and a killed-then-resumed run."""
    manifest = load_run_manifest(run_dir)
    timeline = json.loads((run_dir / "eval_timeline.json").read_text())
    final = next(c for c in list_checkpoints(run_dir) if c.kind == "final")
    return {
        "status": manifest.status,
        "total_steps": final.step,
        "progress_step": manifest.progress["step"],
        "eval_steps": [row["eval_step"] for row in timeline],
        "episode_eval_steps": [e["eval_step"] for e in read_jsonl(run_dir / "episodes.jsonl")],
        "step_checkpoints": sorted(c.meta["eval_step"] for c in list_checkpoints(run_dir) if c.kind == "step"),
        "metrics_steps": [m["step"] for m in read_jsonl(run_dir / "metrics.jsonl")],
    }


def _new_run_dir(root: Path, resolved: dict[str, Any]) -> Path:
    run_dir = root / "runs" / RUN_NAME
    run_dir.mkdir(parents=True)
    (run_dir / "resolved.json").write_text(json.dumps(resolved), encoding="utf-8")
    return run_dir


@pytest.fixture(scope="module")
def smoke_resolved() -> dict[str, Any]:
    return resolve_config(SMOKE).for_seed(123)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory, smoke_resolved: dict[str, Any]) -> tuple[Path, float]:
    run_dir = _new_run_dir(tmp_path_factory.mktemp("smoke"), smoke_resolved)
    start = time.perf_counter()
    load_entry_point("ppo_expert")(TrainJob(resolved=smoke_resolved, run_dir=run_dir))
    return run_dir, time.perf_counter() - start


def test_smoke_config_runs_end_to_end_with_valid_manifests(smoke_run: tuple[Path, float]) -> None:
    run_dir, seconds = smoke_run
    assert seconds < 120, f"the smoke config took {seconds:.0f} s (limit 120 s)"
    summary = _summary(run_dir)
    assert summary["status"] == "completed"
    assert summary["total_steps"] == 4096 and summary["eval_steps"] == [2048, 4096]
    assert summary["metrics_steps"] == list(range(512, 4097, 512))
    policy = load_policy_manifest(run_dir / "policy.json")  # schema-validated
    assert policy.policy_id == "ppo_expert_grid_socnav_smoke" and policy.seeds == [123]
    assert policy.observation_signature["occupancy_grid"] == {"shape": [3, 32, 32], "dtype": "float32"}
    assert len(policy.scenario_profile) > 1 and policy.dry_run is False
    published = run_dir.parent.parent / "policies" / "ppo_expert_grid_socnav_smoke"
    assert [load_policy_manifest(p).run_id for p in published.glob("*.json")] == [RUN_NAME]
    assert {c.path.name for c in list_checkpoints(run_dir)} >= {
        "step_2048.zip",
        "step_4096.zip",
        "best.zip",
        "final.zip",
    }
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert (run_dir / "plots" / "learning_curves.png").stat().st_size > 10_000  # the run's own picture
    episode = read_jsonl(run_dir / "episodes.jsonl")[0]
    assert set(episode["metrics"]) == {
        "success_rate",
        "collision_rate",
        "path_efficiency",
        "comfort_exposure",
        "eval_episode_return",
        "eval_avg_step_reward",
    }


def test_sigkill_after_first_checkpoint_then_resume_matches_uninterrupted(
    weird_tmp_path: Path, smoke_run: tuple[Path, float], smoke_resolved: dict[str, Any]
) -> None:
    run_dir = _new_run_dir(weird_tmp_path, smoke_resolved)
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"}
    log = open(weird_tmp_path / "killed.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainers.ppo_expert", str(run_dir)], cwd=REPO, env=env, stdout=log, stderr=log
    )
    first = run_dir / "checkpoints" / "step_2048.json"
    deadline = time.monotonic() + 100
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    log.close()
    assert first.exists(), (weird_tmp_path / "killed.log").read_text(errors="replace")[-2000:]
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / "checkpoints" / "final.json").exists(), "the run finished before it was killed"
    assert load_run_manifest(run_dir).status == "running"  # killed hard: nobody could mark it

    before = {c.path.name: c.sha256 for c in list_checkpoints(run_dir)}
    load_entry_point("ppo_expert")(TrainJob(resolved=smoke_resolved, run_dir=run_dir, resume=True))
    assert _summary(run_dir) == _summary(smoke_run[0])
    assert load_run_manifest(run_dir).progress["resumed_from_step"] == 2048
    after = {c.path.name: c.sha256 for c in list_checkpoints(run_dir)}
    assert after["step_2048.zip"] == before["step_2048.zip"]  # the first evaluation was not redone
    load_policy_manifest(run_dir / "policy.json")
