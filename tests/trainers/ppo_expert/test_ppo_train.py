"""The trainer's machinery on the toy env: run directory, manifests, schedule, best, resume after a crash, dry run."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from ppo_helpers import run_dir_of, toy_resolved
from ppo_toy_env import CrashingSource, ToySource

from manifests import load_policy_manifest, load_run_manifest
from trainers.common.checkpoints import list_checkpoints
from trainers.common.job import TrainJob
from trainers.common.metrics_stream import read_jsonl
from trainers.ppo_expert.train import TrainOutcome, run_training

# rollout = n_steps 64 x 2 envs = 128 steps; evaluations every 200 up to 512
EXPECTED_EVAL_STEPS = [200, 400, 512]


def _train(root: Path, *, resume: bool = False, dry_run: bool = False, source=None, **kw) -> TrainOutcome:
    run_dir = root / "runs" / "20260101T000000Z-toy-abc123-s3"
    run_dir.mkdir(parents=True, exist_ok=True)
    job = TrainJob(resolved=toy_resolved(**kw), run_dir=run_dir, resume=resume, dry_run=dry_run)
    return run_training(job, env_source=source or ToySource(), progress_stream=io.StringIO())


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> TrainOutcome:
    return _train(tmp_path_factory.mktemp("uninterrupted"))


def test_run_directory_is_complete_and_manifests_validate(toy_run: TrainOutcome) -> None:
    run_dir = toy_run.run_dir
    manifest = load_run_manifest(run_dir)  # validates against the schema
    assert manifest.status == "completed"
    assert manifest.progress["total_steps"] == 512 and manifest.progress["step"] == 512
    assert manifest.tracking["wandb_mode"] == "offline" and manifest.tracking["wandb_run_id"]
    assert manifest.host["torch_threads"] >= 1
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert list((run_dir / "wandb").glob("offline-run-*"))
    policy = load_policy_manifest(run_dir / "policy.json")
    assert policy.policy_id == "toy_policy" and policy.seeds == [3]
    assert policy.scenario_profile == ["toy_near", "toy_far"]  # the hold-out never trains
    assert policy.observation_signature["occupancy_grid"]["shape"] == [2, 8, 8]
    assert policy.action_space["shape"] == [2]
    assert policy.checkpoint_sha256 == toy_run.final_checkpoint.sha256
    assert set(policy.versions) >= {"torch", "stable-baselines3"}
    assert policy.git_commit and policy.config_hash == "0" * 64
    for name in ("success_rate", "collision_rate", "path_efficiency", "comfort_exposure", "eval_episode_return"):
        assert set(policy.metrics[name]) == {"mean", "median", "p95", "ci95"}
        assert name in policy.metrics_best
    published = list((run_dir.parent.parent / "policies" / "toy_policy").glob("*.json"))
    assert len(published) == 1 and load_policy_manifest(published[0]).checkpoint_sha256 == policy.checkpoint_sha256


def test_every_scheduled_step_is_evaluated_once_with_a_checkpoint(toy_run: TrainOutcome) -> None:
    assert toy_run.num_timesteps == 512
    assert toy_run.eval_steps == EXPECTED_EVAL_STEPS
    episodes = read_jsonl(toy_run.run_dir / "episodes.jsonl")
    assert [e["eval_step"] for e in episodes] == [s for s in EXPECTED_EVAL_STEPS for _ in range(2)]
    assert {e["scenario_id"] for e in episodes} == {"toy_holdout"}  # evaluation on the hold-out only
    assert {e["split"] for e in episodes} == {"eval"}
    assert set(episodes[0]) >= {"episode", "eval_step", "scenario_id", "seed", "steps", "metrics", "split"}
    steps = {c.meta["eval_step"] for c in list_checkpoints(toy_run.run_dir) if c.kind == "step"}
    assert steps == set(EXPECTED_EVAL_STEPS)
    csv_lines = (toy_run.run_dir / "eval_timeline.csv").read_text().splitlines()
    assert csv_lines[0].startswith("eval_step,env_steps,success_rate") and len(csv_lines) == 4


def test_metrics_stream_has_one_line_per_rollout(toy_run: TrainOutcome) -> None:
    lines = read_jsonl(toy_run.run_dir / "metrics.jsonl")
    assert [m["step"] for m in lines] == [128, 256, 384, 512]
    # each line holds its own rollout's update (n_epochs=1: update k is the k-th), not the one before: no lag
    assert [m["n_updates"] for m in lines] == [1, 2, 3, 4]
    assert all(m["learning_rate"] == 3e-4 for m in lines)
    last = lines[-1]
    for key in ("fps", "value_loss", "policy_gradient_loss", "entropy", "explained_variance", "wall_time"):
        assert key in last, key
    assert last["total_steps"] == 512 and "ep_return_mean" in last


def test_best_checkpoint_matches_the_tracker(toy_run: TrainOutcome) -> None:
    ckpts = {c.path.name: c for c in list_checkpoints(toy_run.run_dir)}
    best = ckpts["best.zip"]
    state = ckpts["final.zip"].meta["trainer_state"]["best"]
    assert best.meta["eval_step"] == state["step"]
    assert best.sha256 == ckpts[f"step_{state['step']}.zip"].sha256


def test_resume_after_a_crash_ends_like_an_uninterrupted_run(tmp_path: Path, toy_run: TrainOutcome) -> None:
    with pytest.raises(RuntimeError, match="simulated crash"):
        _train(tmp_path, source=CrashingSource(crash_after=420))
    run_dir = tmp_path / "runs" / "20260101T000000Z-toy-abc123-s3"
    failed = load_run_manifest(run_dir)
    assert failed.status == "running"  # the job that runs a trainer records the outcome (orchestrator.launch.entry)
    (trace,) = (run_dir / "failures").glob("*.txt")
    assert "RuntimeError: simulated crash" in trace.read_text()
    wandb_id = failed.tracking["wandb_run_id"]
    resume_point = max(c.step for c in list_checkpoints(run_dir) if c.kind == "step")
    assert 0 < resume_point < 512  # it died after its first checkpoint, before the end

    resumed = _train(tmp_path, resume=True)
    assert resumed.num_timesteps == toy_run.num_timesteps
    assert resumed.eval_steps == toy_run.eval_steps
    episodes = read_jsonl(run_dir / "episodes.jsonl")
    assert [e["eval_step"] for e in episodes] == [s for s in EXPECTED_EVAL_STEPS for _ in range(2)]
    steps = [m["step"] for m in read_jsonl(run_dir / "metrics.jsonl")]
    assert steps == sorted(set(steps)) and steps[-1] == 512
    manifest = load_run_manifest(run_dir)
    assert manifest.status == "completed" and manifest.tracking["wandb_run_id"] == wandb_id


def test_resume_of_a_finished_run_trains_nothing(tmp_path: Path) -> None:
    first = _train(tmp_path)
    again = _train(tmp_path, resume=True)
    assert again.num_timesteps == first.num_timesteps and again.eval_steps == first.eval_steps
    assert again.train_wall_sec == 0.0


def test_dry_run_marks_manifests_and_runs_one_rollout(tmp_path: Path) -> None:
    outcome = _train(tmp_path, dry_run=True)
    assert outcome.num_timesteps == 32  # 16 steps x 2 envs
    assert load_run_manifest(outcome.run_dir).dry_run is True
    policy = load_policy_manifest(outcome.policy_manifest)
    assert policy.dry_run is True and policy.validation_state == "synthetic"
    assert len(read_jsonl(outcome.run_dir / "episodes.jsonl")) == 1


def test_observation_mismatch_fails_the_run_with_a_clear_message(tmp_path: Path) -> None:
    run_dir = run_dir_of(tmp_path)
    resolved = toy_resolved()
    resolved["observation_signature"]["occupancy_grid"]["shape"] = [3, 8, 8]
    with pytest.raises(ValueError, match=r"occupancy_grid: env gives .*contract says"):
        run_training(TrainJob(resolved=resolved, run_dir=run_dir), env_source=ToySource())
    (trace,) = (run_dir / "failures").glob("*.txt")
    assert "contract says" in trace.read_text()


def test_resume_without_any_checkpoint_starts_over_cleanly(tmp_path: Path, toy_run: TrainOutcome) -> None:
    with pytest.raises(RuntimeError):
        _train(tmp_path, source=CrashingSource(crash_after=150))  # dies before the first evaluation
    resumed = _train(tmp_path, resume=True)
    assert resumed.eval_steps == toy_run.eval_steps
    assert [m["step"] for m in read_jsonl(resumed.run_dir / "metrics.jsonl")] == [128, 256, 384, 512]
