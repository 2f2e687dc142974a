"""What the robot sees: a vectorised lidar ray caster and the occupancy grid.

Rays (Robot SF's lidar): ``num_rays`` directions from ``heading - pi * visual_angle_portion`` in equal steps
(the last step short of ``heading + pi * visual_angle_portion``); each ray's distance is the nearest hit among wall
segments, map edges included (segment-ray intersection for all pairs at once), and the discs of pedestrians whose
centre is within range and not behind the robot, capped at ``max_scan_dist``. Then Robot SF's scan noise: a ray is
lost (reads the maximum) with probability ``scan_noise[0]``, else corrupted (scaled by a uniform factor) with
probability ``scan_noise[1]``.

Occupancy grid: cell (row i, col j) covers x in [j res, (j + 1) res), y in [i res, (i + 1) res) of the grid frame.
The grid frame is the world (origin 0, 0) by default; ``center_on_robot`` centres it on the robot, and
``use_ego_frame`` centres it on the robot and turns it with the robot (x forward, y left of the heading), as Robot
SF's grid does. The obstacle channel samples a raster of the whole map computed once per map (outside the map is
free; the map's edges are walls); pedestrians (radius 0.35 m, Robot SF's grid default) and the robot
(``grid_config.robot_radius``) mark every cell their disc overlaps.
"""

from __future__ import annotations

import math

import numpy as np

from trainers.envs.contracts import GRID_CHANNEL_ORDER
from trainers.envs.crowdnav.mapdef import MapDefinition
from trainers.envs.crowdnav.settings import GridSettings

__all__ = ["GRID_PEDESTRIAN_RADIUS", "OccupancyGrid", "RayCaster"]

GRID_PEDESTRIAN_RADIUS = 0.35  # m: Robot SF's simulator has no per-pedestrian radii, so its grid uses this default


