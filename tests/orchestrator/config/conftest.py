"""Fixtures of the config tests: a folder with a scenario matrix, and an in-process CLI runner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from config_helpers import SCENARIO_TEXT

from orchestrator.cli import main


@pytest.fixture
def scenario_dir(tmp_path: Path) -> Path:
    """A folder holding scen.yaml (a one-scenario matrix) for configs to point at."""
    (tmp_path / "scen.yaml").write_text(SCENARIO_TEXT)
    return tmp_path


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``orch ARGS`` in process; returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
