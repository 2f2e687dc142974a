"""The job callable: attempts in run.json, resume after a requeue, bounded requeues, num_envs on the node.

These run the real toy trainer in this process through RunJob, exactly as a job does on a node.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from submitit.helpers import DelayedSubmission

from manifests import RunDirLock, RunLockedError, load_run_manifest, update_run_manifest
from orchestrator.errors import LaunchError
from orchestrator.launch.entry import RunJob, resolve_num_envs_on_node
from orchestrator.launch.rundir import Provenance, create_run_dir
from orchestrator.launch.submit import plan_runs
from trainers.common.metrics_stream import read_jsonl

PROV = Provenance(code={}, versions={})


def _run_dir(root: Path, config: Path, resolver, **kw) -> Path:
    specs, _ = plan_runs([config], root=root, resolver=resolver, first_seed_only=True, **kw)
    return create_run_dir(specs[0], PROV, scheduler={"backend": "local"})


def test_attempt_recorded_and_logs_written(tmp_path: Path, make_toy_config, toy_resolver) -> None:
    run_dir = _run_dir(tmp_path, make_toy_config(total_steps=3), toy_resolver)
    assert RunJob(str(run_dir))() == "completed"
    manifest = load_run_manifest(run_dir)
    assert manifest.status == "completed" and manifest.requeue_count == 0
    (attempt,) = manifest.attempts
    assert attempt.state == "completed" and attempt.job_id.startswith("pid-") and attempt.end is not None
    out = (run_dir / "logs" / "attempt_1.out").read_text()
    assert "==== orch attempt 1" in out and "toy: step 3" in out


def test_failure_recorded_with_its_error(tmp_path: Path, make_toy_config, toy_resolver) -> None:
    run_dir = _run_dir(tmp_path, make_toy_config(total_steps=4, fail_at_step=2), toy_resolver)
    with pytest.raises(RuntimeError, match="toy failure at step 2"):
        RunJob(str(run_dir))()
    manifest = load_run_manifest(run_dir)
    assert manifest.status == "failed" and manifest.error == "RuntimeError: toy failure at step 2"
    assert manifest.attempts[-1].state == "failed" and "toy failure" in (manifest.attempts[-1].reason or "")
    assert "Traceback" in (run_dir / "logs" / "attempt_1.err").read_text()


def test_killed_attempt_is_closed_and_the_next_resumes(tmp_path: Path, make_toy_config, toy_resolver) -> None:
    run_dir = _run_dir(tmp_path, make_toy_config(total_steps=5, fail_at_step=3), toy_resolver)
    with pytest.raises(RuntimeError):
        RunJob(str(run_dir))()

    def killed(m):  # what a SIGKILL leaves behind: an attempt without an end
        m.attempts[-1].end, m.attempts[-1].state, m.attempts[-1].reason, m.status = None, "running", None, "running"

    update_run_manifest(run_dir, killed)
    resolved = json.loads((run_dir / "resolved.json").read_text())
    resolved["settings"]["fail_at_step"] = None
    (run_dir / "resolved.json").write_text(json.dumps(resolved))
    assert RunJob(str(run_dir))() == "completed"
    manifest = load_run_manifest(run_dir)
    assert manifest.requeue_count == 1 and [a.state for a in manifest.attempts] == ["requeued", "completed"]
    assert "without notice" in (manifest.attempts[0].reason or "")
    lines = read_jsonl(run_dir / "metrics.jsonl")
    assert [r["step"] for r in lines] == [1, 2, 3, 4, 5] and lines[-1]["resumed_from"] == 3


def test_checkpoint_returns_the_resubmission_until_the_bound(tmp_path: Path, make_toy_config, toy_resolver) -> None:
    run_dir = _run_dir(tmp_path, make_toy_config(total_steps=2), toy_resolver)
    job = RunJob(str(run_dir), max_requeues=1, time_min=60, signal_delay_s=120)
    job._open_attempt(run_dir, {"job_id": "9_0", "node": "n1"})
    again = job.checkpoint()
    assert isinstance(again, DelayedSubmission) and again.function.resume and not again.function._requeueing
    manifest = load_run_manifest(run_dir)
    assert manifest.status == "preempted" and manifest.requeue_count == 1
    assert manifest.attempts[-1].state == "requeued" and manifest.attempts[-1].reason == "preempted"
    job2 = again.function
    job2._open_attempt(run_dir, {"job_id": "9_0", "node": "n2"})
    assert job2.checkpoint() is None  # second requeue: over max_requeues=1
    manifest = load_run_manifest(run_dir)
    assert manifest.status == "failed" and "requeue limit (1)" in (manifest.error or "")


def test_time_limit_reason(tmp_path: Path, make_toy_config, toy_resolver) -> None:
    run_dir = _run_dir(tmp_path, make_toy_config(total_steps=2), toy_resolver)
    job = RunJob(str(run_dir), max_requeues=3, time_min=1, signal_delay_s=45)
    job._open_attempt(run_dir, {"job_id": "3", "node": "n"})
    job.checkpoint()
    assert load_run_manifest(run_dir).attempts[-1].reason == "time limit reached"


def test_requeue_bound_on_start(tmp_path: Path, make_toy_config, toy_resolver) -> None:
    run_dir = _run_dir(tmp_path, make_toy_config(total_steps=2), toy_resolver)
    update_run_manifest(run_dir, lambda m: setattr(m, "requeue_count", 3))
    with pytest.raises(LaunchError, match="more than max_requeues=2"):
        RunJob(str(run_dir), max_requeues=2)()
    assert load_run_manifest(run_dir).status == "failed"


def test_num_envs_auto_decided_on_the_node(
    tmp_path: Path, make_toy_config, toy_resolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "3")
    run_dir = _run_dir(tmp_path, make_toy_config(total_steps=1, num_envs="auto"), toy_resolver)
    RunJob(str(run_dir))()
    manifest = load_run_manifest(run_dir)
    assert manifest.extra["resolved_on_node"]["num_envs"] == 6  # the toy spec's rule: 2 per CPU
    assert "num_envs=6" in (run_dir / "logs" / "attempt_1.out").read_text()


def test_fixed_num_envs_untouched() -> None:
    resolved = {"trainer": "toy", "settings": {"num_envs": 4}, "source": {"auto": {}}}
    assert resolve_num_envs_on_node(resolved, 16, None) is None and resolved["settings"]["num_envs"] == 4


def test_trainer_registered_on_the_node_from_the_manifest(tmp_path: Path, make_toy_config, toy_resolver) -> None:
    from trainers import registry

    module = "tests.orchestrator.launch.toy_trainer"
    registry.register("toy_elsewhere", spec_module=module, entry_point=f"{module}:train")
    try:
        run_dir = _run_dir(tmp_path, make_toy_config(total_steps=1, trainer="toy_elsewhere"), toy_resolver)
        registry._REGISTRY.pop("toy_elsewhere")  # a fresh compute node knows nothing of a test's trainer
        assert load_run_manifest(run_dir).extra["trainer_entry"]["entry_point"] == f"{module}:train"
        assert RunJob(str(run_dir))() == "completed"  # found through run.json's trainer_entry
    finally:
        registry._REGISTRY.pop("toy_elsewhere", None)


def test_a_completed_run_is_not_trained_again(tmp_path: Path, make_toy_config, toy_resolver) -> None:
    run_dir = _run_dir(tmp_path, make_toy_config(total_steps=2), toy_resolver)
    RunJob(str(run_dir))()
    assert RunJob(str(run_dir), resume=True)() == "completed"  # e.g. a requeue that came after the end
    assert len(load_run_manifest(run_dir).attempts) == 1 and len(read_jsonl(run_dir / "metrics.jsonl")) == 2


def test_ctrl_c_cancels_the_run(tmp_path: Path, make_toy_config, toy_resolver, monkeypatch) -> None:
    import tests.orchestrator.launch.toy_trainer as toy

    run_dir = _run_dir(tmp_path, make_toy_config(total_steps=3), toy_resolver)

    def interrupted(job) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(toy, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        RunJob(str(run_dir))()
    manifest = load_run_manifest(run_dir)
    assert manifest.status == "cancelled" and manifest.attempts[-1].state == "cancelled"


def test_a_second_trainer_on_a_locked_run_is_refused_and_changes_nothing(
    tmp_path: Path, make_toy_config, toy_resolver, monkeypatch
) -> None:
    run_dir = _run_dir(tmp_path, make_toy_config(total_steps=2), toy_resolver)
    before = (run_dir / "run.json").read_text()
    monkeypatch.setattr(RunJob, "lock_wait_s", 0.2)
    with RunDirLock(run_dir), pytest.raises(RunLockedError, match="being trained already"):
        RunJob(str(run_dir))()
    assert (run_dir / "run.json").read_text() == before
    assert not (run_dir / "logs" / "attempt_1.out").exists()


def test_stale_temporaries_of_a_killed_attempt_are_removed_at_start(
    tmp_path: Path, make_toy_config, toy_resolver
) -> None:
    run_dir = _run_dir(tmp_path, make_toy_config(total_steps=2), toy_resolver)
    (run_dir / "checkpoints").mkdir()
    stale = [run_dir / ".tmp-run.json.deadbeef", run_dir / "checkpoints" / ".tmp-step_9.json.ckpt.0badf00d"]
    for path in stale:
        path.write_bytes(b"torn by SIGKILL")
    assert RunJob(str(run_dir))() == "completed"
    assert not any(p.exists() for p in stale)
    assert "removed 2 stale temporary file(s)" in (run_dir / "logs" / "attempt_1.out").read_text()


class _SubmititStandIn:
    """What submitit's SignalHandler does on SIGUSR2 (checkpoint, dump, requeue, exit), for in-process tests; the real
    one is exercised by test_signals_local.py (submitit's local executor) and the Slurm tests."""

    def __init__(self, job: RunJob) -> None:
        self.job, self.calls = job, 0

    def __call__(self, signum: int, frame: object) -> None:
        self.calls += 1
        self.resubmission = self.job.checkpoint()
        raise SystemExit(-1)


def _signalled_run(run_dir: Path, monkeypatch, *, after_s: float, grace_s: float = 5.0) -> _SubmititStandIn:
    import os
    import signal
    import threading

    job = RunJob(str(run_dir), signal_delay_s=30)
    monkeypatch.setattr(RunJob, "stop_grace_s", grace_s)
    stand_in = _SubmititStandIn(job)
    previous = signal.signal(signal.SIGUSR2, stand_in)
    timer = threading.Timer(after_s, os.kill, args=(os.getpid(), signal.SIGUSR2))
    timer.start()
    try:
        with pytest.raises(SystemExit):
            job()
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR2, previous)
    assert stand_in.calls == 1 and stand_in.resubmission is not None
    return stand_in


