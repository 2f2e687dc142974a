"""orch submit on this machine: real background processes through submitit's local executor."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pytest

from manifests import load_run_manifest
from orchestrator.cancel import cancel_runs, plan_cancel
from orchestrator.errors import ConfigError, LaunchError
from orchestrator.launch.clusters import load_cluster
from orchestrator.launch.submit import submit
from orchestrator.runref import resolve_runs
from orchestrator.status import collect_status, wait_for
from tests.orchestrator.launch.launch_helpers import wait_until


def _t(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def test_three_seeds_respect_the_parallelism_limit(tmp_path: Path, make_toy_config, toy_resolver) -> None:
    config = make_toy_config(seeds=[0, 1, 2], total_steps=3, step_sleep_s=0.2)
    profile = load_cluster("local", {"array_parallelism": 1})
    result = submit([config], root=tmp_path, resolver=toy_resolver, profile=profile)
    assert [r["seed"] for r in result.runs] == [0, 1, 2] and all(r["job_id"].isdigit() for r in result.runs)
    assert result.next_commands()[0].startswith(f"orch status {result.sweep_id}")
    report = wait_for(tmp_path, result.sweep_id, poll_s=0.5, timeout_s=90)
    assert [r.status for r in report.runs] == ["completed"] * 3, [r.error for r in report.runs]
    # the trainer marks the run completed a moment before its job closes the attempt: wait for the last one's end
    attempts = wait_until(
        lambda: (
            all(a.end for r in result.runs for a in load_run_manifest(r["run_dir"]).attempts)
            and [a for r in result.runs for a in load_run_manifest(r["run_dir"]).attempts]
        ),
        timeout=30,
        what="every attempt closed",
    )
    spans = sorted((_t(a.start), _t(a.end)) for a in attempts)  # type: ignore[attr-defined]
    assert all(later[0] >= earlier[1] - 1 for earlier, later in itertools.pairwise(spans))  # one at a time
    assert report.groups[0].n == 3 and report.groups[0].mean == pytest.approx(0.31)


def test_invalid_config_queues_nothing(tmp_path: Path, make_toy_config, toy_resolver) -> None:
    good, bad = make_toy_config(total_steps=2), make_toy_config(total_steps="many", colour="red")
    with pytest.raises(ConfigError) as info:
        submit([good, bad], root=tmp_path, resolver=toy_resolver, grid=["step_sleep_s=0,0.1"])
    keys = sorted(i.key_path for i in info.value.issues)
    assert keys == ["colour", "total_steps"]  # every issue, once, though two grid points hit it
    assert not (tmp_path / "runs").exists()


def test_dry_run_writes_nothing_and_shows_the_plan(tmp_path: Path, make_toy_config, toy_resolver) -> None:
    config = make_toy_config(seeds=[1, 2])
    result = submit(
        [config],
        root=tmp_path,
        resolver=toy_resolver,
        grid=["total_steps=2,3"],
        dry_run=True,
        profile=load_cluster("localslurm"),
    )
    assert len(result.runs) == 4 and result.arrays == 1 and "#SBATCH --array=0-3%2" in (result.script or "")
    assert sorted({(r["seed"], r["settings"]["total_steps"]) for r in result.resolved}) == [
        (1, 2),
        (1, 3),
        (2, 2),
        (2, 3),
    ]
    assert len({r["config_hash"] for r in result.resolved}) == 2  # one hash per grid point, shared by seeds
    assert not (tmp_path / "runs").exists() and not (tmp_path / ".jobs").exists()


def test_second_identical_submission_refused_unless_forced(weird_tmp_path: Path, make_toy_config, toy_resolver) -> None:
    config = make_toy_config(weird_tmp_path, total_steps=1)
    first = submit([config], root=weird_tmp_path, resolver=toy_resolver)
    with pytest.raises(LaunchError, match=r"submitted already .*--force"):
        submit([config], root=weird_tmp_path, resolver=toy_resolver)
    other = submit([config], root=weird_tmp_path, resolver=toy_resolver, overrides=["total_steps=2"])
    forced = submit([config], root=weird_tmp_path, resolver=toy_resolver, force=True)
    for result in (first, other, forced):
        report = wait_for(weird_tmp_path, result.sweep_id, poll_s=0.5, timeout_s=60)
        assert report.runs[0].status == "completed", report.runs[0].error
    assert len(list((weird_tmp_path / "runs").iterdir())) == 3


def test_cancel_a_local_run(tmp_path: Path, make_toy_config, toy_resolver) -> None:
    config = make_toy_config(total_steps=5, hang_at_step=1)
    result = submit([config], root=tmp_path, resolver=toy_resolver)
    run_dir = Path(result.runs[0]["run_dir"])
    wait_until(lambda: (run_dir / "metrics.jsonl").exists(), 60, what="the first step")
    targets, ended = plan_cancel(resolve_runs(tmp_path, [result.sweep_id]))
    assert [t.run_id for t in targets] == [result.runs[0]["run_id"]] and ended == []
    assert cancel_runs(targets).cancelled == [result.runs[0]["run_id"]]
    wait_until(
        lambda: (
            collect_status(tmp_path, result.sweep_id).runs[0].scheduler_state == "EXITED"
            and not _alive(result.runs[0]["job_id"])
        ),
        30,
        what="the process to stop",
    )
    row = collect_status(tmp_path, result.sweep_id).runs[0]
    assert row.status == "cancelled" and load_run_manifest(run_dir).status == "cancelled"


def _alive(pid: str) -> bool:
    from orchestrator.launch.local import process_alive

    return process_alive(int(pid), controller=True)
