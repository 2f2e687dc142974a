"""End to end on CartPole with a tiny model: outputs, determinism, exact resume, fail-fast, standing_still."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import gymnasium as gym
import pytest
from dreamer_testing import PoisonedCartPole, metric_lines, resolved_doc, tiny_settings

from manifests import load_policy_manifest, load_run_manifest
from trainers.common.job import TrainJob
from trainers.dreamerv3.learner import NonFiniteError
from trainers.dreamerv3.standing_still import StandingStillError
from trainers.dreamerv3.train import train

REQUIRED_METRICS = [
    "env_steps",
    "opt_steps",
    "sps",
    "train_sps",
    "replay_size",
    "replay_ratio",
    "loss_model",
    "loss_actor",
    "loss_critic",
    "obs_nll",
    "reward_nll",
    "continue_nll",
    "kl_dyn",
    "kl_rep",
    "kl_total",
    "free_bits_applied",
    "prior_entropy",
    "posterior_entropy",
    "action_entropy",
    "value_mean",
    "value_std",
    "adv_mean",
    "adv_std",
    "ret_p05",
    "ret_p95",
    "ret_scale",
    "episode_return",
    "episode_length",
    "total_steps",
]


def _run(run_dir: Path, settings: dict, *, resume: bool = False, seed: int = 3) -> None:
    train(TrainJob(resolved=resolved_doc(settings, seed=seed), run_dir=run_dir, resume=resume))


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    torch.set_num_threads(1)
    run_dir = tmp_path_factory.mktemp("artifacts") / "runs" / "run-a"
    run_dir.mkdir(parents=True)
    (run_dir / "resolved.json").write_text(json.dumps(resolved_doc(tiny_settings())))  # as the launcher writes it
    _run(run_dir, tiny_settings())
    return run_dir


def test_outputs_of_a_run(first_run: Path) -> None:
    manifest = load_run_manifest(first_run)
    assert manifest.status == "completed"
    lines = metric_lines(first_run / "metrics.jsonl")
    assert [r["env_steps"] for r in lines] == [40, 80, 120]
    missing = [
        k for k in REQUIRED_METRICS if k not in json.loads((first_run / "metrics.jsonl").read_text().splitlines()[-1])
    ]
    assert not missing, missing
    # train_ratio honoured exactly from the end of the prefill (40 env steps): 1 + floor(steps since * ratio / (B * T)),
    # no burst of updates for the prefill's steps
    assert [r["opt_steps"] for r in lines] == [1, 1 + 40 * 16 // 16, 1 + 80 * 16 // 16]
    kinds = {c.kind for c in manifest.checkpoints}
    assert {"step", "best", "final", "policy", "replay"} <= kinds
    assert (first_run / "checkpoints" / "step_60.pt").is_file()
    assert all((first_run / c.path).is_file() for c in manifest.checkpoints)  # pruned files are forgotten too
    meta = json.loads((first_run / "run_meta.json").read_text())
    assert {"torch_version", "device_name", "git_commit", "git_dirty", "config_hash"} <= set(meta)
    policy = load_policy_manifest(first_run / "policy.json")
    assert policy.observation_signature == {"observation": {"shape": [4], "dtype": "float32"}}
    assert policy.trainer == "dreamerv3" and policy.checkpoint_sha256
    assert list((first_run.parent.parent / "policies" / "dv3-test").glob("*.json"))
    episodes = [json.loads(x) for x in (first_run / "episodes.jsonl").read_text().splitlines()]
    assert {"train", "eval"} == {e["kind"] for e in episodes}
    assert list((first_run / "tensorboard").glob("events.out.tfevents.*"))
    assert (first_run / "recon.npz").is_file()
    assert (first_run / "wandb").is_dir() and manifest.tracking.get("wandb_mode") == "offline"


_KILLED_CHILD = """
import json, os, signal, sys
from pathlib import Path
import torch
from trainers.common.job import TrainJob
from trainers.dreamerv3.train import DreamerTrainer

doc, run_dir, kill_at = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]), int(sys.argv[3])


class KilledAfterCheckpoint(DreamerTrainer):
    def _checkpoint(self, name, kind, metrics=None):
        info = super()._checkpoint(name, kind, metrics)
        if kind == "step" and self.progress.env_steps >= kill_at:
            os.kill(os.getpid(), signal.SIGKILL)  # no clean-up, no final checkpoint: a real kill
        return info


