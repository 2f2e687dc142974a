"""--grid and --sweep expansion."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.errors import LaunchError
from orchestrator.launch.sweep import expand_grid, grid_overrides, load_sweep_file, parse_grid_option


def test_grid_product_and_yaml_values() -> None:
    grid = parse_grid_option(["lr=1e-4,3e-4", "arch=[64,64],[128, 128]", "name='a,b',c"])
    assert grid == {"lr": [1e-4, 3e-4], "arch": [[64, 64], [128, 128]], "name": ["a,b", "c"]}
    points = expand_grid(grid)
    assert len(points) == 8 and points[0] == {"lr": 1e-4, "arch": [64, 64], "name": "a,b"}


def test_overrides_round_trip_through_yaml() -> None:
    point = {"a.b": [1, 2], "c": "text", "d": None, "e": True}
    overrides = grid_overrides(point)
    assert {o.partition("=")[0]: yaml.safe_load(o.partition("=")[2]) for o in overrides} == point


def test_sweep_file_grid_times_points(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"grid": {"x": [1, 2]}, "points": [{"y": "a"}, {"y": "b", "z": 0}]}))
    assert load_sweep_file(path) == [
        {"y": "a", "x": 1},
        {"y": "a", "x": 2},
        {"y": "b", "z": 0, "x": 1},
        {"y": "b", "z": 0, "x": 2},
    ]


@pytest.mark.parametrize(
    "items",
    [["novalue"], ["k="], ["k=1,,2"], ["cluster.partition=a,b"], ["k=1", "k=2"]],
    ids=["no-equals", "empty", "empty-item", "cluster-key", "twice"],
)
def test_bad_grid(items: list[str]) -> None:
    with pytest.raises(LaunchError, match="--grid"):
        parse_grid_option(items)


@pytest.mark.parametrize(
    "content",
    ["[1, 2]", "grid: {x: 3}", "points: [1]", "other: 1", "grid: {x: []}"],
    ids=["list", "scalar-values", "point-not-mapping", "unknown-key", "empty-values"],
)
def test_bad_sweep_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(content)
    with pytest.raises(LaunchError, match="--sweep"):
        load_sweep_file(path)


def test_missing_sweep_file(tmp_path: Path) -> None:
    with pytest.raises(LaunchError, match="file not found"):
        load_sweep_file(tmp_path / "none.yaml")
