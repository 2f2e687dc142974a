"""Recovery on the real single-node Slurm cluster: runs brought back by orch resume (a SIGKILLed trainer, a hung one),
names that must not reach every run, a hand-requeued job, a cancel that fails, a partly accepted submission, and
secrets that never reach a file. Jobs are the small toy trainer (1 CPU, seconds each), W&B offline.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from manifests import load_run_manifest, trainer_holding
from orchestrator.cancel import cancel_runs, plan_cancel
from orchestrator.cli import main
from orchestrator.errors import LaunchError
from orchestrator.launch.submit import submit
from orchestrator.status import StallPolicy, collect_status
from tests.orchestrator.launch.launch_helpers import (
    release_begin_time_hold,
    sacct_state,
    slurm_profile,
    submit_toy,
    wait_done,
    wait_until,
)
from tests.orchestrator.launch.toy_trainer import resolve_toy

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster")]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("recovery")
    yield folder
    runs = folder / "runs"
    if runs.exists():  # leave the cluster empty even when a test failed half-way
        cancel_runs(plan_cancel(list(runs.iterdir()))[0])


def _orch(root: Path, *args: str) -> int:
    return main([*args, "--artifact-root", str(root)])


def _wandb_ids(run_dir: Path) -> set[str]:
    """The W&B run id of every attempt's offline run (``wandb/offline-run-<time>-<id>``)."""
    return {p.name.rsplit("-", 1)[1] for p in (run_dir / "wandb").glob("offline-run-*")}


def _step(root: Path, ref: str) -> int:
    return collect_status(root, ref).runs[0].step or 0


