"""A top-down RGB frame of the current state, drawn with numpy only (fast enough for videos and previews)."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from trainers.envs.crowdnav.env import CrowdNavEnv

__all__ = ["render_frame"]

PIXELS_PER_METRE = 10
COLORS = {
    "floor": (245, 245, 240),
    "obstacle": (40, 40, 40),
    "route": (120, 120, 230),
    "goal": (40, 170, 60),
    "pedestrian": (220, 60, 50),
    "robot": (30, 90, 220),
    "heading": (255, 255, 255),
}


def _disc(img: np.ndarray, center: np.ndarray, radius: float, color: tuple[int, int, int], ppm: float) -> None:
    h, w, _ = img.shape
    cx, cy = center * ppm
    r = max(1.0, radius * ppm)
    x0, x1 = int(max(0, cx - r)), int(min(w, cx + r + 1))
    y0, y1 = int(max(0, cy - r)), int(min(h, cy + r + 1))
    if x0 >= x1 or y0 >= y1:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1]
    mask = (xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2 <= r * r
    img[y0:y1, x0:x1][mask] = color


def _line(img: np.ndarray, a: np.ndarray, b: np.ndarray, color: tuple[int, int, int], ppm: float) -> None:
    n = max(2, int(float(np.linalg.norm(b - a)) * ppm * 2))
    t = np.linspace(0, 1, n)[:, None]
    pts = ((a + t * (b - a)) * ppm).astype(int)
    h, w, _ = img.shape
    ok = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
    img[pts[ok, 1], pts[ok, 0]] = color


def render_frame(env: CrowdNavEnv, ppm: float = PIXELS_PER_METRE) -> np.ndarray:
    """(H, W, 3) uint8 image: obstacles, robot route and goal, pedestrians, robot with a heading tick."""
    m = env.map
    res = 1.0 / ppm
    raster = m.rasterize(res)
    img = np.empty((*raster.shape, 3), dtype=np.uint8)
    img[:] = COLORS["floor"]
    img[raster > 0] = COLORS["obstacle"]
    if hasattr(env, "waypoints"):
        pts = np.concatenate([env.robot.pos[None], env.waypoints[env.wp_index :]])
        for a, b in itertools.pairwise(pts):
            _line(img, a, b, COLORS["route"], ppm)
        _disc(img, env.waypoints[-1], env.settings.sim.goal_radius, COLORS["goal"], ppm)
    for p in env.crowd.pos:
        _disc(img, p, env.crowd.radius, COLORS["pedestrian"], ppm)
    _disc(img, env.robot.pos, env.settings.robot.radius, COLORS["robot"], ppm)
    tip = env.robot.pos + env.settings.robot.radius * np.array([np.cos(env.robot.theta), np.sin(env.robot.theta)])
    _line(img, env.robot.pos, tip, COLORS["heading"], ppm)
    return img
