"""What the robot sees: a vectorised lidar ray caster and the occupancy grid.

Rays: ``num_rays`` directions spread over ``visual_angle_portion`` of a full turn, centred on the heading; each
ray's distance is the nearest hit among obstacle segments (segment-ray intersection for all pairs at once) and
pedestrian discs (ray-circle intersection), capped at ``max_scan_dist``.

Occupancy grid: cell (row i, col j) has its centre at x = (j + 0.5) * res, y = (i + 0.5) * res in the grid frame.
The grid frame is the world (origin 0, 0) by default; with ``center_on_robot`` it is centred on the robot, and with
``use_ego_frame`` it also turns with the robot (x forward, y left of the heading). The obstacle channel samples a
raster of the whole map computed once per map; pedestrians and the robot are stamped as discs.
"""

from __future__ import annotations

import math

import numpy as np

from trainers.envs.contracts import GRID_CHANNEL_ORDER
from trainers.envs.crowdnav.mapdef import MapDefinition
from trainers.envs.crowdnav.settings import GridSettings

__all__ = ["OccupancyGrid", "RayCaster"]


class RayCaster:
    """Lidar against one map's segments; directions are precomputed relative to the heading."""

    def __init__(self, mapdef: MapDefinition, num_rays: int, max_dist: float, angle_portion: float) -> None:
        span = 2 * math.pi * angle_portion
        full_turn = angle_portion >= 1.0 - 1e-9  # a full turn must not count its first direction twice
        self.rel_angles = np.linspace(-span / 2, span / 2, num_rays, endpoint=not full_turn)
        self.max_dist = float(max_dist)
        segs = mapdef.segments
        self._a = segs[:, :2]
        self._e = segs[:, 2:] - segs[:, :2]

    def cast(self, origin: np.ndarray, heading: float, ped_pos: np.ndarray, ped_radius: float) -> np.ndarray:
        """Distances (num_rays,) from ``origin``, capped at max_dist."""
        ang = self.rel_angles + heading
        dx, dy = np.cos(ang), np.sin(ang)
        best = np.full(len(ang), self.max_dist)
        if len(self._a):
            a, e = self._a, self._e
            # Keep only segments that can be within range of the robot.
            ap = a - origin
            t_near = np.clip(-((ap * e).sum(1)) / np.maximum((e * e).sum(1), 1e-12), 0, 1)
            near = ap + t_near[:, None] * e
            keep = (near * near).sum(1) < self.max_dist**2
            if keep.any():
                apk, ek = ap[keep], e[keep]
                denom = dx[:, None] * ek[None, :, 1] - dy[:, None] * ek[None, :, 0]
                with np.errstate(divide="ignore", invalid="ignore"):
                    t = (apk[None, :, 0] * ek[None, :, 1] - apk[None, :, 1] * ek[None, :, 0]) / denom
                    u = (apk[None, :, 0] * dy[:, None] - apk[None, :, 1] * dx[:, None]) / denom
                hit = (t >= 0) & (u >= 0) & (u <= 1)
                best = np.minimum(best, np.where(hit, t, np.inf).min(1))
        if len(ped_pos):
            rel = ped_pos - origin
            close = (rel * rel).sum(1) < (self.max_dist + ped_radius) ** 2
            if close.any():
                rel = rel[close]
                proj = dx[:, None] * rel[None, :, 0] + dy[:, None] * rel[None, :, 1]
                perp2 = (rel * rel).sum(1)[None, :] - proj**2
                inside = ped_radius**2 - perp2
                with np.errstate(invalid="ignore"):
                    t = proj - np.sqrt(inside)
                t = np.where((inside >= 0) & (proj > 0), np.maximum(t, 0.0), np.inf)
                best = np.minimum(best, t.min(1))
        return best


