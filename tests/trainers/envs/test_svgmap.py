from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from tests.trainers.envs.conftest import SIMPLE_BODY, write_svg
from trainers.envs.crowdnav.mapdef import MapError
from trainers.envs.crowdnav.svgmap import load_svg_map


def test_simple_map_elements(simple_map: Path) -> None:
    m = load_svg_map(simple_map)
    assert (m.width, m.height) == (20.0, 10.0)
    assert len(m.obstacles) == 4 and m.segments.shape == (16 + 4, 4)  # the map's four edges too
    assert [r.label for r in m.robot_routes] == ["robot_route_0_0"]
    np.testing.assert_allclose(m.robot_routes[0].waypoints, [[5, 5], [15, 5]])
    np.testing.assert_allclose(m.ped_routes[0].waypoints, [[10, 3], [10, 7]])  # V command
    assert m.robot_spawn_zones[0].center.tolist() == [3.0, 5.0]
    assert len(m.ped_spawn_zones) == len(m.ped_goal_zones) == 1


@pytest.mark.parametrize(
    ("d", "expected_end"),
    [
        ("M 1,1 L 4,1 L 4,5", (4, 5)),
        ("m 1,1 l 3,0 l 0,4", (4, 5)),
        ("M 1,1 H 4 V 5", (4, 5)),
        ("m 1,1 h 3 v 4", (4, 5)),
        ("M 1,1 C 2,1 3,2 4,5", (4, 5)),
        ("m 1,1 c 1,0 2,1 3,4", (4, 5)),
        ("M 1,1 Q 4,1 4,5", (4, 5)),
        ("m 1,1 q 3,0 3,4", (4, 5)),
        ("M 1,1 A 3,4 0 0,1 4,5", (4, 5)),
        ("m 1,1 a 3,4 0 0,1 3,4", (4, 5)),
        ("M 1 1 4 1 4 5", (4, 5)),  # implicit lineto after moveto
        ("M 1,1 S 3,2 4,5", (4, 5)),
        ("m 1,1 t 3,4", (4, 5)),
    ],
    ids=["L", "l", "HV", "hv", "C", "c", "Q", "q", "A", "a", "implicit", "S", "t"],
)
def test_route_path_commands(tmp_path: Path, d: str, expected_end: tuple[float, float]) -> None:
    body = f'<path d="{d}" inkscape:label="robot_route_0_0"/>'
    m = load_svg_map(write_svg(tmp_path, "r.svg", body, w=10, h=10))
    wps = m.robot_routes[0].waypoints
    np.testing.assert_allclose(wps[0], [1, 1], atol=1e-6)
    np.testing.assert_allclose(wps[-1], expected_end, atol=1e-6)
    if any(c in d for c in "CcQqAaSs"):
        assert len(wps) > 3  # curves are sampled, not replaced by their end point


def test_obstacle_path_polygon_and_viewbox_scale(tmp_path: Path) -> None:
    # viewBox is twice the size in user units: coordinates are scaled to metres (width/height).
    body = (
        '<path d="M 4,4 l 8,0 l 0,8 z" inkscape:label="obstacle"/>'
        '<path d="M 2,2 L 18,2" inkscape:label="robot_route_0_0"/>'
        '<circle cx="10" cy="16" r="1" inkscape:label="single_ped_p1_start"/>'
        '<circle cx="14" cy="16" r="1" inkscape:label="poi_exit"/>'
    )
    m = load_svg_map(write_svg(tmp_path, "s.svg", body, w=10, h=10, vw=20, vh=20))
    np.testing.assert_allclose(m.obstacles[0], [[2, 2], [6, 2], [6, 6]])
    assert m.inside_obstacle(np.array([[5.0, 3.0], [3.0, 5.0]])).tolist() == [True, False]
    np.testing.assert_allclose(m.single_ped_points["p1_start"], [5, 8])
    np.testing.assert_allclose(m.pois["poi_exit"], [7, 8])


def test_map_without_robot_route_is_an_error(tmp_path: Path) -> None:
    body = SIMPLE_BODY.replace('inkscape:label="robot_route_0_0"', 'inkscape:label="a_path"')
    with pytest.raises(MapError, match=r"no robot route.*robot_route_<spawn>_<goal>"):
        load_svg_map(write_svg(tmp_path, "x.svg", body))


def test_unreadable_geometry_names_the_element(tmp_path: Path) -> None:
    body = SIMPLE_BODY + '<path id="bad7" d="M 1,1" inkscape:label="obstacle"/>'
    with pytest.raises(MapError, match=r"bad7.*obstacle"):
        load_svg_map(write_svg(tmp_path, "x.svg", body))


def test_route_naming_a_missing_zone_is_an_error(tmp_path: Path) -> None:
    body = SIMPLE_BODY + '<path d="M 5,5 L 15,5" inkscape:label="robot_route_0_3"/>'
    with pytest.raises(MapError, match=r"robot_route_0_3.*robot_goal_zone 3"):
        load_svg_map(write_svg(tmp_path, "x.svg", body))


def test_reference_maps_parse(reference_dir: Path) -> None:
    maps = sorted((reference_dir / "maps" / "svg_maps").rglob("*.svg"))
    assert len(maps) >= 4
    for path in maps:
        m = load_svg_map(path)
        assert m.robot_routes and m.obstacles, path
    francis = load_svg_map(reference_dir / "maps/svg_maps/francis2023/francis2023_down_path.svg")
    assert set(francis.single_ped_points) == {"h1_start", "h1_goal"}


def test_rasterize_marks_walls(simple_map: Path) -> None:
    raster = load_svg_map(simple_map).rasterize(0.5)
    assert raster.shape == (20, 40)
    assert raster[0].all() and raster[-1].all() and raster[:, 0].all()
    assert raster[10, 20] == 0.0


def test_overlapping_obstacles_stay_occupied(tmp_path: Path) -> None:
    body = (
        '<rect x="0" y="0" width="10" height="1" inkscape:label="obstacle"/>'
        '<rect x="0" y="0" width="1" height="10" inkscape:label="obstacle"/>'
        '<path d="M 2,5 L 8,5" inkscape:label="robot_route_0_0"/>'
    )
    m = load_svg_map(write_svg(tmp_path, "o.svg", body, w=10, h=10))
    assert m.inside_obstacle(np.array([[0.5, 0.5]]))[0]  # inside both walls: still inside
    assert m.rasterize(0.5)[0, 0] == 1.0


def test_shipped_maps_have_routes_clear_of_obstacles() -> None:
    maps = sorted((Path(__file__).resolve().parents[3] / "configs" / "maps").glob("*.svg"))
    assert len(maps) >= 9
    for path in maps:
        m = load_svg_map(path)
        for route in m.robot_routes + m.ped_routes:
            w = route.waypoints
            t = np.linspace(0, 1, 25)[:, None]
            dense = np.concatenate([a + t * (b - a) for a, b in itertools.pairwise(w)])
            assert not m.inside_obstacle(dense).any(), f"{path.name}: {route.label} crosses an obstacle"
        zones = m.robot_spawn_zones + m.robot_goal_zones + m.ped_spawn_zones + m.ped_goal_zones
        centers = np.array([z.center for z in zones])
        assert not m.inside_obstacle(centers).any(), f"{path.name}: a zone centre lies inside an obstacle"
