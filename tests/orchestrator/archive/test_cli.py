"""`orch archive` on the command line: exit codes, one-line errors, the create shorthand, and no heavy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from archive_helpers import make_run

from orchestrator.cli import main


def _errors(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_archive_verify_list_restore(run_dir: Path, weird_tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = weird_tmp_path / "dest"
    root = run_dir.parent.parent
    # `orch archive RUN_ID` is `orch archive create RUN_ID`; the run id is found under --artifact-root
    assert main(["archive", run_dir.name, "--dest", str(dest), "--artifact-root", str(root), "--level", "5"]) == 0
    out = capsys.readouterr().out
    assert f"archived {run_dir.name} -> " in out and "left out" in out
    archive = dest / f"{run_dir.name}.tar.zst"
    assert main(["archive", "verify", str(archive)]) == 0
    assert capsys.readouterr().out.startswith(f"ok {archive}")
    assert main(["archive", "list", str(dest), "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["run_id"], row["trainer"], row["status"]) == (run_dir.name, "ppo_expert", "completed")
    assert row["best_metric"] == "eval_episode_return=2 @10"
    assert main(["archive", "restore", str(archive), "--into", str(weird_tmp_path / "back")]) == 0
    assert (weird_tmp_path / "back" / run_dir.name / "run.json").is_file()
    capsys.readouterr()
    assert main(["archive", "restore", str(archive), "--into", str(weird_tmp_path / "back")]) == 2
    [line] = _errors(capsys)
    assert line.startswith("error: ") and "already exists" in line and "--force" in line


def test_explicit_create_with_env_artifact_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path / "root" / "runs", "r-1", sweep_id="sw", big=16)
    monkeypatch.setenv("ORCH_ARTIFACT_ROOT", str(tmp_path / "root"))
    assert main(["archive", "create", "sw", "--dest", str(tmp_path / "d"), "--checkpoints", "none", "--json"]) == 0
    [result] = json.loads(capsys.readouterr().out)
    assert result["run_id"] == run.name and Path(result["archive"]).is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["archive", "no-such-run", "--dest", "{tmp}/d"], "no run or sweep 'no-such-run' under"),
        (["archive", "{running}", "--dest", "{tmp}/d"], "is running: wait until it ends, or pass --allow-running"),
        (["archive", "verify", "{tmp}/missing.tar.zst"], "missing.tar.zst: no such archive file"),
        (["archive", "list", "{tmp}/nowhere"], "nowhere: no such folder"),
    ],
    ids=["nonexistent-run", "running-run", "missing-archive", "missing-folder"],
)
def test_errors_are_one_line_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    running = make_run(tmp_path / "runs", "busy", status="running", big=16)
    argv = [a.format(tmp=tmp_path, running=running) for a in args]
    assert main(argv) == 2
    [line] = _errors(capsys)
    assert line.startswith("error: ") and message in line


def test_verify_of_damaged_archive_exits_3(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["archive", str(run_dir), "--dest", str(tmp_path), "--checkpoints", "best"]) == 0
    archive = tmp_path / f"{run_dir.name}.tar.zst"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["archive", "verify", str(archive)]) == 3
    lines = _errors(capsys)
    assert lines and all(line.startswith(f"error: {archive}: ") for line in lines)


def test_bad_checkpoints_mode_is_a_usage_error(run_dir: Path, tmp_path: Path) -> None:
    assert main(["archive", str(run_dir), "--dest", str(tmp_path), "--checkpoints", "some"]) == 2


def test_orch_archive_imports_no_heavy_module(run_dir: Path, tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from orchestrator.cli import main\n"
        "run, d, name = sys.argv[1:4]\n"
        "codes = [main(['archive', run, '--dest', d]), main(['archive', 'verify', d + '/' + name]),\n"
        "         main(['archive', 'list', d]), main(['archive', 'restore', d + '/' + name, '--into', d + '/r'])]\n"
        "heavy = ('torch', 'stable_baselines3', 'gymnasium', 'wandb', 'tensorboard')\n"
        "print('RESULT', codes, sorted(m for m in heavy if m in sys.modules))\n"
    )
    archive = f"{run_dir.name}.tar.zst"
    proc = subprocess.run(
        [sys.executable, "-c", script, str(run_dir), str(tmp_path / "d"), archive],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "RESULT [0, 0, 0, 0] []" in proc.stdout, proc.stdout + proc.stderr


def test_progress_bar_only_on_a_terminal(run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from rich.console import Console

    import orchestrator.console as console

    for terminal in (True, False):
        screen = io.StringIO()
        monkeypatch.setattr(console, "err_console", Console(file=screen, force_terminal=terminal, width=120))
        dest = tmp_path / f"d-{terminal}"
        assert main(["archive", str(run_dir), "--dest", str(dest), "--checkpoints", "none"]) == 0
        assert main(["archive", "verify", str(dest / f"{run_dir.name}.tar.zst")]) == 0
        drawn = screen.getvalue()
        assert (run_dir.name in drawn) is terminal and ("tar.zst" in drawn) is terminal
