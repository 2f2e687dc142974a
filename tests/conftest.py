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


# The two matrices Robot SF's configs name but the reference folder lacks (its README, section 8), rebuilt from the
# files it has: every archetype and single-pedestrian file, plus stand-ins (on maps that are present) for the
# scenarios the configs hold out. A test copies the tree, so relative paths in the configs resolve as upstream.
_HELD_OUT_STAND_INS = {
    "classic_bottleneck_low": "classic_doorway.svg",
    "classic_bottleneck_medium": "classic_doorway.svg",
    "classic_bottleneck_high": "classic_doorway.svg",
    "classic_group_crossing_low": "classic_crossing.svg",
    "classic_group_crossing_medium": "classic_crossing.svg",
}
_FRANCIS_STAND_INS = {
    "francis2023_crowd_navigation": "francis2023/francis2023_down_path.svg",
    "francis2023_intersection_wait": "francis2023/francis2023_down_path.svg",
    "francis2023_blind_corner": "francis2023/francis2023_down_path.svg",
    "francis2023_narrow_doorway": "francis2023/francis2023_join_group.svg",
}


def _stand_ins(names: dict[str, str]) -> str:
    return "".join(
        f"  - name: {name}\n    map_file: ../../maps/svg_maps/{svg}\n"
        f"    simulation_config: {{max_episode_steps: 300, ped_density: 0.02}}\n"
        for name, svg in names.items()
    )


@pytest.fixture
def reference_tree(reference_dir: Path, tmp_path: Path) -> Path:
    """A copy of Robot SF's reference files with classic_interactions(_francis2023).yaml present; returns its root."""
    import shutil

    root = tmp_path / "robot_sf"
    shutil.copytree(reference_dir / "configs", root / "configs")
    shutil.copytree(reference_dir / "maps", root / "maps")
    scenarios = root / "configs" / "scenarios"
    archetypes = sorted(p.relative_to(scenarios).as_posix() for p in (scenarios / "archetypes").glob("*.yaml"))
    singles = sorted(p.relative_to(scenarios).as_posix() for p in (scenarios / "single").glob("*.yaml"))
    (scenarios / "classic_interactions.yaml").write_text(
        f"includes: {archetypes}\nscenarios:\n{_stand_ins(_HELD_OUT_STAND_INS)}", encoding="utf-8"
    )
    (scenarios / "classic_interactions_francis2023.yaml").write_text(
        f"includes: {['classic_interactions.yaml', *singles]}\nscenarios:\n{_stand_ins(_FRANCIS_STAND_INS)}",
        encoding="utf-8",
    )
    return root
