"""Fixtures of the study tests: a tiny PPO config to study, study files, and an in-process CLI."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from study_helpers import REPO_ROOT, write_tiny_ppo

from orchestrator.cli import main

if str(REPO_ROOT) not in sys.path:  # the launch tests' helpers (tests.orchestrator.launch.launch_helpers)
    sys.path.insert(0, str(REPO_ROOT))


@pytest.fixture
def tiny_ppo(tmp_path: Path) -> Path:
    """The PPO smoke config made tinier: one env on the small open room, 128-step rollouts, one evaluation episode
    (a trial of 512 steps trains in seconds)."""
    path = tmp_path / "tiny_ppo.yaml"
    write_tiny_ppo(path)
    return path


@pytest.fixture
def write_study(tmp_path: Path) -> Callable[..., Path]:
    """Write a study file over ``base`` with the given study keys; returns its path."""

    def write(base: Path, name: str = "study", **keys: Any) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"base_config": str(base), "study_name": name, **keys}, sort_keys=False))
        return path

    return write


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``orch ARGS`` in process; returns (exit code, stdout, stderr)."""

    def run(*args: object) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    """Skip (with the reason) where there is no Slurm; in CI (CI=true) a missing cluster is a failure."""
    from tests.orchestrator.launch.launch_helpers import slurm_problem

    problem = slurm_problem()
    if problem is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but the local Slurm cluster is unusable: {problem}")
    pytest.skip(problem)
