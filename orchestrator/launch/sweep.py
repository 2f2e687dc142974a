"""Grid points of a submission: ``--grid key=v1,v2`` (repeatable, cartesian product) or ``--sweep FILE``.

A sweep file is YAML with ``grid:`` (key -> list of values, cartesian product) and/or ``points:`` (a list of
key -> value mappings, taken as they are); both together give every point of ``points`` crossed with the grid.
Each grid point becomes ``--set``-style overrides (values as JSON, which YAML reads back unchanged).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from orchestrator.errors import LaunchError

__all__ = ["MAX_GRID_POINTS", "GridPoint", "expand_grid", "grid_overrides", "load_sweep_file", "parse_grid_option"]

GridPoint = dict[str, Any]
# Points of one submission: every one is resolved and validated before anything is queued (about 2 ms each), and
# ``12 values ^ 7 keys`` would never finish; split a bigger study into several submissions.
MAX_GRID_POINTS = 10_000


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside brackets or quotes, so ``k=[1,2],[3,4]`` gives two values."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    current: list[str] = []
    for char in text:
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts]


def parse_grid_option(items: Iterable[str]) -> dict[str, list[Any]]:
    """``["a.b=1,2", "c=x,y"]`` -> ``{"a.b": [1, 2], "c": ["x", "y"]}`` (each value parsed as YAML, as ``--set``
    reads it: ``1e-4`` is a float, aliases within the budget)."""
    import yaml

    from orchestrator.config.yamlread import load_yaml

    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or not raw.strip():
            raise LaunchError(f"--grid {item!r}: expected KEY=V1,V2,... (e.g. --grid settings.learning_rate=1e-4,3e-4)")
        if key.startswith("cluster."):
            raise LaunchError(f"--grid {item!r}: cluster keys cannot vary inside one submission; submit twice")
        values = []
        for part in _split_top_level(raw):
            if not part:
                raise LaunchError(f"--grid {item!r}: empty value in the list")
            try:
                values.append(load_yaml(part))
            except yaml.YAMLError as exc:
                raise LaunchError(f"--grid {item!r}: value {part!r} is not valid YAML ({exc})") from None
        if key in grid:
            raise LaunchError(f"--grid names {key!r} twice; give all its values in one --grid")
        grid[key] = values
    return grid


def expand_grid(grid: Mapping[str, list[Any]], points: list[GridPoint] | None = None) -> list[GridPoint]:
    """Every point: ``points`` (or one empty point) crossed with the cartesian product of ``grid``. More than
    :data:`MAX_GRID_POINTS` is refused before any point is built."""
    base = points if points else [{}]
    keys = list(grid)
    sizes = [len(base), *(len(grid[k]) for k in keys)]
    total = math.prod(sizes)
    if total > MAX_GRID_POINTS:
        shape = " x ".join(str(n) for n in sizes if n != 1) or "1"
        raise LaunchError(
            f"the grid has {total:,} points ({shape}), more than {MAX_GRID_POINTS:,} per submission; "
            "sweep fewer values, or split it into several submissions"
        )
    combos = list(itertools.product(*(grid[k] for k in keys))) if keys else [()]
    out: list[GridPoint] = []
    for point in base:
        for combo in combos:
            out.append({**point, **dict(zip(keys, combo, strict=True))})
    return out


def load_sweep_file(path: str | Path) -> list[GridPoint]:
    """Read a sweep file into its grid points."""
    p = Path(path)
    data = _read_sweep(p)
    grid = data.get("grid") or {}
    points = data.get("points") or []
    _check_shape(p, grid, points)
    grid = {str(k): v for k, v in grid.items()}
    return expand_grid(grid, [{str(k): v for k, v in x.items()} for x in points])


def _check_shape(p: Path, grid: Any, points: Any) -> None:
    """``grid`` maps keys to non-empty lists, ``points`` is a list of mappings, and no key is a cluster key."""
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        raise LaunchError(f"--sweep {p}: 'grid' maps each key to a non-empty list of values")
    if not isinstance(points, list) or not all(isinstance(x, dict) for x in points):
        raise LaunchError(f"--sweep {p}: 'points' is a list of mappings (key: value)")
    for key in [*grid, *(k for x in points for k in x)]:
        if str(key).startswith("cluster."):
            raise LaunchError(f"--sweep {p}: cluster keys cannot vary inside one submission ({key})")


def _read_sweep(p: Path) -> dict[str, Any]:
    """The sweep file's document: a mapping with ``grid`` and/or ``points`` (YAML within the alias budget)."""
    import yaml

    from orchestrator.config.yamlread import load_yaml

    if p.exists() and not p.is_file():
        raise LaunchError(f"--sweep {p}: not a regular file (a folder, FIFO or device); give a YAML file")
    try:
        data = load_yaml(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LaunchError(f"--sweep {p}: file not found") from None
    except (OSError, yaml.YAMLError) as exc:
        raise LaunchError(f"--sweep {p}: cannot read it ({exc})") from None
    if not isinstance(data, dict) or not set(data) <= {"grid", "points"} or not data:
        raise LaunchError(f"--sweep {p}: expected a mapping with 'grid:' (key: [values]) and/or 'points:' (a list)")
    return data


def grid_overrides(point: Mapping[str, Any]) -> list[str]:
    """A grid point as ``key=value`` override strings (JSON values, read back as YAML by the config loader)."""
    return [f"{key}={json.dumps(value)}" for key, value in point.items()]
