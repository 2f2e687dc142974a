"""Shared helpers for the env tests: tiny SVG maps and scenario files written into tmp folders."""

from __future__ import annotations

from pathlib import Path

import pytest

SVG_HEAD = (
    '<svg width="{w}" height="{h}" viewBox="0 0 {vw} {vh}" xmlns="http://www.w3.org/2000/svg" '
    'xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape">'
)

SIMPLE_BODY = """
<rect x="0" y="0" width="20" height="1" inkscape:label="obstacle"/>
<rect x="0" y="9" width="20" height="1" inkscape:label="obstacle"/>
<rect x="0" y="0" width="1" height="10" inkscape:label="obstacle"/>
<rect x="19" y="0" width="1" height="10" inkscape:label="obstacle"/>
<rect x="2" y="4" width="2" height="2" inkscape:label="robot_spawn_zone"/>
<rect x="16" y="4" width="2" height="2" inkscape:label="robot_goal_zone"/>
<path d="M 5,5 L 15,5" inkscape:label="robot_route_0_0"/>
<rect x="9" y="1.5" width="2" height="1" inkscape:label="ped_spawn_zone"/>
<rect x="9" y="7.5" width="2" height="1" inkscape:label="ped_goal_zone"/>
<path d="M 10,3 V 7" inkscape:label="ped_route_0_0"/>
"""


def write_svg(
    folder: Path, name: str, body: str, w: float = 20, h: float = 10, vw: float | None = None, vh: float | None = None
) -> Path:
    path = folder / name
    head = SVG_HEAD.format(w=w, h=h, vw=vw if vw is not None else w, vh=vh if vh is not None else h)
    path.write_text(head + body + "</svg>\n", encoding="utf-8")
    return path


@pytest.fixture
def simple_map(tmp_path: Path) -> Path:
    return write_svg(tmp_path, "simple.svg", SIMPLE_BODY)


@pytest.fixture
def simple_matrix(tmp_path: Path, simple_map: Path) -> Path:
    path = tmp_path / "matrix.yaml"
    path.write_text(
        "scenarios:\n"
        "- {name: simple_low, map_file: simple.svg, simulation_config: {max_episode_steps: 60, ped_density: 0.2}}\n"
        "- {name: simple_high, map_file: simple.svg, simulation_config: {max_episode_steps: 60, ped_density: 0.5}}\n"
        "- {name: simple_empty, map_file: simple.svg, simulation_config: {max_episode_steps: 60, ped_density: 0.0}}\n",
        encoding="utf-8",
    )
    return path
