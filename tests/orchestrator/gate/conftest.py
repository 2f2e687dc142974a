"""Fixtures for the gate tests: hand-written run directories (see rundirs.py) and a private baselines folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from rundirs import full_run, ppo_run_records, standing_still_run, write_run


@pytest.fixture
def baselines_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Baselines go to a temporary folder, never into the repository's baselines/."""
    folder = tmp_path / "baselines"
    monkeypatch.setenv("ORCH_BASELINES_DIR", str(folder))
    return folder


@pytest.fixture
def standing_still_sweep(tmp_path: Path) -> Path:
    """Three seeds of one standing-still config under ``<tmp>/base/runs``."""
    root = tmp_path / "base"
    for seed in (0, 1, 2):
        standing_still_run(root, seed)
    return root


@pytest.fixture
def ppo_sweep(tmp_path: Path) -> Path:
    root = tmp_path / "ppo_base"
    for seed in (0, 1, 2):
        metrics, episodes = ppo_run_records(seed)
        write_run(
            root, "ppo", trainer="ppo_expert", seed=seed, config_hash="feed" * 6, metrics=metrics, episodes=episodes
        )
    return root


@pytest.fixture
def full_sweep(tmp_path: Path) -> Path:
    root = tmp_path / "full_base"
    for seed in (0, 1):
        full_run(root, seed)
    return root