torch.set_num_threads(1)
KilledAfterCheckpoint(TrainJob(resolved=doc, run_dir=run_dir)).run()
"""


def test_deterministic_runs_match_and_resume_after_sigkill_is_exact(first_run: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    second = tmp_path / "runs" / "run-b"
    _run(second, tiny_settings())
    assert metric_lines(second / "metrics.jsonl") == metric_lines(first_run / "metrics.jsonl")
    # A run SIGKILLed right after its step-60 checkpoint, then resumed: the rest of the run must be identical,
    # replay and RNG included.
    killed = tmp_path / "runs" / "run-killed"
    killed.mkdir(parents=True)
    settings = tiny_settings(tracking={"tensorboard": True})  # W&B's service would outlive the killed child
    doc = tmp_path / "resolved.json"
    doc.write_text(json.dumps(resolved_doc(settings)))
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_CHILD, str(doc), str(killed), "60"], capture_output=True, text=True, timeout=300
    )
    assert child.returncode == -9, child.stderr[-2000:]
    assert not (killed / "checkpoints" / "final.pt").exists()
    _run(killed, settings, resume=True)
    assert metric_lines(killed / "metrics.jsonl") == metric_lines(first_run / "metrics.jsonl")
    assert metric_lines(killed / "episodes.jsonl") == metric_lines(first_run / "episodes.jsonl")
    assert load_run_manifest(killed).status == "completed"


def test_non_finite_loss_fails_fast_with_a_bundle(tmp_path: Path) -> None:
    gym.register("OrchPoisonedCartPole-v0", entry_point=PoisonedCartPole, max_episode_steps=500)
    run_dir = tmp_path / "runs" / "poisoned"
    settings = tiny_settings(env={"id": "OrchPoisonedCartPole-v0"}, prefill=16, eval_episodes=0)
    with pytest.raises(NonFiniteError):
        _run(run_dir, settings)
    manifest = load_run_manifest(run_dir)
    assert manifest.status == "failed" and "non-finite" in (manifest.error or "")
    bundles = list((run_dir / "failures").iterdir())
    assert len(bundles) == 1
    failure = json.loads((bundles[0] / "failure.json").read_text())
    assert failure["nonfinite_obs_values"]["observation"] > 0 and failure["replay_indices"]
    assert failure["repro"][0].startswith("orch run --resume") and failure["env_steps"] > 0
    assert (bundles[0] / "batch.pt").is_file() and (bundles[0] / "resolved.json").is_file()


def test_deferred_checks_stop_the_run_with_the_offending_batch(tmp_path: Path) -> None:
    """check_every > 1 (the CUDA default): the run still stops on the poisoned observation, names it, and the bundle
    holds the batch of the first non-finite update, rebuilt from its replay indices."""
    gym.register("OrchPoisonedCartPole-v0", entry_point=PoisonedCartPole, max_episode_steps=500)
    run_dir = tmp_path / "runs" / "poisoned-deferred"
    settings = tiny_settings(env={"id": "OrchPoisonedCartPole-v0"}, prefill=16, eval_episodes=0, check_every=4)
    with pytest.raises(NonFiniteError) as err:
        _run(run_dir, settings)
    assert "loss_model" in err.value.what and err.value.update is not None
    manifest = load_run_manifest(run_dir)
    assert manifest.status == "failed" and "non-finite" in (manifest.error or "")
    (bundle,) = list((run_dir / "failures").iterdir())
    failure = json.loads((bundle / "failure.json").read_text())
    assert failure["nonfinite_obs_values"]["observation"] > 0 and failure["replay_indices"]


def test_standing_still_mode_trains_the_world_model_only(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "still"
    settings = tiny_settings(mode="standing_still", total_env_steps=160, eval_episodes=0)
    with contextlib.suppress(StandingStillError):  # the verdict is what matters here; it is recorded either way
        _run(run_dir, settings)
    result = json.loads((run_dir / "standing_still.json").read_text())
    assert {"obs_loss_initial", "obs_loss_after", "obs_loss_drop", "entropy_gap", "passed"} <= set(result)
    lines = metric_lines(run_dir / "metrics.jsonl")
    assert "loss_actor" not in lines[0] and "obs_nll" in lines[-2]
    assert result["obs_loss_drop"] >= 0.25, result
    shutil.rmtree(run_dir)


def test_orch_eval_writes_trajectories_and_summary(first_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from orchestrator.cli import main

    root = first_run.parent.parent
    assert main(["eval", first_run.name, "--episodes", "2", "--json", "--artifact-root", str(root)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["episodes"] == 2 and summary["checkpoint_kind"] == "best"
    steps = [json.loads(x) for x in Path(summary["trajectories"]).read_text().splitlines()]
    assert len(steps) == sum(1 for _ in steps) > 0 and {"episode", "t", "action", "reward"} <= set(steps[0])
    assert summary["episode_length"]["mean"] * 2 == pytest.approx(len(steps))
    assert main(["eval", "no-such-run", "--artifact-root", str(root)]) == 2


def test_bench_reports_every_timing(tmp_path: Path) -> None:
    from trainers.dreamerv3.bench import benchmark

    result = benchmark(tiny_settings(num_envs=1), updates=2, warmup=1, threads=1, env_steps=100)
    for key in (
        "updates_per_s",
        "ms_per_update",
        "world_model_ms",
        "actor_critic_ms",
        "replay_sample_ms",
        "env_steps_per_s",
        "gflop_per_update",
        "fraction_of_measured_peak",
        "config",
    ):
        assert key in result, key
    assert result["updates_per_s"] > 0 and result["gflop_per_update"] > 0


def test_crowdnav_drive_state_rays_run(tmp_path: Path) -> None:
    from trainers.dreamerv3 import spec

    settings = spec.resolve(
        {
            "env": {"id": "crowdnav"},
            "model_size": "XS",
            "model": tiny_settings()["model"],
            "batch_size": 2,
            "batch_length": 8,
            "horizon": 3,
            "num_envs": 2,
            "train_ratio": 8,
            "total_env_steps": 40,
            "prefill": 20,
            "log_every": 20,
            "checkpoint_every": 40,
            "eval_every": 40,
            "eval_episodes": 0,
            "replay_capacity": 400,
            "tracking": {"tensorboard": False},
        },
        cpus=2,
    )
    run_dir = tmp_path / "runs" / "crowdnav"
    _run(run_dir, settings)
    policy = load_policy_manifest(run_dir / "policy.json")
    assert policy.observation_signature == {"observation": {"shape": [831], "dtype": "float32"}}
    assert policy.action_space["type"] == "box" and policy.action_space["n"] == 2
    assert metric_lines(run_dir / "metrics.jsonl")[-1]["opt_steps"] == 1 + (40 - 20) * 8 // 16


def test_dry_run_does_two_updates_and_marks_the_manifests(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "dry"
    train(TrainJob(resolved=resolved_doc(tiny_settings(total_env_steps=10**6)), run_dir=run_dir, dry_run=True))
    manifest = load_run_manifest(run_dir)
    assert manifest.status == "completed" and manifest.dry_run
    assert metric_lines(run_dir / "metrics.jsonl")[-1]["opt_steps"] == 2
    policy = load_policy_manifest(run_dir / "policy.json")
    assert policy.dry_run and policy.validation_state == "synthetic"


def test_sheeprl_comparison_skips_with_a_reason_without_its_venv(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[3] / "bench" / "dreamer_vs_sheeprl.py"
    missing = tmp_path / "no-venv" / "bin" / "python"
    proc = subprocess.run(
        [sys.executable, str(script), "--sheeprl-python", str(missing)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "no SheepRL venv" in result["skipped"]


def test_speed_bench_reports_bf16_beside_fp32() -> None:
    from trainers.dreamerv3.bench import fp32_and_bf16

    result = fp32_and_bf16(tiny_settings(num_envs=1), updates=1, warmup=1, threads=1, env_steps=100)
    assert result["precision"] == "fp32" and result["bf16"]["updates_per_s"] > 0
    assert result["bf16_updates_per_s"] == result["bf16"]["updates_per_s"]
    assert {"updates_per_s", "fraction_of_measured_peak"} <= set(result) and result["fp32"]["gflop_per_update"] > 0
