"""Robot SF's SVG map format, read with svgelements (transforms, units and every path command handled there).

Elements are recognised by their ``inkscape:label`` (Robot SF README, section 5): ``obstacle`` (rect, polygon or
path), ``robot_spawn_zone``, ``robot_goal_zone``, ``ped_spawn_zone``, ``ped_goal_zone``, ``ped_crowded_zone``
(rects), ``robot_route_<spawn>_<goal>`` and ``ped_route_<spawn>_<goal>`` (paths whose vertices are waypoints; curves
are sampled), ``single_ped_<id>_start|_goal`` and ``poi_*`` circles. The ``svg`` element's width and height are metres.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from trainers.envs.crowdnav.mapdef import MapDefinition, MapError, Route, Zone

__all__ = ["load_svg_map"]

_LABEL_KEYS = ("inkscape:label", "{http://www.inkscape.org/namespaces/inkscape}label", "label")
_ROUTE_RE = re.compile(r"^(robot|ped)_route(?:_(\d+)_(\d+))?$")
_SINGLE_RE = re.compile(r"^single_ped_(.+)_(start|goal)$")
_ZONE_LABELS = ("robot_spawn_zone", "robot_goal_zone", "ped_spawn_zone", "ped_goal_zone", "ped_crowded_zone")
_CURVE_SAMPLES = 8


def _leading_number(text: object, what: str, source: str) -> float:
    match = re.match(r"\s*([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)", str(text or ""))
    if not match:
        raise MapError(f"{source}: the <svg> element has no numeric {what} ({text!r}); set {what} in metres")
    return float(match.group(1))


def _describe(element: object) -> str:
    values = getattr(element, "values", {}) or {}
    label = next((values[k] for k in _LABEL_KEYS if values.get(k)), None)
    tag = type(element).__name__.lower()
    ident = values.get("id")
    return f"<{tag} id={ident!r} label={label!r}>"


def _label(element: object) -> str:
    values = getattr(element, "values", {}) or {}
    for key in _LABEL_KEYS:
        if values.get(key):
            return str(values[key]).strip()
    return ""


def _path_points(path: object, scale: float, where: str) -> list[np.ndarray]:
    """Polylines of a path (one per subpath), vertices kept and curves sampled, in metres."""
    import svgelements as se

    polylines: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    try:
        segments = list(path.segments())  # type: ignore[attr-defined]
    except Exception as exc:  # svgelements raises assorted errors on malformed d attributes
        raise MapError(f"{where}: unreadable path geometry ({exc})") from exc
    for seg in segments:
        if isinstance(seg, se.Move):
            if len(current) >= 1:
                polylines.append(current)
            current = [(seg.end.x, seg.end.y)]
        elif isinstance(seg, se.Close):
            if current:
                polylines.append(current)
            current = []
        elif isinstance(seg, se.Line):
            current.append((seg.end.x, seg.end.y))
        elif isinstance(seg, (se.CubicBezier, se.QuadraticBezier, se.Arc)):
            for t in np.linspace(0.0, 1.0, _CURVE_SAMPLES + 1)[1:]:
                p = seg.point(float(t))
                current.append((p.x, p.y))
        else:
            raise MapError(f"{where}: unsupported path segment {type(seg).__name__}")
    if current:
        polylines.append(current)
    result = []
    for line in polylines:
        arr = np.asarray(line, dtype=np.float64) * scale
        if not np.all(np.isfinite(arr)):
            raise MapError(f"{where}: path has non-finite coordinates")
        # Drop consecutive duplicates (Close after an explicit return to the start, zero-length lines).
        keep = np.ones(len(arr), dtype=bool)
        keep[1:] = np.any(np.abs(np.diff(arr, axis=0)) > 1e-9, axis=1)
        result.append(arr[keep])
    return result


def _rect_corners(element: object, scale: float, where: str) -> np.ndarray:
    import svgelements as se

    if isinstance(element, se.Shape):
        try:
            pts = _path_points(se.Path(element), scale, where)
        except MapError:
            raise
        if pts and len(pts[0]) >= 3:
            return pts[0]
    raise MapError(f"{where}: expected a rect or closed polygon")


def _zone(element: object, scale: float, where: str) -> Zone:
    bbox = getattr(element, "bbox", lambda: None)()
    if bbox is None or not all(np.isfinite(bbox)):
        raise MapError(f"{where}: zone has no readable geometry (expected a rect)")
    x0, y0, x1, y1 = (float(v) * scale for v in bbox)
    if x1 - x0 <= 0 or y1 - y0 <= 0:
        raise MapError(f"{where}: zone has zero area")
    return Zone(_label(element), x0, y0, x1, y1)


def _circle_center(element: object, scale: float, where: str) -> np.ndarray:
    bbox = getattr(element, "bbox", lambda: None)()
    if bbox is None:
        raise MapError(f"{where}: expected a circle with a centre")
    x0, y0, x1, y1 = bbox
    return np.array([(x0 + x1) / 2, (y0 + y1) / 2], dtype=np.float64) * scale


def _route(label: str, element: object, scale: float, where: str) -> tuple[str, Route]:
    match = _ROUTE_RE.match(label)
    assert match is not None
    kind, spawn, goal = match.group(1), match.group(2), match.group(3)
    lines = _path_points(element, scale, where)
    if not lines or sum(len(line) for line in lines) < 1:
        raise MapError(f"{where}: route has no waypoints")
    waypoints = np.concatenate(lines, axis=0)
    return kind, Route(label, int(spawn or 0), int(goal or 0), waypoints)


@lru_cache(maxsize=64)
def _load_cached(path: str, mtime: float) -> MapDefinition:
    import svgelements as se

    source = path
    try:
        svg = se.SVG.parse(path, reify=True)
    except Exception as exc:
        raise MapError(f"{source}: not a readable SVG file ({exc})") from exc
    width_m = _leading_number(svg.values.get("width", svg.width), "width", source)
    height_m = _leading_number(svg.values.get("height", svg.height), "height", source)
    scale = width_m / float(svg.width) if svg.width else 1.0

    parts = _Parts()
    for element in svg.elements():
        if isinstance(element, (se.SVG, se.Group)) or not isinstance(element, se.Shape):
            continue
        label = _label(element)
        if label:
            parts.add(label, element, scale, f"{source}: {_describe(element)}")
    obstacles, zones, routes = parts.obstacles, parts.zones, parts.routes
    singles, pois = parts.singles, parts.pois
    if not routes["robot"]:
        raise MapError(
            f"{source}: no robot route; add a path labelled robot_route_<spawn>_<goal> (inkscape:label) to the map"
        )
    _check_zone_refs(source, routes["robot"], zones["robot_spawn_zone"], zones["robot_goal_zone"], "robot")
    return MapDefinition(
        name=Path(path).stem,
        width=width_m,
        height=height_m,
        obstacles=obstacles,
        robot_spawn_zones=zones["robot_spawn_zone"],
        robot_goal_zones=zones["robot_goal_zone"],
        robot_routes=sorted(routes["robot"], key=lambda r: (r.spawn_id, r.goal_id, r.label)),
        ped_spawn_zones=zones["ped_spawn_zone"],
        ped_goal_zones=zones["ped_goal_zone"],
        ped_crowded_zones=zones["ped_crowded_zone"],
        ped_routes=routes["ped"],
        single_ped_points=singles,
        pois=pois,
        source=source,
    )


@dataclass
class _Parts:
    """What the labelled shapes of a map are, by kind, in the map's metres."""

    obstacles: list[np.ndarray] = field(default_factory=list)
    zones: dict[str, list[Zone]] = field(default_factory=lambda: {k: [] for k in _ZONE_LABELS})
    routes: dict[str, list[Route]] = field(default_factory=lambda: {"robot": [], "ped": []})
    singles: dict[str, np.ndarray] = field(default_factory=dict)
    pois: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, label: str, element: Any, scale: float, where: str) -> None:
        """File one shape under what its label says it is; a label orch does not know is ignored (as Robot SF)."""
        if label == "obstacle" or label.startswith("obstacle_"):
            self.obstacles += _obstacle_polygons(element, scale, where)
        elif label in self.zones:
            self.zones[label].append(_zone(element, scale, where))
        elif _ROUTE_RE.match(label):
            kind, route = _route(label, element, scale, where)
            self.routes[kind].append(route)
        elif (m := _SINGLE_RE.match(label)) is not None:
            self.singles[f"{m.group(1)}_{m.group(2)}"] = _circle_center(element, scale, where)
        elif label.startswith("poi_"):
            self.pois[label] = _circle_center(element, scale, where)