def _checkpoints(run_dir: Path) -> dict[int, dict]:
    return {
        (data := json.loads(p.read_text()))["step"]: data
        for p in (run_dir / "checkpoints").glob("*.json")
        if not p.name.startswith(".")
    }


def test_the_warning_signal_saves_at_the_step_boundary_then_requeues(
    tmp_path: Path, make_toy_config, toy_resolver, monkeypatch
) -> None:
    config = make_toy_config(total_steps=400, step_sleep_s=0.02, checkpoint_every=1000)
    run_dir = _run_dir(tmp_path, config, toy_resolver)
    _signalled_run(run_dir, monkeypatch, after_s=1.0)
    (step, sidecar), *_ = _checkpoints(run_dir).items()
    assert step > 0 and sidecar["meta"] == {"saved_on": "stop"}  # no periodic checkpoint exists: it saved at the signal
    manifest = load_run_manifest(run_dir)
    assert manifest.status == "preempted" and manifest.requeue_count == 1
    assert manifest.attempts[-1].state == "requeued" and f"saved at step {step}" in (manifest.attempts[-1].reason or "")
    assert RunJob(str(run_dir), resume=True)() == "completed"
    lines = read_jsonl(run_dir / "metrics.jsonl")
    assert lines[-1]["step"] == 400 and lines[-1]["resumed_from"] == step


