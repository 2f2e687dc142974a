"""``orch env check`` and ``orch env preview`` through the real CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app, main

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _small_matrix(folder: Path, *, broken: bool = False) -> Path:
    maps = REPO / "configs" / "maps"
    text = (
        f"scenarios:\n- name: easy\n  map_file: {maps / 'easy_open.svg'}\n  simulation_config: {{ped_density: 0.05}}\n"
        f"- name: corridor\n  map_file: {maps / 'head_on_corridor.svg'}\n"
    )
    if broken:
        bad = folder / "bad.svg"
        bad.write_text('<svg width="5" height="5" xmlns="http://www.w3.org/2000/svg"></svg>', encoding="utf-8")
        text += f"- name: no_routes\n  map_file: {bad}\n"
    path = folder / "matrix.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_env_check_json_reports_every_scenario(weird_tmp_path: Path) -> None:
    result = runner.invoke(app, ["env", "check", str(_small_matrix(weird_tmp_path)), "--steps", "30", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["ok"] and [s["scenario"] for s in doc["scenarios"]] == ["easy", "corridor"]
    assert all(s["space_ok"] and s["steps"] == 30 and s["steps_per_s"] > 0 for s in doc["scenarios"])


@pytest.mark.parametrize("contract", ["drive_state_rays", "socnav_grid"])
def test_env_check_table_per_contract(tmp_path: Path, contract: str) -> None:
    result = runner.invoke(app, ["env", "check", str(_small_matrix(tmp_path)), "--steps", "5", "--contract", contract])
    assert result.exit_code == 0, result.output
    assert "easy" in result.output and "corridor" in result.output


def test_env_check_fails_on_a_broken_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["env", "check", str(_small_matrix(tmp_path, broken=True)), "--steps", "5", "--json"])
    out, err = capsys.readouterr()
    assert code == 3 and "error: scenario no_routes failed its check" in err
    doc = json.loads(out)
    bad = [s for s in doc["scenarios"] if not s["ok"]]
    assert [s["scenario"] for s in bad] == ["no_routes"] and "no robot route" in bad[0]["error"]


def test_env_check_missing_file_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["env", "check", str(tmp_path / "absent.yaml")])
    assert code == 2
    assert "scenario file not found" in capsys.readouterr().err


def test_env_check_bad_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env", "check", str(_small_matrix(tmp_path)), "--contract", "pixels"]) == 2
    assert "--contract 'pixels'" in capsys.readouterr().err


def test_env_preview_writes_png(weird_tmp_path: Path) -> None:
    out = weird_tmp_path / "preview.png"
    result = runner.invoke(
        app, ["env", "preview", str(_small_matrix(weird_tmp_path)), "--scenario", "corridor", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000


def test_env_cli_import_is_light() -> None:
    import subprocess

    code = (
        "import orchestrator.cli, orchestrator.envtools, sys; print('gymnasium' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_env_check_on_reference_matrices(reference_dir: Path) -> None:
    paths = sorted((reference_dir / "configs" / "scenarios").rglob("*.yaml"))
    assert paths, "the reference tree has no scenario matrices"
    for path in paths:
        result = runner.invoke(app, ["env", "check", str(path), "--steps", "10", "--json"])
        assert result.exit_code == 0, result.output
        assert all(s["ok"] for s in json.loads(result.output)["scenarios"])


def test_env_preview_unknown_scenario_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["env", "preview", str(_small_matrix(tmp_path)), "--scenario", "nope", "--out", str(tmp_path / "x.png")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown scenario name(s) ['nope']" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.png").exists()