class RayCaster:
    """Lidar against one map's segments; directions are precomputed relative to the heading."""

    def __init__(
        self,
        mapdef: MapDefinition,
        num_rays: int,
        max_dist: float,
        angle_portion: float,
        scan_noise: tuple[float, float] = (0.0, 0.0),
    ) -> None:
        half = math.pi * angle_portion
        self.rel_angles = np.linspace(-half, half, num_rays + 1)[:-1]
        self.max_dist = float(max_dist)
        self.loss, self.corruption = (float(p) for p in scan_noise)
        segs = mapdef.segments
        self._a = segs[:, :2]
        self._e = segs[:, 2:] - segs[:, :2]

    def cast(
        self,
        origin: np.ndarray,
        heading: float,
        ped_pos: np.ndarray,
        ped_radius: float,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """Distances (num_rays,) from ``origin``, capped at max_dist; scan noise drawn from ``rng`` when given."""
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
            close = (rel * rel).sum(1) <= self.max_dist**2
            if close.any():
                rel = rel[close]
                proj = dx[:, None] * rel[None, :, 0] + dy[:, None] * rel[None, :, 1]
                perp2 = (rel * rel).sum(1)[None, :] - proj**2
                inside = ped_radius**2 - perp2
                with np.errstate(invalid="ignore"):
                    t = proj - np.sqrt(inside)
                t = np.where((inside >= 0) & (proj >= 0), np.maximum(t, 0.0), np.inf)
                best = np.minimum(best, t.min(1))
        if rng is not None and (self.loss > 0 or self.corruption > 0):
            draws = rng.random((3, len(best)))
            lost = draws[0] < self.loss
            corrupted = ~lost & (draws[1] < self.corruption)
            best = np.where(lost, self.max_dist, np.where(corrupted, best * draws[2], best))
        return best


class OccupancyGrid:
    """Occupancy grid of one map (obstacle raster cached per map and resolution)."""

    def __init__(self, mapdef: MapDefinition, grid: GridSettings) -> None:
        self.cfg = grid
        self.res = float(grid.resolution)
        self.rows = round(grid.height / self.res)
        self.cols = round(grid.width / self.res)
        self.channels = tuple(grid.channels)
        self.channel_indices = np.array(
            [self.channels.index(c) if c in self.channels else -1 for c in GRID_CHANNEL_ORDER], dtype=np.int32
        )
        self.robot_radius = grid.robot_radius
        self._centred = grid.center_on_robot or grid.use_ego_frame
        self.map_w, self.map_h = mapdef.width, mapdef.height
        # The map raster padded with occupied cells as far as the grid can reach: sampling needs no bounds checks.
        self._pad = math.ceil(math.hypot(grid.width, grid.height) / self.res) + 2
        padded = mapdef.padded_raster(self.res, self._pad)
        self._padded_cols = padded.shape[1]
        self._flat = padded.ravel()
        xs = (np.arange(self.cols) + 0.5) * self.res
        ys = (np.arange(self.rows) + 0.5) * self.res
        if self._centred:
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
        origin = robot_pos if self._centred else np.zeros(2)
        return np.asarray(origin, dtype=np.float64), float(theta)

    def _obstacles(self, origin: np.ndarray, theta: float) -> np.ndarray:
        if not self._centred:
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
        if self._centred:
            lx = lx + self.cfg.width / 2
            ly = ly + self.cfg.height / 2
        k = math.ceil(radius / self.res) + 1
        off = np.arange(-k, k + 1)
        grid_j, grid_i = np.meshgrid(off, off)
        oj, oi = grid_j.ravel(), grid_i.ravel()
        cj = np.floor(lx / self.res).astype(np.int64)
        ci = np.floor(ly / self.res).astype(np.int64)
        jj = cj[:, None] + oj[None, :]
        ii = ci[:, None] + oi[None, :]
        # a cell counts when the disc overlaps it (distance from the centre to the cell's nearest point <= radius)
        dxc = np.maximum(np.abs((jj + 0.5) * self.res - lx[:, None]) - self.res / 2, 0.0)
        dyc = np.maximum(np.abs((ii + 0.5) * self.res - ly[:, None]) - self.res / 2, 0.0)
        m = (dxc * dxc + dyc * dyc <= radius * radius) & (jj >= 0) & (jj < self.cols) & (ii >= 0) & (ii < self.rows)
        layer[ii[m], jj[m]] = 1.0
        return layer

    def compute(self, robot_pos: np.ndarray, robot_theta: float, ped_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(C, H, W) float32 grid in the configured channels, and the grid's corner (Robot SF's ``origin``):
        (-width/2, -height/2) in the ego frame, the robot minus half the size when centred, else (0, 0)."""
        origin, theta = self.frame(robot_pos, robot_theta)
        layers: dict[str, np.ndarray] = {}
        need = set(self.channels)
        if "obstacles" in need:
            layers["obstacles"] = self._obstacles(origin, theta)
        if "pedestrians" in need:
            layers["pedestrians"] = self._discs(ped_pos, GRID_PEDESTRIAN_RADIUS, origin, theta)
        if "robot" in need:
            if self._centred:  # the robot sits at the centre: its disc never changes
                if self._robot_layer is None:
                    self._robot_layer = self._discs(np.asarray(robot_pos)[None, :], self.robot_radius, origin, theta)
                layers["robot"] = self._robot_layer
            else:
                layers["robot"] = self._discs(np.asarray(robot_pos)[None, :], self.robot_radius, origin, theta)
        if "combined" in need:  # Robot SF: the maximum of the other configured channels
            sources = [layers[c] for c in self.channels if c != "combined"]
            layers["combined"] = np.maximum.reduce(sources) if sources else np.zeros((self.rows, self.cols), np.float32)
        grid = np.stack([layers[c] for c in self.channels]) if self.channels else np.zeros((0, self.rows, self.cols))
        half = np.array([self.cfg.width, self.cfg.height]) / 2
        if self.cfg.use_ego_frame:
            corner = -half
        elif self.cfg.center_on_robot:
            corner = np.asarray(robot_pos, dtype=np.float64) - half
        else:
            corner = np.zeros(2)
        return grid.astype(np.float32, copy=False), corner
