"""Session-wide test settings: a wide non-TTY console, offline W&B, and the shared/ folder when it exists."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
REFERENCE = SHARED / "reference" / "robot_sf"

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ["COLUMNS"] = "200"
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def reference_dir() -> Path:
    """Robot SF's real files (../shared/reference/robot_sf); skipped where shared/ is absent (a user's machine)."""
    if not REFERENCE.is_dir():
        pytest.skip(f"{REFERENCE} is absent: the shared reference files exist only in the dev/CI workspace")
    return REFERENCE


@pytest.fixture
def weird_tmp_path(tmp_path: Path) -> Path:
    """A temporary folder whose name has spaces, quotes and a semicolon, to catch unquoted paths."""
    path = tmp_path / "we ird'\"; dir"
    path.mkdir()
    return path
