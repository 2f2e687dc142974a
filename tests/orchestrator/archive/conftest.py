"""Fixtures of the archive tests; the builders live in archive_helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from archive_helpers import make_run


@pytest.fixture
def run_dir(weird_tmp_path: Path) -> Path:
    """A completed run under ``<weird root>/runs/``."""
    return make_run(weird_tmp_path / "root" / "runs")