def test_a_sigkilled_trainer_is_resumed_on_the_cluster_to_the_full_step_count(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = submit_toy(root, "killed", total_steps=8, step_sleep_s=0.5, resume_step_sleep_s=0.05, wandb=True)
    run_id, run_dir, job_id = result.runs[0]["run_id"], Path(result.runs[0]["run_dir"]), result.runs[0]["job_id"]
    wait_until(lambda: _step(root, run_id) >= 3, 180, what="step 3")
    holder = trainer_holding(run_dir)
    assert holder is not None and holder["job_id"] == job_id
    os.kill(int(holder["pid"]), signal.SIGKILL)  # the trainer is gone without a word; the allocation ends
    wait_until(lambda: sacct_state(job_id) in ("FAILED", "CANCELLED", "COMPLETED"), 60, what="the job to end")
    row = wait_until(lambda: (r := collect_status(root, run_id).runs[0]).status == "failed" and r, 30, what="failed")
    assert load_run_manifest(run_dir).status == "running"  # what run.json says: only the scheduler knows
    assert row.resume_command == f"orch resume {run_id} --artifact-root {root}"

    assert _orch(root, "resume", run_id) == 0
    assert f"resumed {run_id} as job" in capsys.readouterr().out
    row = wait_done(root, run_id).runs[0]
    assert row.status == "completed" and row.step == 8, row.error
    manifest = load_run_manifest(run_dir)
    assert [a.state for a in manifest.attempts] == ["failed", "completed"]
    assert "ended without notice" in (manifest.attempts[0].reason or "")
    assert manifest.scheduler["cluster"] == "localslurm" and manifest.scheduler["job_id"] != job_id
    assert _wandb_ids(run_dir) == {manifest.tracking["wandb_run_id"]}  # one W&B run across both attempts
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["step"] == 8 and lines[-1]["resumed_from"] >= 3


def test_a_hung_run_survives_bad_names_is_refused_while_alive_and_restarted_by_resume_stalled(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = submit_toy(root, "hung", total_steps=6, step_sleep_s=0.2, hang_at_step=3, wandb=True)
    run_id, run_dir, job_id = result.runs[0]["run_id"], Path(result.runs[0]["run_dir"]), result.runs[0]["job_id"]
    policy = StallPolicy(factor=1, min_s=3)
    wait_until(lambda: collect_status(root, run_id, stall=policy).runs[0].stalled, 180, what="STALLED")

    before = (run_dir / "run.json").read_text()
    prefix = run_id[:4]  # the start of every run id under this root
    for name in ("", "2", prefix):
        assert _orch(root, "cancel", name, "-y") == 2
    err = capsys.readouterr().err
    assert "an empty run name names nothing" in err and "'2' is the start of" in err
    assert _orch(root, "resume", run_id) == 2  # its job is RUNNING: two trainers would share the run
    assert "a trainer is running it now" in capsys.readouterr().err or "still pending or running" in err
    assert sacct_state(job_id) == "RUNNING" and (run_dir / "run.json").read_text() == before

    assert _orch(root, "resume", "--stalled", run_id, "--stall-after", "0.05", "--stall-factor", "1") == 0
    assert f"resumed {run_id}" in capsys.readouterr().out
    row = wait_done(root, run_id).runs[0]
    assert row.status == "completed" and row.step == 6, row.error
    manifest = load_run_manifest(run_dir)
    assert [a.state for a in manifest.attempts] == ["cancelled", "completed"]
    assert manifest.extra["resumes"][-1]["by"] == "orch resume --stalled"
    assert _wandb_ids(run_dir) == {manifest.tracking["wandb_run_id"]}
    assert wait_until(lambda: sacct_state(job_id).startswith("CANCELLED"), 30, what="the old job cancelled")


def test_status_shows_a_hand_requeued_failed_job_running_again(root: Path) -> None:
    # fails at step 2 on its first attempt; after a requeue it trains on slowly enough to be seen running
    values = {"total_steps": 6, "fail_at_step": 2, "fail_once": True, "resume_step_sleep_s": 2.0}
    result = submit_toy(root, "requeued", **values)
    run_id, job_id = result.runs[0]["run_id"], result.runs[0]["job_id"]
    assert wait_done(root, run_id).runs[0].status == "failed"
    wait_until(lambda: sacct_state(job_id) == "FAILED", 30, what="sacct FAILED")
    collect_status(root, run_id)  # the cache now holds FAILED, a final state
    subprocess.run(["scontrol", "requeue", job_id], check=True, capture_output=True)

    def seen_again() -> str | None:
        release_begin_time_hold(job_id)
        status = collect_status(root, run_id).runs[0].status
        return status if status in ("pending", "running") else None

    assert wait_until(seen_again, 120, what="status to show the requeued job again") in ("pending", "running")
    row = wait_done(root, run_id, release=job_id).runs[0]
    assert row.status == "completed" and row.step == 6, row.error


def test_a_cancel_that_fails_marks_nothing_and_the_run_completes(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = submit_toy(root, "uncancelled", total_steps=6, step_sleep_s=0.5)
    run_id, run_dir = result.runs[0]["run_id"], Path(result.runs[0]["run_dir"])
    wait_until(lambda: _step(root, run_id) >= 1, 180, what="step 1")
    with monkeypatch.context() as patched:
        patched.setenv("PATH", "/nonexistent")  # a login node without the Slurm tools: scancel cannot run
        assert _orch(root, "cancel", run_id, "-y") == 3
    err = capsys.readouterr().err
    assert f"error: {run_id} is still running: scancel could not run" in err
    assert "cancel_requested_at" not in load_run_manifest(run_dir).extra
    row = wait_done(root, run_id).runs[0]
    assert row.status == "completed" and load_run_manifest(run_dir).status == "completed"  # not rewritten


def test_a_partly_accepted_submission_keeps_the_queued_array_and_resume_submits_the_rest(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = shutil.which("sbatch")
    assert real is not None
    wrapper = tmp_path / "bin" / "sbatch"  # the real sbatch, refusing every call after the first (a QOS limit)
    wrapper.parent.mkdir()
    wrapper.write_text(
        "#!/bin/bash\n"
        f"count=$(( $(cat {tmp_path}/calls 2>/dev/null || echo 0) + 1 )); echo $count > {tmp_path}/calls\n"
        'if [ "$count" -ge 2 ]; then echo "sbatch: error: QOSMaxSubmitJobPerUserLimit" >&2; exit 1; fi\n'
        f'exec {real} "$@"\n'
    )
    wrapper.chmod(0o755)
    with monkeypatch.context() as patched, pytest.raises(LaunchError) as refused:
        patched.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")
        submit([_config(root)], root=root, resolver=resolve_toy, profile=slurm_profile(max_array_size=2))
    message = str(refused.value)  # what orch submit prints as its one error line (exit 2)
    assert "sbatch refused array 2: sbatch: error: QOSMaxSubmitJobPerUserLimit" in message
    assert "2 run(s) of sweep" in message and "1 run(s) were not queued" in message and "orch resume" in message
    report = collect_status(root, all_runs=True)
    runs = [r for r in report.runs if r.name == "partial"]
    queued = [r for r in runs if r.job_id]
    assert len(runs) == 3 and len(queued) == 2 and len({r.job_id.split("_")[0] for r in queued}) == 1
    (unqueued,) = [r for r in runs if not r.job_id]
    assert unqueued.status == "failed" and "not queued" in (unqueued.error or "")
    sweep = runs[0].sweep_id
    assert all(r.status == "completed" for r in wait_done(root, sweep).runs if r.job_id)
    assert _orch(root, "resume", sweep) == 0  # the one never queued goes now
    assert [r.status for r in wait_done(root, sweep).runs] == ["completed"] * 3


def _config(root: Path) -> Path:
    from tests.orchestrator.launch.launch_helpers import toy_config

    return toy_config(root, "partial", seeds=[0, 1, 2], total_steps=2, step_sleep_s=0.1)


def test_a_secret_in_the_profile_reaches_the_job_and_no_file_or_archive(root: Path, tmp_path: Path) -> None:
    import zstandard

    secret = "secret123"
    profile = slurm_profile(env={"WANDB_API_KEY": secret})
    result = submit_toy(root, "secret", profile, total_steps=3, wandb=True, report_env=["WANDB_API_KEY"])
    run_id, run_dir = result.runs[0]["run_id"], Path(result.runs[0]["run_dir"])
    row = wait_done(root, run_id).runs[0]
    assert row.status == "completed", row.error
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert lines[0]["env_present"] == {"WANDB_API_KEY": True}  # the job had it ...
    assert load_run_manifest(run_dir).tracking["wandb_mode"] == "offline"  # ... and W&B stayed offline on the node
    found = subprocess.run(["grep", "-rl", secret, str(run_dir), str(root / ".jobs")], capture_output=True, text=True)
    assert found.stdout == "", f"the secret was written to {found.stdout}"
    assert _orch(root, "archive", run_id, "--dest", str(tmp_path / "archive"), "--include-wandb") == 0
    (archive,) = (tmp_path / "archive").glob("*.tar.zst")
    data = zstandard.ZstdDecompressor().decompressobj().decompress(archive.read_bytes())
    assert len(data) > 10_000 and secret.encode() not in data
    for manifest in (tmp_path / "archive").glob("*.json"):
        assert secret not in manifest.read_text()