def _obstacle_polygons(element: Any, scale: float, where: str) -> list[np.ndarray]:
    """An obstacle path's polygons (each of two points or more), or a rectangle's corners."""
    import svgelements as se

    if not isinstance(element, se.Path):
        return [_rect_corners(element, scale, where)]
    polygons = _path_points(element, scale, where)
    if any(len(poly) < 2 for poly in polygons):
        raise MapError(f"{where}: obstacle path needs at least two points")
    return list(polygons)


def _check_zone_refs(source: str, routes: list[Route], spawns: list[Zone], goals: list[Zone], kind: str) -> None:
    for route in routes:
        if spawns and route.spawn_id >= len(spawns):
            raise MapError(
                f"{source}: {route.label} names {kind}_spawn_zone {route.spawn_id}, the map has {len(spawns)}"
            )
        if goals and route.goal_id >= len(goals):
            raise MapError(f"{source}: {route.label} names {kind}_goal_zone {route.goal_id}, the map has {len(goals)}")


def load_svg_map(path: str | Path) -> MapDefinition:
    """Parse a Robot SF SVG map (cached per path and modification time). Raises :class:`MapError` naming the element."""
    p = Path(path)
    if not p.is_file():
        raise MapError(f"{p}: map file not found")
    return _load_cached(str(p.resolve()), p.stat().st_mtime)