def test_a_trainer_deaf_to_the_warning_is_requeued_anyway_from_its_last_checkpoint(
    tmp_path: Path, make_toy_config, toy_resolver, monkeypatch
) -> None:
    config = make_toy_config(total_steps=400, step_sleep_s=0.02, checkpoint_every=5, ignore_stop=True)
    run_dir = _run_dir(tmp_path, config, toy_resolver)
    _signalled_run(run_dir, monkeypatch, after_s=0.6, grace_s=0.5)
    assert all(c["meta"] == {} for c in _checkpoints(run_dir).values())  # only periodic ones
    attempt = load_run_manifest(run_dir).attempts[-1]
    assert attempt.state == "requeued" and "saved at" not in (attempt.reason or "")


def test_a_save_the_deadline_cuts_short_leaves_the_previous_checkpoint_and_no_temporary(
    tmp_path: Path, make_toy_config, toy_resolver, monkeypatch
) -> None:
    config = make_toy_config(total_steps=400, step_sleep_s=0.02, checkpoint_every=5, slow_stop_save_s=3.0)
    run_dir = _run_dir(tmp_path, config, toy_resolver)
    _signalled_run(run_dir, monkeypatch, after_s=0.6, grace_s=0.5)
    checkpoints = _checkpoints(run_dir)
    assert checkpoints and all(c["meta"] == {} and c["step"] % 5 == 0 for c in checkpoints.values())
    from trainers.common.checkpoints import find_latest_checkpoint

    latest = find_latest_checkpoint(run_dir)
    assert latest is not None and latest.step == max(checkpoints)  # complete: its sha256 matches its sidecar
    assert not [p for p in (run_dir / "checkpoints").iterdir() if p.name.startswith(".tmp-")]
    stray = [p for p in (run_dir / "checkpoints").iterdir() if not p.name.endswith(".json")]
    assert len(stray) == len(checkpoints)  # every data file has its sidecar: the cut write left nothing behind
