"""The map a scenario runs on: obstacles as polygons and segments, zones, routes and points of interest.

Pure data plus the few geometric queries every other part needs (segments for ray casting and forces, point-in-
obstacle tests for spawning, a raster for the occupancy grid). Built by :mod:`trainers.envs.crowdnav.svgmap`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

__all__ = ["MapDefinition", "MapError", "Route", "Zone"]


class MapError(ValueError):
    """A map file cannot be used: unreadable geometry, no robot route, a missing zone. Names the element."""


@dataclass(frozen=True)
class Zone:
    """An axis-aligned (after transforms) rectangle: spawn, goal or crowded zone."""

    label: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float

    @property
    def center(self) -> np.ndarray:
        return np.array([(self.xmin + self.xmax) / 2, (self.ymin + self.ymax) / 2])

    @property
    def area(self) -> float:
        return (self.xmax - self.xmin) * (self.ymax - self.ymin)

    def sample(self, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        """``n`` uniform points inside the zone, shape (n, 2)."""
        low = np.array([self.xmin, self.ymin])
        high = np.array([self.xmax, self.ymax])
        return low + rng.random((n, 2)) * (high - low)

    def sample_triangle(self, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        """``n`` uniform points of the triangle (xmin, ymin), (xmax, ymin), (xmax, ymax), shape (n, 2).

        Robot SF stores a zone as those three corners and samples the triangle they span (not the whole
        rectangle); spawn and goal positions follow it so both backends start and end episodes in the same places.
        """
        u, v = rng.random(n), rng.random(n)
        fold = u + v > 1.0
        u[fold], v[fold] = 1.0 - u[fold], 1.0 - v[fold]
        x = self.xmax - u * (self.xmax - self.xmin)
        y = self.ymin + v * (self.ymax - self.ymin)
        return np.stack([x, y], axis=1)


@dataclass(frozen=True)
class Route:
    """A labelled polyline ``<kind>_route_<spawn>_<goal>``: waypoints between a spawn and a goal zone."""

    label: str
    spawn_id: int
    goal_id: int
    waypoints: np.ndarray  # (K, 2)

    @property
    def length(self) -> float:
        if len(self.waypoints) < 2:
            return 0.0
        return float(np.linalg.norm(np.diff(self.waypoints, axis=0), axis=1).sum())


@dataclass
class MapDefinition:
    """Everything the simulator needs from a map, in metres, y pointing down the SVG page as in the file."""

    name: str
    width: float
    height: float
    obstacles: list[np.ndarray]  # closed polygons, each (K, 2)
    robot_spawn_zones: list[Zone]
    robot_goal_zones: list[Zone]
    robot_routes: list[Route]
    ped_spawn_zones: list[Zone] = field(default_factory=list)
    ped_goal_zones: list[Zone] = field(default_factory=list)
    ped_crowded_zones: list[Zone] = field(default_factory=list)
    ped_routes: list[Route] = field(default_factory=list)
    single_ped_points: dict[str, np.ndarray] = field(default_factory=dict)  # "<id>_start" / "<id>_goal" -> (2,)
    pois: dict[str, np.ndarray] = field(default_factory=dict)  # "poi_<name>" -> (2,)
    source: str = ""
    _rasters: dict[Any, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @cached_property
    def segments(self) -> np.ndarray:
        """Obstacle edges plus the four map edges as (S, 4) rows ``x0, y0, x1, y1``.

        Robot SF treats the map's bounds as obstacle lines too: the lidar sees them, pedestrians are pushed off
        them, and a robot touching one has collided.
        """
        w, h = self.width, self.height
        bounds = np.array([[0, 0, w, 0], [w, 0, w, h], [w, h, 0, h], [0, h, 0, 0]], dtype=np.float64)
        rows = [np.concatenate([poly, np.roll(poly, -1, axis=0)], axis=1) for poly in self.obstacles if len(poly) >= 2]
        return np.concatenate([*rows, bounds], axis=0).astype(np.float64)

    @cached_property
    def _edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every polygon edge in one array (x0, y0, x1, y1, 1 / (y1 - y0)) and where each polygon's edges start."""
        polys = [p for p in self.obstacles if len(p)]
        if not polys:
            empty = np.zeros(0)
            return empty, empty, empty, empty, empty, np.zeros(0, dtype=np.int64)
        start = np.concatenate([p for p in polys]).astype(np.float64)
        end = np.concatenate([np.roll(p, -1, axis=0) for p in polys]).astype(np.float64)
        dy = end[:, 1] - start[:, 1]
        inv_dy = np.divide(1.0, dy, out=np.zeros_like(dy), where=dy != 0)
        offsets = np.cumsum([0] + [len(p) for p in polys[:-1]]).astype(np.int64)
        return start[:, 0], start[:, 1], end[:, 0], end[:, 1], inv_dy, offsets

    def inside_obstacle(self, points: np.ndarray) -> np.ndarray:
        """Boolean (n,) mask: which points lie inside any obstacle polygon (even-odd rule per polygon, union
        across polygons; all edges of all polygons in one vectorised pass)."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        x0, y0, x1, y1, inv_dy, offsets = self._edges
        if not len(x0) or not len(points):
            return np.zeros(len(points), dtype=bool)
        px, py = points[:, :1], points[:, 1:]
        crosses = (y0 > py) != (y1 > py)  # a horizontal edge never crosses, so its zero inv_dy is never used
        hits = crosses & (px < x0 + (py - y0) * (x1 - x0) * inv_dy)
        per_polygon = np.add.reduceat(hits.astype(np.int64), offsets, axis=1)
        return np.asarray((per_polygon % 2).astype(bool).any(axis=1))

    def rasterize(self, resolution: float) -> np.ndarray:
        """Obstacle occupancy of the whole map at ``resolution``: (rows=y, cols=x) float32, computed once per map."""
        if resolution not in self._rasters:
            self._rasters[resolution] = self._rasterize(resolution)
        return self._rasters[resolution]

    def padded_raster(self, resolution: float, pad: int) -> np.ndarray:
        """:meth:`rasterize` with ``pad`` free cells around it (grid sampling needs no bounds checks), cached.

        Outside the map is free, as in Robot SF's grid; the map's edges are walls (they are segments)."""
        key = (resolution, pad)
        if key not in self._rasters:
            self._rasters[key] = np.pad(self.rasterize(resolution), pad, constant_values=0.0)
        return self._rasters[key]

    def _rasterize(self, resolution: float) -> np.ndarray:
        cols = max(1, int(np.ceil(self.width / resolution)))
        rows = max(1, int(np.ceil(self.height / resolution)))
        xs = (np.arange(cols) + 0.5) * resolution
        ys = (np.arange(rows) + 0.5) * resolution
        gx, gy = np.meshgrid(xs, ys)
        centers = np.stack([gx.ravel(), gy.ravel()], axis=1)
        raster = self.inside_obstacle(centers).reshape(rows, cols)
        # Thin walls narrower than a cell still block: mark cells that any segment passes through.
        segs = self.segments
        if len(segs):
            lengths = np.hypot(segs[:, 2] - segs[:, 0], segs[:, 3] - segs[:, 1])
            n = np.maximum(2, np.ceil(lengths / (resolution / 2)).astype(int) + 1)
            t = np.concatenate([np.linspace(0.0, 1.0, k) for k in n])
            idx = np.repeat(np.arange(len(segs)), n)
            px = segs[idx, 0] + t * (segs[idx, 2] - segs[idx, 0])
            py = segs[idx, 1] + t * (segs[idx, 3] - segs[idx, 1])
            ci = np.clip((px / resolution).astype(int), 0, cols - 1)
            ri = np.clip((py / resolution).astype(int), 0, rows - 1)
            raster[ri, ci] = True
        return raster.astype(np.float32)
