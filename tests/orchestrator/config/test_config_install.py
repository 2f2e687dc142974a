"""`pip install .` into a fresh venv, then `orch validate` from another folder finds the schemas as package data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SOURCES = ("pyproject.toml", "README.md", "orchestrator", "trainers", "manifests", "schemas", "configs")


def test_installed_package_validates_from_another_folder(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in SOURCES:  # a copy, so the build writes nothing into the checkout
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(REPO / name, source / name)
    venv = tmp_path / "venv"
    # --without-pip: the system pip and setuptools (no download) install into the venv; ensurepip's old setuptools
    # would shadow them and fail without the `wheel` package
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True, timeout=120
    )
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", str(source)],
        check=True,
        timeout=300,
        env=env,
        capture_output=True,
    )
    shutil.rmtree(source)  # nothing may come from the source tree any more
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = elsewhere / "c.yaml"
    # a map shipped with the package (share/orch/configs/maps): the env would build, so it validates
    (elsewhere / "scen.yaml").write_text("scenarios:\n  - name: s\n    map_id: crossing\n")
    config.write_text(
        "trainer: ppo_expert\npolicy_id: p\nscenario_config: scen.yaml\ntotal_timesteps: 100\n"
        "env_overrides: {observation_mode: socnav_struct, use_occupancy_grid: true,"
        " include_grid_in_observation: true}\n"
    )
    where = subprocess.run(
        [str(python), "-c", "import schemas, orchestrator; print(schemas.__file__); print(orchestrator.__file__)"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    assert all(line.startswith(str(venv)) for line in where.stdout.split()), where.stdout
    proc = subprocess.run(
        [str(venv / "bin" / "orch"), "validate", "--json", "c.yaml"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"valid": true' in proc.stdout
    bad = subprocess.run(
        [str(venv / "bin" / "orch"), "validate", "c.yaml", "--set", "total_timestep=1"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert bad.returncode == 2 and "did you mean 'total_timesteps'" in bad.stderr
