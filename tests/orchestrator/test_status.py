"""orch status: state merging, progress from metrics.jsonl, STALLED with a fake clock, seed groups, stale scheduler."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from manifests import RunManifest, save_run_manifest
from orchestrator.errors import StatusError
from orchestrator.launch.backend import JobState
from orchestrator.launch.watcher import WatchResult
from orchestrator.status import StallPolicy, collect_status, effective_status, read_progress

T0 = 1_800_000_000.0


def _run(
    root: Path,
    run_id: str,
    *,
    status: str = "running",
    job: str | None = "5_0",
    seed: int = 0,
    config_hash: str = "c" * 64,
    lines: list[dict[str, Any]] | None = None,
    torn: str = "",
    **extra: Any,
) -> Path:
    run_dir = root / "runs" / run_id
    run_dir.mkdir(parents=True)
    manifest = RunManifest(
        run_id=run_id,
        trainer="toy",
        name="cfg",
        status=status,
        seed=seed,
        sweep_id="SW",
        config_hash=config_hash,
        scheduler={"backend": "slurm", "job_id": job} if job else {},
    )
    for key, value in extra.items():
        setattr(manifest, key, value)
    save_run_manifest(run_dir, manifest)
    if lines is not None:
        text = "".join(json.dumps(line) + "\n" for line in lines) + torn
        (run_dir / "metrics.jsonl").write_text(text)
    return run_dir


def _lines(n: int, every: float, *, start: float = T0, metric: str = "reward", value: float = 1.0) -> list[dict]:
    return [{"step": 10 * (i + 1), "total_steps": 100, "time": start + every * i, metric: value} for i in range(n)]


class FixedScheduler:
    """A watcher answering from a table (the real one is tested in launch/test_watcher.py)."""

    def __init__(self, table: dict[str, str], *, stale: bool = False) -> None:
        self.table, self.stale, self.asked = table, stale, []

    def __call__(self, root: Path, backend: str) -> FixedScheduler:
        return self

    def states(self, ids: Any, recheck: Any = ()) -> WatchResult:
        self.asked.append(sorted(ids))
        self.rechecked = sorted(recheck)
        states = {i: JobState(i, self.table[i], self.table[i].upper()) for i in ids if i in self.table}
        return WatchResult(
            states, stale=self.stale, message="scheduler unreachable, state may be stale" if self.stale else None
        )


@pytest.mark.parametrize(
    ("manifest", "job", "expected"),
    [
        ("running", None, "running"),
        ("completed", "failed", "completed"),
        ("running", "pending", "pending"),  # killed and requeued: waits in the queue
        ("pending", "running", "running"),
        ("running", "cancelled", "cancelled"),  # scancel'd by someone else
        ("running", "failed", "failed"),
        ("failed", "failed", "failed"),
        ("preempted", "pending", "pending"),
    ],
)
def test_effective_status(manifest: str, job: str | None, expected: str) -> None:
    state = JobState("1", job, job.upper()) if job else None
    assert effective_status({"status": manifest}, state)[0] == expected


def test_local_process_gone_without_outcome_is_failed() -> None:
    dead = JobState("1", "completed", "PID", authoritative=False)
    alive = JobState("1", "running", "PID", authoritative=False)
    assert effective_status({"status": "pending"}, alive)[0] == "pending"  # waiting for a slot
    status, why = effective_status({"status": "running"}, dead)
    assert status == "failed" and "without recording an outcome" in (why or "")


def test_a_run_that_ended_inside_a_grouped_job_shows_its_own_end_while_the_job_runs_on() -> None:
    running = JobState("7_0", "running", "RUNNING")  # the array task trains the run's siblings (runs_per_job)
    grouped = {"status": "failed", "error": "NonFiniteError: x", "scheduler": {"group": ["a", "b"]}}
    assert effective_status(grouped, running) == ("failed", "NonFiniteError: x")
    assert effective_status({"status": "failed", "error": "x"}, running)[0] == "running"  # alone: the job decides


def test_progress_rate_and_torn_line(tmp_path: Path) -> None:
    run_dir = _run(tmp_path, "r", lines=_lines(5, 2.0), torn='{"step": 60, "tot')
    progress = read_progress(run_dir)
    assert (progress.step, progress.total_steps, progress.last_time) == (50, 100, T0 + 8)
    assert progress.median_interval_s == 2.0 and progress.rate == pytest.approx(5.0)
    assert progress.metrics["reward"] == 1.0


def test_stalled_when_running_without_progress(tmp_path: Path) -> None:
    _run(tmp_path, "r", lines=_lines(5, 60.0))  # a line a minute; last at T0+240
    sched = FixedScheduler({"5_0": "running"})
    last = T0 + 240

    def status_at(t: float, policy: StallPolicy = StallPolicy()) -> Any:
        return collect_status(tmp_path, "r", clock=lambda: t, watcher_factory=sched, stall=policy).runs[0]

    assert not status_at(last + 599).stalled  # 3 x 60 s < 10 min floor
    row = status_at(last + 601)
    assert row.stalled and row.status == "running" and row.stall_threshold_s == 600
    fast = StallPolicy(factor=3, min_s=30)
    assert not status_at(last + 179, fast).stalled and status_at(last + 181, fast).stalled  # 3 x median wins
    sched.table["5_0"] = "pending"
    assert not status_at(last + 10_000).stalled  # only RUNNING jobs stall


def test_eta_and_metric_in_json(tmp_path: Path) -> None:
    _run(tmp_path, "r", lines=_lines(5, 2.0, metric="success_rate", value=0.5))
    report = collect_status(tmp_path, "r", clock=lambda: T0 + 9, watcher_factory=FixedScheduler({"5_0": "running"}))
    doc = report.to_json()
    assert doc["schema_version"] == 1
    row = doc["runs"][0]
    for key in ("run_id", "status", "stalled", "job_id", "step", "total_steps"):
        assert key in row
    assert (row["status"], row["step"], row["eta_s"]) == ("running", 50, pytest.approx(10.0))
    assert (row["metric"], row["metric_value"], row["last_progress_age_s"]) == ("success_rate", 0.5, 1.0)


def test_seed_groups_mean_and_spread(tmp_path: Path) -> None:
    for seed, value in enumerate([1.0, 2.0, 3.0]):
        _run(tmp_path, f"r{seed}", seed=seed, status="completed", lines=_lines(2, 1.0, value=value))
    _run(tmp_path, "other", config_hash="d" * 64, status="completed", lines=_lines(2, 1.0))
    report = collect_status(tmp_path, "SW", watcher_factory=FixedScheduler({}))
    (group,) = report.groups
    assert group.run_ids == ["r0", "r1", "r2"] and group.metric == "reward"
    assert (group.n, group.mean, group.std, group.min, group.max) == (3, 2.0, 1.0, 1.0, 3.0)


def test_state_filter_and_bad_state(tmp_path: Path) -> None:
    _run(tmp_path, "a", status="completed", job=None)
    _run(tmp_path, "b", status="failed", job=None, error="boom")
    assert [r.run_id for r in collect_status(tmp_path, None, all_runs=True, states=["failed"]).runs] == ["b"]
    with pytest.raises(StatusError, match="not a state"):
        collect_status(tmp_path, None, states=["exploded"])


def test_stale_scheduler_is_reported_not_fatal(tmp_path: Path) -> None:
    _run(tmp_path, "r", lines=_lines(1, 1.0))
    report = collect_status(tmp_path, "r", watcher_factory=FixedScheduler({}, stale=True))
    assert report.stale and report.messages == ["scheduler unreachable, state may be stale"]
    assert report.runs[0].status == "running"  # the manifest's word when the scheduler cannot be asked


def test_completed_runs_are_not_asked_about(tmp_path: Path) -> None:
    _run(tmp_path, "done", status="completed", job="1")
    _run(tmp_path, "live", status="running", job="2")
    sched = FixedScheduler({"2": "running"})
    collect_status(tmp_path, "SW", watcher_factory=sched)
    assert sched.asked == [["2"]]


def test_status_is_light_and_fast(tmp_path: Path) -> None:
    """In a fresh interpreter: no torch/SB3/gymnasium/wandb/submitit imported, and the answer takes well under a
    second (CPU time, so that a busy machine does not make the test flaky)."""
    for i in range(50):
        _run(tmp_path, f"r{i:03d}", status="completed", job=None, lines=_lines(20, 1.0))
    code = (
        "import sys, time; c, t = time.process_time(), time.perf_counter(); from orchestrator.cli import main; "
        f"rc = main(['status', '--all', '--json', '--artifact-root', {str(tmp_path)!r}]); "
        "heavy = [m for m in ('torch', 'stable_baselines3', 'gymnasium', 'wandb', 'submitit') if m in sys.modules]; "
        "print('RESULT', rc, time.process_time() - c, time.perf_counter() - t, ','.join(heavy), file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    line = next(x for x in result.stderr.splitlines() if x.startswith("RESULT"))
    _, rc, cpu, wall, heavy = [*line.split(" "), ""][:5]
    assert rc == "0" and heavy == "", result.stderr
    assert len(json.loads(result.stdout)["runs"]) == 50
    assert float(cpu) < 1.0, f"orch status used {cpu}s of CPU (wall {wall}s)"


def test_jobs_of_runs_still_pending_or_running_are_rechecked(tmp_path: Path) -> None:
    _run(tmp_path, "r-running", job="11")
    _run(tmp_path, "r-failed", job="12", status="failed")
    _run(tmp_path, "r-preempted", job="13", status="preempted")
    sched = FixedScheduler({"11": "pending", "12": "failed", "13": "pending"})
    rows = {r.run_id: r for r in collect_status(tmp_path, "SW", watcher_factory=sched).runs}
    assert sched.rechecked == ["11", "13"]  # a failed run's job is not asked about again
    assert rows["r-running"].status == "pending" and rows["r-failed"].status == "failed"


def test_an_unreadable_run_json_is_reported_not_skipped(tmp_path: Path) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    run_dir = _run(tmp_path, "r-private", job=None)
    (run_dir / "run.json").chmod(0o000)
    report = collect_status(tmp_path, all_runs=True)
    assert report.runs == [] and any("r-private" in m and "permission denied" in m for m in report.messages)


def test_a_corrupt_run_json_is_reported_not_skipped(tmp_path: Path) -> None:
    run_dir = _run(tmp_path, "r-torn", job=None)
    (run_dir / "run.json").write_text('{"run_id": "r-to')
    report = collect_status(tmp_path, all_runs=True)
    assert report.runs == [] and any(m.startswith("r-torn: cannot read") for m in report.messages)
