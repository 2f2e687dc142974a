"""The Run and Inspect commands through the CLI: exit codes, one-line messages, JSON shapes.

The toy trainer's configs are resolved by its own resolver: the one patched side effect is which resolver
``orch run``/``orch submit`` use (the real one knows only the real trainers).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from manifests import load_run_manifest
from orchestrator.cli import main


@pytest.fixture(autouse=True)
def _toy_resolution(monkeypatch: pytest.MonkeyPatch, toy_resolver) -> None:
    import orchestrator.launch.submit as submit_module

    monkeypatch.setattr(submit_module, "_default_resolver", lambda: toy_resolver)


Orch = Callable[..., tuple[int, str, str]]


@pytest.fixture
def orch(capfd: pytest.CaptureFixture[str]) -> Orch:
    """``orch ARGS`` through :func:`orchestrator.cli.main`, the console script's own function: the exit code it
    returns (errors mapped by main, not by this helper) and what it printed."""

    def invoke(*args: str) -> tuple[int, str, str]:
        capfd.readouterr()
        code = main(list(args))
        out, err = capfd.readouterr()
        return code, out, err

    return invoke


def test_run_then_status_and_logs(orch: Orch, tmp_path: Path, make_toy_config) -> None:
    config = make_toy_config(seeds=[4, 5], total_steps=3)
    code, out, _ = orch("run", str(config), "--artifact-root", str(tmp_path), "--set", "total_steps=2")
    assert code == 0 and ": completed ->" in out
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.endswith("-s4") and load_run_manifest(run_dir).progress["total_steps"] == 2
    code, out, _ = orch("status", "--json", "--artifact-root", str(tmp_path))
    doc = json.loads(out)
    assert code == 0 and doc["schema_version"] == 1 and doc["runs"][0]["status"] == "completed"
    code, out, _ = orch("status", "--artifact-root", str(tmp_path))
    assert code == 0 and run_dir.name in out and "completed" in out
    code, out, _ = orch("logs", run_dir.name, "--artifact-root", str(tmp_path))
    assert code == 0 and "toy: step 2" in out
    code, _, err = orch("logs", run_dir.name, "--attempt", "3", "--artifact-root", str(tmp_path))
    assert code == 2 and "has 1 attempt(s)" in err
    code, out, _ = orch("cancel", run_dir.name, "--artifact-root", str(tmp_path))
    assert code == 0 and "nothing to cancel" in out


def test_run_seed_option(orch: Orch, tmp_path: Path, make_toy_config) -> None:
    config = make_toy_config(seeds=[4, 5], total_steps=1)
    assert orch("run", str(config), "--seed", "5", "--artifact-root", str(tmp_path))[0] == 0
    assert [p.name[-3:] for p in (tmp_path / "runs").iterdir()] == ["-s5"]


def test_failed_run_exits_3_and_resume_finishes_it(orch: Orch, tmp_path: Path, make_toy_config) -> None:
    config = make_toy_config(total_steps=4, fail_at_step=2)
    code, _, err = orch("run", str(config), "--artifact-root", str(tmp_path))
    assert code == 3 and "error: RuntimeError: toy failure at step 2" in err
    (run_dir,) = (tmp_path / "runs").iterdir()
    resolved = json.loads((run_dir / "resolved.json").read_text())
    resolved["settings"]["fail_at_step"] = None  # "fix the bug", then resume
    (run_dir / "resolved.json").write_text(json.dumps(resolved))
    code, out, _ = orch("run", "--resume", str(run_dir))
    assert code == 0 and "completed" in out
    manifest = load_run_manifest(run_dir)
    assert [a.state for a in manifest.attempts] == ["failed", "completed"]
    code, out, _ = orch("logs", str(run_dir), "--attempt", "2")
    assert "start at step 2 of 4 (resume=True" in out
    assert orch("run", "--resume", str(run_dir))[0] == 2  # completed: nothing to resume


def test_run_needs_config_or_resume(orch: Orch) -> None:
    assert orch("run")[0] == 2


def test_dry_run_never_touches_the_artifact_root(orch: Orch, tmp_path: Path, make_toy_config) -> None:
    config = make_toy_config(total_steps=5)
    code, out, _ = orch("run", str(config), "--dry-run", "--artifact-root", str(tmp_path / "real"))
    assert code == 0 and "(dry run, temporary artifact root)" in out
    assert not (tmp_path / "real").exists()
    run_dir = Path(out.strip().rsplit("-> ", 1)[1])
    manifest = load_run_manifest(run_dir)
    assert manifest.dry_run and manifest.progress["total_steps"] == 2  # the toy's dry run: two steps


def test_submit_dry_run_prints_script_and_resolved(orch: Orch, tmp_path: Path, make_toy_config) -> None:
    config = make_toy_config(seeds=[0, 1, 2], total_steps=2)
    code, out, _ = orch(
        "submit",
        str(config),
        "--cluster",
        "localslurm",
        "--dry-run",
        "--artifact-root",
        str(tmp_path),
        "--set",
        "cluster.array_parallelism=3",
    )
    assert code == 0 and "#SBATCH --array=0-2%3" in out and "#SBATCH --partition=debug" in out
    assert '"trainer": "toy"' in out and "nothing queued" in out
    assert not (tmp_path / "runs").exists()


def test_submit_unknown_cluster_key(orch: Orch, tmp_path: Path, make_toy_config) -> None:
    code, _, err = orch("submit", str(make_toy_config()), "--set", "cluster.partion=x", "--dry-run")
    assert code == 2 and "unknown key(s) partion" in err and "partition (default: None)" in err


def test_status_unknown_run(orch: Orch, tmp_path: Path) -> None:
    code, _, err = orch("status", "nope", "--artifact-root", str(tmp_path))
    assert code == 2 and "no run or sweep 'nope'" in err


def test_submit_wait_exit_codes(orch: Orch, tmp_path: Path, make_toy_config) -> None:
    good, bad = make_toy_config(total_steps=1), make_toy_config(total_steps=2, fail_at_step=1)
    code, out, _ = orch("submit", str(good), "--wait", "--artifact-root", str(tmp_path))
    assert code == 0 and "submitted 1 run(s)" in out and "next: orch status" in out
    code, _, err = orch("submit", str(bad), "--wait", "--artifact-root", str(tmp_path))
    assert code == 3 and "failed 1" in err
    code, out, _ = orch("submit", str(good), "--json", "--artifact-root", str(tmp_path))
    assert code == 2  # the same run again: refused without --force
