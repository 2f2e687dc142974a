"""``orch env check`` and ``orch env preview`` on both backends, over every shared scenario file and both contracts.

The robot_sf rows skip, saying why, where Robot SF is not installed; all skip where ../shared is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app, main
from trainers.envs.robot_sf import robot_sf_available

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()
NEEDS_ROBOT_SF = pytest.mark.skipif(
    not robot_sf_available(), reason="Robot SF is not installed (../shared/vendor/install-robot-sf.sh installs it)"
)


def _shared_files(reference_dir: Path) -> list[Path]:
    shared = sorted((reference_dir / "configs" / "scenarios").rglob("*.yaml"))
    return [*shared, REPO / "configs/scenarios/crowdnav_matrix.yaml"]


@pytest.mark.parametrize("backend", ["embedded", pytest.param("robot_sf", marks=NEEDS_ROBOT_SF)])
@pytest.mark.parametrize("contract", ["socnav_grid", "drive_state_rays"])
def test_env_check_passes_on_every_shared_file(reference_dir: Path, backend: str, contract: str) -> None:
    for path in _shared_files(reference_dir):
        args = ["env", "check", str(path), "--steps", "10", "--contract", contract, "--backend", backend, "--json"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (path.name, result.output[-2000:])
        doc = json.loads(result.output)
        assert doc["ok"] and all(row["space_ok"] and row["steps"] == 10 for row in doc["scenarios"]), path.name


@NEEDS_ROBOT_SF
def test_env_preview_on_robot_sf(reference_dir: Path, tmp_path: Path) -> None:
    path = reference_dir / "configs/scenarios/single/francis2023_join_group.yaml"
    out = tmp_path / "join.png"
    result = runner.invoke(app, ["env", "preview", str(path), "--backend", "robot_sf", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000


def test_unknown_backend_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env", "check", str(REPO / "configs/scenarios/crowdnav_matrix.yaml"), "--backend", "gazebo"]) == 2
    assert "--backend gazebo: 'gazebo' is not one of embedded, robot_sf" in capsys.readouterr().err


def test_robot_sf_backend_without_robot_sf_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import trainers.envs.robot_sf.imports as imports

    monkeypatch.setattr(imports, "robot_sf_available", lambda: False)
    matrix = str(REPO / "configs/scenarios/crowdnav_matrix.yaml")
    assert main(["env", "preview", matrix, "--backend", "robot_sf", "--out", "x.png"]) == 2
    err = capsys.readouterr().err
    assert "Robot SF is not installed" in err and "install-robot-sf.sh" in err and len(err.strip().splitlines()) == 1
