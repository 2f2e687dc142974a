"""``orch submit`` with ``runs_per_job: 2``: two DreamerV3 seeds become ONE job (a local process; one Slurm array
task) whose two runs train side by side and complete with their own manifests; ``orch cancel`` of one of them stops
the shared job once and marks both runs cancelled."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from manifests import load_run_manifest, trainer_holding
from orchestrator.cancel import cancel_runs, plan_cancel
from orchestrator.launch.clusters import load_cluster
from orchestrator.launch.local import process_alive
from orchestrator.launch.submit import SubmitResult, submit
from orchestrator.status import collect_status, wait_for
from tests.orchestrator.launch.group_helpers import tiny_dreamer_config
from tests.orchestrator.launch.launch_helpers import slurm_profile, wait_done, wait_until

pytest.importorskip("torch", reason="the DreamerV3 trainer needs torch")


def _both_training(run_dirs: list[Path]) -> bool:
    return all((d / "metrics.jsonl").is_file() and (d / "metrics.jsonl").stat().st_size for d in run_dirs)


def _assert_one_job_ran_both(result: SubmitResult) -> None:
    run_ids = [row["run_id"] for row in result.runs]
    job_ids = {row["job_id"] for row in result.runs}
    assert len(run_ids) == 2 and len(job_ids) == 1, result.runs
    for row in result.runs:
        run_dir = Path(row["run_dir"])
        manifest = load_run_manifest(run_dir)
        assert manifest.status == "completed", manifest.error
        assert manifest.scheduler["group"] == run_ids and manifest.scheduler["job_id"] in job_ids
        assert [a.state for a in manifest.attempts] == ["completed"]
        assert manifest.attempts[0].job_id in job_ids
        assert (run_dir / "policy.json").is_file() and (run_dir / "metrics.jsonl").stat().st_size
        assert f"attempt 1 of run {row['run_id']}" in (run_dir / "logs" / "attempt_1.out").read_text()


def test_a_local_submission_of_two_seeds_makes_one_job_that_completes_both(tmp_path: Path) -> None:
    config = tiny_dreamer_config(tmp_path, "pair", [1, 2])
    result = submit([config], root=tmp_path, profile=load_cluster("local", {"runs_per_job": 2}))
    report = wait_for(tmp_path, result.sweep_id, poll_s=1.0, timeout_s=300)
    assert [row.status for row in report.runs] == ["completed", "completed"], [row.error for row in report.runs]
    job_folders = [p for p in (tmp_path / ".jobs" / result.sweep_id).iterdir() if p.name.isdigit()]
    assert len(job_folders) == 1  # one submitit job (one process) for the two runs
    _assert_one_job_ran_both(result)


def test_orch_cancel_of_one_grouped_run_stops_the_shared_job_and_marks_both(tmp_path: Path) -> None:
    config = tiny_dreamer_config(tmp_path, "long", [1, 2], total_env_steps=20000)
    result = submit([config], root=tmp_path, profile=load_cluster("local", {"runs_per_job": 2}))
    run_dirs = [Path(row["run_dir"]) for row in result.runs]

    wait_until(lambda: _both_training(run_dirs), 180, what="both runs training")
    targets, _ = plan_cancel(run_dirs[:1])  # name one run: its sibling comes along, their job is signalled once
    assert [t.run_id for t in targets] == [d.name for d in run_dirs]
    cancelled = cancel_runs(targets)
    assert sorted(cancelled.cancelled) == sorted(d.name for d in run_dirs) and cancelled.complete
    pid = int(str(result.runs[0]["job_id"]).removeprefix("pid-"))
    wait_until(lambda: not process_alive(pid, controller=True), 60, what="the job's process to end")
    rows = collect_status(tmp_path, result.sweep_id).runs
    assert [row.status for row in rows] == ["cancelled", "cancelled"]


def test_the_warning_to_a_local_grouped_job_saves_both_runs_and_one_requeue_resumes_both(tmp_path: Path) -> None:
    config = tiny_dreamer_config(tmp_path, "warned", [1, 2], total_env_steps=160, checkpoint_every=1000)
    result = submit([config], root=tmp_path, profile=load_cluster("local", {"runs_per_job": 2}))
    run_dirs = [Path(row["run_dir"]) for row in result.runs]
    wait_until(lambda: _both_training(run_dirs), 180, 0.2, what="both runs training")
    holders = [trainer_holding(d) for d in run_dirs]
    assert all(h is not None for h in holders) and len({h["pid"] for h in holders if h}) == 1  # one process
    os.kill(int(holders[0]["pid"]), signal.SIGUSR2)  # the scheduler's warning, as Slurm sends it to the job step
    report = wait_for(tmp_path, result.sweep_id, poll_s=1.0, timeout_s=300)
    assert [row.status for row in report.runs] == ["completed", "completed"], [row.error for row in report.runs]
    for run_dir in run_dirs:
        wait_until(lambda d=run_dir: load_run_manifest(d).attempts[-1].end, 30, what="the attempt closed")
        manifest = load_run_manifest(run_dir)
        assert [a.state for a in manifest.attempts] == ["requeued", "completed"] and manifest.requeue_count == 1
        assert len({a.job_id for a in manifest.attempts}) == 1  # requeued as the same job
        saved = int((manifest.attempts[0].reason or "").rsplit("saved at step ", 1)[1])
        assert (run_dir / "checkpoints" / f"step_{saved}.pt").is_file() and 0 < saved < 160
        assert "resume=True" in (run_dir / "logs" / "attempt_2.out").read_text()


@pytest.mark.usefixtures("slurm_cluster")
def test_a_slurm_submission_of_two_seeds_is_one_array_task_that_completes_both(tmp_path: Path) -> None:
    config = tiny_dreamer_config(tmp_path, "pair", [1, 2])
    profile: Any = slurm_profile(runs_per_job=2, mem_gb="6G", cpus_per_task=2, time_min=10)
    result = submit([config], root=tmp_path, profile=profile)
    report = wait_done(tmp_path, result.sweep_id, timeout=420)
    assert [row.status for row in report.runs] == ["completed", "completed"], [row.error for row in report.runs]
    _assert_one_job_ran_both(result)


def test_a_dry_run_shows_the_runs_cut_into_array_tasks(tmp_path: Path) -> None:
    config = tiny_dreamer_config(tmp_path, "three", [1, 2, 3])
    profile = load_cluster("localslurm", {"runs_per_job": 2})
    result = submit([config], root=tmp_path, profile=profile, dry_run=True)
    assert result.script is not None and result.script.startswith("# 3 run(s) in 2 job(s), runs_per_job=2\n")
    assert "#SBATCH --array=0-1%2" in result.script and len(result.runs) == 3
    local = submit([config], root=tmp_path, profile=load_cluster("local", {"runs_per_job": 3}), dry_run=True)
    assert local.script is not None and "# local: 3 run(s) in 1 background process(es)" in local.script
    assert not (tmp_path / "runs").exists()


def test_resume_refuses_to_group_runs_of_a_trainer_that_cannot_share_a_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from manifests import update_run_manifest
    from orchestrator.cli import main
    from orchestrator.launch.rundir import Provenance, create_run_dir
    from orchestrator.launch.submit import plan_runs
    from tests.orchestrator.launch.launch_helpers import REPO_ROOT

    provenance = Provenance.collect()
    config = REPO_ROOT / "configs" / "ppo_expert" / "grid_socnav_smoke.yaml"
    spec = plan_runs([config], root=tmp_path, provenance=provenance, first_seed_only=True)[0][0]
    scheduler = {"backend": "local", "cluster": "local", "profile": load_cluster("local").to_dict()}
    create_run_dir(spec, provenance, scheduler=scheduler)
    update_run_manifest(spec.run_dir, lambda m: setattr(m, "status", "failed"))
    args = ["resume", spec.run_id, "--set", "cluster.runs_per_job=2", "--artifact-root", str(tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "runs_per_job=2, but trainer 'ppo_expert' cannot share a process" in err and len(err.splitlines()) == 1
    manifest = load_run_manifest(spec.run_dir)
    assert manifest.status == "failed" and not manifest.attempts  # nothing was reopened or queued
