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
        self._cos, self._sin = np.cos(self.rel_angles), np.sin(self.rel_angles)
        self.max_dist = float(max_dist)
        self.loss, self.corruption = (float(p) for p in scan_noise)
        self._a, self._e, self._normal = _faces(mapdef)
        self._step = 2 * half / num_rays
        self._full_turn = angle_portion >= 1.0 - 1e-12
        self._length2 = np.maximum((self._e**2).sum(1), 1e-12)

    def cast(
        self,
        origin: np.ndarray,
        heading: float,
        ped_pos: np.ndarray,
        ped_radius: float,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """Distances (num_rays,) from ``origin``, capped at max_dist; scan noise drawn from ``rng`` when given."""
        ch, sh = math.cos(heading), math.sin(heading)
        dx = self._cos * ch - self._sin * sh
        dy = self._sin * ch + self._cos * sh
        best = np.full(len(dx), self.max_dist)
        if len(self._a):
            self._cast_walls(best, dx, dy, self._a - origin, heading)
        if len(ped_pos):
            self._cast_pedestrians(best, dx, dy, np.asarray(ped_pos, dtype=np.float64) - origin, heading, ped_radius)
        if rng is not None and (self.loss > 0 or self.corruption > 0):
            draws = rng.random((3, len(best)))
            lost = draws[0] < self.loss
            corrupted = ~lost & (draws[1] < self.corruption)
            best = np.where(lost, self.max_dist, np.where(corrupted, best * draws[2], best))
        return best

    def _ray_pairs(self, center: np.ndarray, half: np.ndarray, heading: float) -> tuple[np.ndarray, np.ndarray]:
        """(ray, item) index pairs for items seen within ``center +- half`` (world angles, half in [0, pi/2]): every
        ray whose direction falls inside, plus one ray either side against rounding. A full turn wraps ray indices;
        a partial fan tries the item a turn either way too and keeps the pairs inside the fan."""
        ahead = (center - heading - self.rel_angles[0]) % (2 * math.pi)
        if not self._full_turn:
            ahead = np.concatenate([ahead - 2 * math.pi, ahead, ahead + 2 * math.pi])
            half = np.tile(half, 3)
        lo = np.ceil((ahead - half) / self._step).astype(np.int64) - 1
        hi = np.floor((ahead + half) / self._step).astype(np.int64) + 1
        counts = np.maximum(hi - lo + 1, 0)
        total = int(counts.sum())
        item = np.repeat(np.arange(len(ahead)) % len(center), counts)
        ray = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(total)
        n = len(self.rel_angles)
        if self._full_turn:
            return ray % n, item
        inside_fan = (ray >= 0) & (ray < n)
        return ray[inside_fan], item[inside_fan]

    def _cast_walls(self, best: np.ndarray, dx: np.ndarray, dy: np.ndarray, ap: np.ndarray, heading: float) -> None:
        """Lower ``best`` where rays hit walls (starts ``ap`` relative to the robot). Only walls within range whose
        free side faces the robot are tested, each against the rays within the angle it subtends."""
        ex, ey = self._e[:, 0], self._e[:, 1]
        ax, ay = ap[:, 0], ap[:, 1]
        t_near = np.minimum(np.maximum(-(ax * ex + ay * ey) / self._length2, 0.0), 1.0)
        nx, ny = ax + t_near * ex, ay + t_near * ey
        facing = ax * self._normal[:, 0] + ay * self._normal[:, 1] <= 0.0  # the robot is on the wall's free side
        keep = np.flatnonzero(facing & (nx * nx + ny * ny < self.max_dist**2))
        if not len(keep):
            return
        ax, ay, ex, ey = ap[keep, 0], ap[keep, 1], ex[keep], ey[keep]
        angle_a = np.arctan2(ay, ax)
        turn = (np.arctan2(ay + ey, ax + ex) - angle_a + math.pi) % (2 * math.pi) - math.pi
        ray, wall = self._ray_pairs(angle_a + turn / 2, np.abs(turn) / 2, heading)
        rdx, rdy = dx[ray], dy[ray]
        wx, wy, sx, sy = ex[wall], ey[wall], ax[wall], ay[wall]
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / (rdx * wy - rdy * wx)
            t = (sx * wy - sy * wx) * inv
            u = (sx * rdy - sy * rdx) * inv
        hit = (t >= 0) & (u >= 0) & (u <= 1)
        np.minimum.at(best, ray[hit], t[hit])

    def _cast_pedestrians(
        self, best: np.ndarray, dx: np.ndarray, dy: np.ndarray, rel: np.ndarray, heading: float, radius: float
    ) -> None:
        """Lower ``best`` where rays hit pedestrian discs (centres ``rel`` to the robot). Only the rays within each
        disc's angular extent are tested, as (ray, pedestrian) pairs; like Robot SF, discs whose centre is beyond
        range or behind a ray are ignored, and from inside a disc a ray reads the distance to its far edge."""
        d2 = rel[:, 0] ** 2 + rel[:, 1] ** 2
        close = np.flatnonzero(d2 <= self.max_dist**2)
        if not len(close):
            return
        rel, d2 = rel[close], d2[close]
        dist = np.sqrt(d2)
        half = np.where(dist > radius, np.arcsin(np.minimum(1.0, radius / np.maximum(dist, 1e-12))), math.pi / 2)
        ray, ped = self._ray_pairs(np.arctan2(rel[:, 1], rel[:, 0]), half, heading)
        proj = dx[ray] * rel[ped, 0] + dy[ray] * rel[ped, 1]
        disc = radius * radius - d2[ped] + proj * proj
        hit = (disc >= 0) & (proj >= 0)
        root = np.sqrt(disc[hit])
        t = np.where(d2[ped[hit]] <= radius * radius, proj[hit] + root, proj[hit] - root)
        np.minimum.at(best, ray[hit], t)


def _faces(mapdef: MapDefinition) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wall starts, directions and the normals pointing to the side the robot can stand on (out of an obstacle,
    into the map for its edges): a ray only needs the walls whose free side faces it, because the first wall it
    meets is always entered from its free side. Both sides count for a degenerate (zero-area) obstacle."""
    starts, dirs, normals = [], [], []
    for poly in mapdef.obstacles:
        if len(poly) < 2:
            continue
        e = np.roll(poly, -1, axis=0) - poly
        area = 0.5 * float((poly[:, 0] * np.roll(poly[:, 1], -1) - np.roll(poly[:, 0], -1) * poly[:, 1]).sum())
        sign = 0.0 if abs(area) < 1e-12 else math.copysign(1.0, area)
        starts.append(poly)
        dirs.append(e)
        normals.append(sign * np.stack([e[:, 1], -e[:, 0]], axis=1))  # right of a counter-clockwise edge: outside
    w, h = mapdef.width, mapdef.height
    corners = np.array([[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]])  # counter-clockwise: the map is left of each edge
    edges = np.roll(corners, -1, axis=0) - corners
    starts.append(corners)
    dirs.append(edges)
    normals.append(np.stack([-edges[:, 1], edges[:, 0]], axis=1))
    return np.concatenate(starts).astype(np.float64), np.concatenate(dirs), np.concatenate(normals)


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