class OccupancyGrid:
    """Occupancy grid of one map (obstacle raster cached per map and resolution)."""

    def __init__(self, mapdef: MapDefinition, grid: GridSettings, robot_radius: float) -> None:
        self.cfg = grid
        self.res = float(grid.resolution)
        self.rows = round(grid.height / self.res)
        self.cols = round(grid.width / self.res)
        self.channels = tuple(grid.channels)
        self.channel_indices = np.array(
            [self.channels.index(c) if c in self.channels else -1 for c in GRID_CHANNEL_ORDER], dtype=np.int32
        )
        self.robot_radius = robot_radius
        self.map_w, self.map_h = mapdef.width, mapdef.height
        # The map raster padded with occupied cells as far as the grid can reach: sampling needs no bounds checks.
        self._pad = math.ceil(math.hypot(grid.width, grid.height) / self.res) + 2
        padded = mapdef.padded_raster(self.res, self._pad)
        self._padded_cols = padded.shape[1]
        self._flat = padded.ravel()
        xs = (np.arange(self.cols) + 0.5) * self.res
        ys = (np.arange(self.rows) + 0.5) * self.res
        if grid.center_on_robot:
            xs = xs - grid.width / 2
            ys = ys - grid.height / 2
        gx, gy = np.meshgrid(xs, ys)
        self._local_cells = ((gx.ravel() / self.res).astype(np.float32), (gy.ravel() / self.res).astype(np.float32))
        self.origin = np.zeros(2)
        self.theta = 0.0
        self._static_world: np.ndarray | None = None
        self._robot_layer: np.ndarray | None = None

    def frame(self, robot_pos: np.ndarray, robot_theta: float) -> tuple[np.ndarray, float]:
        """World position of the grid frame's origin and its rotation."""
        theta = robot_theta if self.cfg.use_ego_frame else 0.0
        origin = robot_pos if self.cfg.center_on_robot else np.zeros(2)
        return np.asarray(origin, dtype=np.float64), float(theta)

    def _obstacles(self, origin: np.ndarray, theta: float) -> np.ndarray:
        if not self.cfg.center_on_robot and not self.cfg.use_ego_frame:
            if self._static_world is None:
                self._static_world = self._sample(origin, theta)
            return self._static_world
        return self._sample(origin, theta)

    def _sample(self, origin: np.ndarray, theta: float) -> np.ndarray:
        lx, ly = self._local_cells
        c, s = math.cos(theta), math.sin(theta)
        ox = origin[0] / self.res + self._pad
        oy = origin[1] / self.res + self._pad
        ci = (lx * c - ly * s + ox).astype(np.int64)  # non-negative thanks to the padding, so int() == floor()
        ri = (lx * s + ly * c + oy).astype(np.int64)
        idx = ri * self._padded_cols + ci
        return self._flat.take(idx, mode="clip").reshape(self.rows, self.cols)

    def _discs(self, centers_world: np.ndarray, radius: float, origin: np.ndarray, theta: float) -> np.ndarray:
        layer = np.zeros((self.rows, self.cols), dtype=np.float32)
        if len(centers_world) == 0:
            return layer
        rel = centers_world - origin
        c, s = math.cos(theta), math.sin(theta)
        lx = c * rel[:, 0] + s * rel[:, 1]
        ly = -s * rel[:, 0] + c * rel[:, 1]
        if self.cfg.center_on_robot:
            lx = lx + self.cfg.width / 2
            ly = ly + self.cfg.height / 2
        k = math.ceil(radius / self.res)
        off = np.arange(-k, k + 1)
        grid_j, grid_i = np.meshgrid(off, off)
        oj, oi = grid_j.ravel(), grid_i.ravel()
        cj = np.floor(lx / self.res).astype(np.int64)
        ci = np.floor(ly / self.res).astype(np.int64)
        jj = cj[:, None] + oj[None, :]
        ii = ci[:, None] + oi[None, :]
        dxc = (jj + 0.5) * self.res - lx[:, None]
        dyc = (ii + 0.5) * self.res - ly[:, None]
        m = (dxc * dxc + dyc * dyc <= radius * radius) & (jj >= 0) & (jj < self.cols) & (ii >= 0) & (ii < self.rows)
        layer[ii[m], jj[m]] = 1.0
        return layer

    def compute(
        self, robot_pos: np.ndarray, robot_theta: float, ped_pos: np.ndarray, ped_radius: float
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """(C, H, W) float32 grid in the configured channels, plus the frame origin and rotation."""
        origin, theta = self.frame(robot_pos, robot_theta)
        layers: dict[str, np.ndarray] = {}
        need = set(self.channels)
        if need & {"obstacles", "combined"}:
            layers["obstacles"] = self._obstacles(origin, theta)
        if need & {"pedestrians", "combined"}:
            layers["pedestrians"] = self._discs(ped_pos, ped_radius, origin, theta)
        if need & {"robot", "combined"}:
            if self.cfg.center_on_robot:  # the robot sits at the centre: its disc never changes
                if self._robot_layer is None:
                    self._robot_layer = self._discs(np.asarray(robot_pos)[None, :], self.robot_radius, origin, theta)
                layers["robot"] = self._robot_layer
            else:
                layers["robot"] = self._discs(np.asarray(robot_pos)[None, :], self.robot_radius, origin, theta)
        if "combined" in need:
            layers["combined"] = np.maximum(np.maximum(layers["obstacles"], layers["pedestrians"]), layers["robot"])
        grid = np.stack([layers[c] for c in self.channels]) if self.channels else np.zeros((0, self.rows, self.cols))
        return grid.astype(np.float32, copy=False), origin, theta
