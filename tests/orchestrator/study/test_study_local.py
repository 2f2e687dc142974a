"""Their study file end to end on this machine: ``orch study`` queues the workers as background processes (the
local backend), the trials train with the real PPO trainer on a matrix that is present, and running ``orch study``
again continues the same study."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from study_helpers import REFERENCE_STUDY

from manifests import load_run_manifest

pytest.importorskip("optuna")
TINY = ["--set", "trials=2", "--set", "parallel=2", "--set", "trial_timesteps=512", "--set", "eval_every=256",
        "--set", "eval_episodes=1"]  # fmt: skip


def _wait_finished(cli: Callable[..., tuple[int, str, str]], name: str, root: Path, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        code, out, err = cli("status", name, "--artifact-root", root, "--json")
        assert code == 0, err
        doc = json.loads(out)
        if doc["counts"]["finished"] >= doc["study"]["trials"] and not doc["counts"]["running"]:
            return doc
        assert time.monotonic() < deadline, f"study {name} not finished after {timeout_s:.0f}s: {doc['counts']}"
        time.sleep(2)


def test_their_study_runs_end_to_end_and_continues(
    reference_tree: Path, tmp_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    study_file = reference_tree / REFERENCE_STUDY
    root = tmp_path / "output"
    code, out, err = cli("study", study_file, *TINY, "--artifact-root", root)
    assert code == 0, err
    name = "weekend_optuna_expert_ppo_last_n_mean"
    assert f"study {name} (ppo_expert) created" in out and "queued 2 worker(s) on local" in out
    assert "storage: not used" in err
    doc = _wait_finished(cli, name, root, timeout_s=600)
    assert doc["counts"]["complete"] + doc["counts"]["pruned"] == 2 and doc["counts"]["fail"] == 0
    for trial in doc["trials"]:
        run_dir = Path(trial["run_dir"])
        run = load_run_manifest(run_dir)
        assert run.trainer == "ppo_expert" and run.sweep_id == name and run.extra["study"]["trial"] == trial["number"]
        assert set(run.extra["study"]["params"]) == {
            f"ppo_hyperparams.{k}"
            for k in (
                "learning_rate",
                "n_steps",
                "batch_size",
                "n_epochs",
                "ent_coef",
                "clip_range",
                "target_kl",
                "gamma",
                "gae_lambda",
            )
        }
        # disable_wandb: false in their file: each trial logs to W&B (offline here), grouped by the study
        assert run.tracking.get("wandb_run_id") and list((run_dir / "wandb").glob("offline-run-*"))
        resolved = json.loads((run_dir / "resolved.json").read_text())
        assert resolved["settings"]["tracking"]["wandb"]["group"] == name
        assert resolved["settings"]["total_timesteps"] == 512
        assert (run_dir / "episodes.jsonl").stat().st_size > 0
    assert doc["best"] is not None
    # the same command again continues this study: it has its trials, so nothing is queued
    code, out, err = cli("study", study_file, *TINY, "--artifact-root", root)
    assert code == 0, err
    assert f"study {name} (ppo_expert) continued" in out and "has its 2 trials; nothing to queue" in out
    # a changed objective is another study: refused, nothing changed
    code, _, err = cli("study", study_file, *TINY, "--set", "objective_mode=auc", "--artifact-root", root)
    assert code == 2 and "was created with another objective_mode" in err


def test_orch_cancel_stops_every_worker_and_orch_study_continues(
    tiny_ppo: Path, write_study: Callable[..., Path], tmp_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    path = write_study(
        tiny_ppo,
        "cancelled",
        trials=3,
        parallel=2,
        trial_timesteps=4096,
        eval_every=256,
        eval_episodes=1,
        disable_wandb=True,
        search_space={"ppo_hyperparams.learning_rate": [3e-4, 1e-4]},
        pruner={"type": "none"},
    )
    root = tmp_path / "output"
    code, out, err = cli("study", path, "--artifact-root", root)
    assert code == 0 and "queued 2 worker(s)" in out, err
    deadline = time.monotonic() + 300
    while True:
        doc = json.loads(cli("status", "cancelled", "--artifact-root", root, "--json")[1])
        if any(t["state"] == "RUNNING" and (t["step"] or 0) >= 256 for t in doc["trials"]):
            break
        assert time.monotonic() < deadline, doc["counts"]
        time.sleep(0.5)
    code, out, err = cli("cancel", "cancelled", "-y", "--artifact-root", root)
    assert code == 0, err
    assert "study cancelled: stopped 2 worker job(s)" in out
    jobs = json.loads((root / "studies" / "cancelled" / "study.json").read_text())["submissions"][0]["job_ids"]
    from orchestrator.launch.local import process_alive

    deadline = time.monotonic() + 60
    while any(process_alive(int(j), controller=True) for j in jobs):
        assert time.monotonic() < deadline, "workers still alive after orch cancel"
        time.sleep(0.5)
    doc = json.loads(cli("status", "cancelled", "--artifact-root", root, "--json")[1])
    running = [t for t in doc["trials"] if t["state"] == "RUNNING"]
    assert running and all(t["run_status"] == "cancelled" for t in running)
    code, out, err = cli("study", path, "--artifact-root", root)
    assert code == 0, err
    assert "study cancelled (ppo_expert) continued" in out and "of workers that are gone" in out
    doc = _wait_finished(cli, "cancelled", root, timeout_s=600)
    assert doc["counts"]["finished"] == 3 and doc["counts"]["fail"] == len(running)
    assert sorted(t["retried_from"] for t in doc["trials"] if t["retried_from"] is not None) == sorted(
        t["number"] for t in running
    )
