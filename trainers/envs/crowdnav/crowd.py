"""Pedestrians as Robot SF populates and moves them, vectorised over the whole crowd.

Population (``robot_sf/ped_npc/ped_population.py``), once per episode: crowded zones get
``ceil(total zone area x density)`` pedestrians, routes ``ceil(total route length x 3 m x density)``, in groups whose
sizes follow ``0.3**k`` (k = 0 .. ``max_peds_per_group`` - 1). A route group stands around a point of a route chosen
by length (``cluster``: a uniform offset; ``spread``: evenly spaced groups), members scattered N(0, 0.75 m) around
it, heading for the end of its route section at 0.5 m/s. Zone groups start and wander in their zone's triangle
(Robot SF samples the triangle of a zone's three stored corners). Nothing keeps pedestrians off the robot's start,
as in Robot SF.

Behaviour per step (before the forces): a route group whose centroid is within 1 m of its waypoint heads for the
next one, and one at the route's end starts again in the route's spawn zone; a zone group within 1 m of its goal
picks a new point of its zone; scripted single pedestrians follow :mod:`trainers.envs.crowdnav.singles`.

Forces (PySocialForce's model as Robot SF configures it; the sum is ``forces``): the desired force
``(max_speed * e - v) / 0.5 s`` (braking inside 0.2 m of the goal); the velocity-dependent social force of
Moussaid et al. (2009) between pedestrians within 20 m (factor 5.1, lambda 2, gamma 0.35, n 2, n' 3); wall segments
(map edges included) pushing with ``10 (p - c) / (|p - c| + 0.57)**4`` from each nearest point ``c``; group
coherence, intra-group repulsion within 0.55 m and group gaze; and, with ``prf_config.is_active``, the robot pushing
pedestrians within ``activation_threshold + 0.35 m + robot radius`` with ``force_multiplier (p - r) / |p - r|**4``.
Speeds are capped at ``peds_speed_mult`` times each pedestrian's initial speed (0.5 m/s for the crowd).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainers.envs.crowdnav.geometry import Segments
from trainers.envs.crowdnav.mapdef import MapDefinition, Zone
from trainers.envs.crowdnav.settings import EnvSettings
from trainers.envs.crowdnav.singles import GOAL_THRESHOLD, MOVING_ROLES, SingleBehaviour, resolve_single_pedestrians

__all__ = ["INITIAL_SPEED", "Crowd"]

TAU = 0.5  # s, relaxation time of the desired force
INITIAL_SPEED = 0.5  # m/s, every crowd pedestrian's initial speed (its top speed is peds_speed_mult times this)
SOCIAL_FACTOR, SOCIAL_LAMBDA, SOCIAL_GAMMA, SOCIAL_N, SOCIAL_N_PRIME, SOCIAL_RANGE = 5.1, 2.0, 0.35, 2, 3, 20.0
OBSTACLE_FACTOR, OBSTACLE_OFFSET = 10.0, 0.57
COHERENCE_FACTOR, REPULSION_FACTOR, REPULSION_RANGE, GAZE_FACTOR = 3.0, 1.0, 0.55, 4.0
PRF_PED_RADIUS = 0.35  # m, the pedestrian radius of PySocialForce's scene, which the robot force adds
GROUP_GOAL_RADIUS = 1.0  # m, a group's centroid this close to its waypoint (zone goal) has reached it
GROUP_SIZE_DECAY = 0.3
ROUTE_ONLY_ZONE_EDGE, FALLBACK_ZONE_EDGE = 1.0, 0.1
Triangle = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass
class _Groups:
    """The crowd's groups (every crowd pedestrian belongs to one), for the route and zone behaviours."""

    members: list[np.ndarray]
    of_row: np.ndarray  # (n_crowd,) the group of each crowd row
    zone: np.ndarray  # (G,) zone index, -1 for route groups
    route: np.ndarray  # (G,) route index, -1 for zone groups
    waypoint: np.ndarray  # (G,) current waypoint index of route groups

    def __post_init__(self) -> None:
        n_rows = len(self.of_row)
        self.mean = np.zeros((len(self.members), n_rows))  # centroids = mean @ positions
        for g, rows in enumerate(self.members):
            self.mean[g, rows] = 1.0 / len(rows)
        self.zoned = np.flatnonzero(self.zone >= 0)
        self.zone_heads = np.array([self.members[g][0] for g in self.zoned], dtype=np.int64)
        self.routed = np.flatnonzero(self.route >= 0)


class Crowd:
    """Positions, velocities and goals of every pedestrian of one episode.

    Rows: crowded-zone pedestrians, then route pedestrians, then the scripted single pedestrians (Robot SF's
    order). ``group`` holds each row's force group (-1: alone); scripted pedestrians may join or leave groups.
    """

    def __init__(self, mapdef: MapDefinition, settings: EnvSettings, single_pedestrians: Sequence[Mapping[str, Any]]):
        self.map = mapdef
        self.settings = settings
        self.radius = settings.sim.ped_radius
        self.singles = resolve_single_pedestrians(mapdef, single_pedestrians)
        self._behaviour = SingleBehaviour(self.singles, first=0)
        self._routes = [np.asarray(r.waypoints, dtype=np.float64) for r in mapdef.ped_routes if len(r.waypoints) >= 2]
        self._route_meta = [r for r in mapdef.ped_routes if len(r.waypoints) >= 2]
        self._route_len = np.array([_length(p) for p in self._routes])
        wmax = max([len(p) for p in self._routes] + [1])
        self._wps = np.zeros((max(1, len(self._routes)), wmax, 2))
        self._wp_count = np.ones(max(1, len(self._routes)), dtype=np.int64)
        for i, p in enumerate(self._routes):
            self._wps[i, : len(p)], self._wps[i, len(p) :] = p, p[-1]
            self._wp_count[i] = len(p)
        self._spawn_triangles = [self._route_spawn_triangle(r) for r in self._route_meta]
        self._walls = Segments(mapdef.segments)
        self.n = 0
        self.pos = np.zeros((0, 2))
        self.vel = np.zeros((0, 2))
        self.goal = np.zeros((0, 2))
        self.max_speed = np.zeros(0)
        self.group = np.zeros(0, dtype=np.int64)
        self.forces = np.zeros((0, 2))  # the total force on each pedestrian in the last step (comfort metrics)

    # ------------------------------------------------------------------ population
    def reset(self, rng: np.random.Generator, robot_pos: np.ndarray | None = None, robot_radius: float = 0.0) -> None:
        """Populate the crowd for a new episode (all randomness from ``rng``; the robot is not avoided)."""
        del robot_pos, robot_radius  # Robot SF spawns pedestrians without looking at the robot
        self._rng = rng
        density = self.settings.sim.ped_density
        pos, vel, goal, members, zone_ids, route_ids, waypoints = [], [], [], [], [], [], []
        row = 0
        for points, first_goal, goal_now, zone in self._zone_groups(rng, density):
            pos.append(points)
            vel.append(np.repeat(_toward(points.mean(0), first_goal, INITIAL_SPEED)[None], len(points), 0))
            goal.append(np.repeat(goal_now[None], len(points), 0))
            members.append(np.arange(row, row + len(points)))
            zone_ids.append(zone)
            route_ids.append(-1)
            waypoints.append(0)
            row += len(points)
        for points, route, section in self._route_groups(rng, density):
            target = self._routes[route][section + 1]
            pos.append(points)
            vel.append(np.repeat(_toward(points.mean(0), target, INITIAL_SPEED)[None], len(points), 0))
            goal.append(np.repeat(target[None], len(points), 0))
            members.append(np.arange(row, row + len(points)))
            zone_ids.append(-1)
            route_ids.append(route)
            waypoints.append(section + 1)
            row += len(points)
        n_crowd = row
        single_pos, single_vel, single_goal = self._single_states()
        self.pos = np.concatenate([*pos, single_pos]) if pos else single_pos
        self.vel = np.concatenate([*vel, single_vel]) if vel else single_vel
        self.goal = np.concatenate([*goal, single_goal]) if goal else single_goal
        self.n = len(self.pos)
        self.max_speed = self.settings.sim.peds_speed_mult * np.sqrt((self.vel**2).sum(1))
        self.group = np.full(self.n, -1, dtype=np.int64)
        for gid, rows in enumerate(members):
            self.group[rows] = gid
        self._groups = _Groups(
            members=members,
            of_row=self.group[:n_crowd].copy(),
            zone=np.asarray(zone_ids, dtype=np.int64),
            route=np.asarray(route_ids, dtype=np.int64),
            waypoint=np.asarray(waypoints, dtype=np.int64),
        )
        self._n_crowd = n_crowd
        self._behaviour = SingleBehaviour(self.singles, first=n_crowd)
        self._behaviour.reset()
        self.forces = np.zeros((self.n, 2))
        self._not_self = ~np.eye(self.n, dtype=bool)
        self._layout_for: np.ndarray | None = None  # the group array the cached group layout belongs to
        self._layout: tuple[np.ndarray, ...] | None = None

    def _zone_groups(
        self, rng: np.random.Generator, density: float
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
        zones = self.map.ped_crowded_zones
        if not zones:
            return []
        areas = np.array([z.area for z in zones])
        remaining = math.ceil(areas.sum() * density)
        out = []
        while remaining > 0:
            size = min(self._group_size(rng), remaining)
            zone = int(rng.choice(len(zones), p=areas / areas.sum()))
            points = self._free_triangle_points(rng, _triangle(zones[zone]), size)
            first_goal = self._free_triangle_points(rng, _triangle(zones[zone]), 1)[0]
            goal_now = zones[zone].sample_triangle(rng, 1)[0]  # the behaviour's reset redirects every group once
            out.append((points, first_goal, goal_now, zone))
            remaining -= size
        return out

    def _route_groups(self, rng: np.random.Generator, density: float) -> list[tuple[np.ndarray, int, int]]:
        if not self._routes:
            return []
        sim = self.settings.sim
        lengths = self._route_len
        total = math.ceil(lengths.sum() * sim.route_width * density)
        probs = lengths / lengths.sum() if lengths.sum() > 0 else np.full(len(lengths), 1 / len(lengths))
        out = []
        if sim.route_spawn_distribution == "spread" and total > 0:
            gen = np.random.default_rng(sim.route_spawn_seed) if sim.route_spawn_seed is not None else rng
            sizes = []
            while total > 0:
                sizes.append(min(self._group_size(gen), total))
                total -= sizes[-1]
            routes = gen.choice(len(self._routes), size=len(sizes), p=probs)
            for route in sorted(set(int(r) for r in routes)):
                mine = [g for g, r in enumerate(routes) if int(r) == route]
                spacing = lengths[route] / max(len(mine), 1)
                jitter = spacing * sim.route_spawn_jitter_frac
                for order, g in enumerate(mine):
                    offset = (order + 0.5) * spacing + (float(gen.uniform(-jitter, jitter)) if jitter > 0 else 0.0)
                    offset = float(np.clip(offset, 0.0, lengths[route]))
                    points, section = self._points_on_route(gen, route, sizes[g], offset)
                    out.append((points, route, section))
            return out
        while total > 0:
            size = min(self._group_size(rng), total)
            route = int(rng.choice(len(self._routes), p=probs))
            points, section = self._points_on_route(rng, route, size, None)
            out.append((points, route, section))
            total -= size
        return out

    def _group_size(self, rng: np.random.Generator) -> int:
        k = max(1, int(self.settings.sim.max_peds_per_group))
        weights = GROUP_SIZE_DECAY ** np.arange(k)
        return int(rng.choice(k, p=weights / weights.sum())) + 1

    def _points_on_route(
        self, rng: np.random.Generator, route: int, size: int, offset: float | None
    ) -> tuple[np.ndarray, int]:
        """``size`` points scattered around a point of ``route`` (at ``offset`` or a random one) and its section."""
        width = self.settings.sim.route_width
        length = float(self._route_len[route])
        at = float(rng.uniform(0, length)) if offset is None else offset
        for _ in range(5):
            anchor, section = _point_at(self._routes[route], at)
            if not self.map.inside_obstacle(anchor[None])[0]:
                points = self._scatter(rng, anchor, size, width)
                if len(points) == size:
                    return points, section
            at = float(rng.uniform(0, length))
        anchor, section = _point_at(self._routes[route], at)
        return np.repeat(anchor[None], size, 0) + rng.normal(0, 0.1, (size, 2)), section

    def _scatter(self, rng: np.random.Generator, anchor: np.ndarray, size: int, width: float) -> np.ndarray:
        """Points around ``anchor``: N(0, width / 4) per axis clipped to the sidewalk, off obstacles."""
        chosen: list[np.ndarray] = []
        attempts, limit = 0, size * 50
        while len(chosen) < size and attempts < limit:
            std = width / 4 * max(0.2, 1.0 - attempts / limit)
            batch = np.clip(rng.normal(0.0, std, (size, 2)), -width / 2, width / 2) + anchor
            attempts += size
            ok = ~self.map.inside_obstacle(batch)
            chosen.extend(batch[ok][: size - len(chosen)])
        return np.asarray(chosen).reshape(-1, 2)

    def _free_triangle_points(self, rng: np.random.Generator, tri: Triangle, size: int) -> np.ndarray:
        """``size`` uniform points of a triangle that are not inside an obstacle (what fits, if it is walled in)."""
        chosen: list[np.ndarray] = []
        for _ in range(20):
            batch = _sample_triangle(rng, tri, max(2 * size, 4))
            chosen.extend(batch[~self.map.inside_obstacle(batch)][: size - len(chosen)])
            if len(chosen) >= size:
                return np.asarray(chosen)
        while len(chosen) < size:
            chosen.append(_sample_triangle(rng, tri, 1)[0])
        return np.asarray(chosen)

    def _route_spawn_triangle(self, route: Any) -> Triangle:
        """Where a route's group starts again: its spawn zone, or a small triangle at its first point."""
        zones = self.map.ped_spawn_zones
        if zones and 0 <= route.spawn_id < len(zones):
            return _triangle(zones[route.spawn_id])
        edge = FALLBACK_ZONE_EDGE if zones else ROUTE_ONLY_ZONE_EDGE
        x, y = np.asarray(route.waypoints[0], dtype=np.float64)
        return np.array([x, y]), np.array([x + edge, y]), np.array([x + edge, y + edge])

    def _single_states(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Start, initial velocity and first goal of the scripted pedestrians (Robot SF's initial states)."""
        k = len(self.singles)
        pos, vel, goal = np.zeros((k, 2)), np.zeros((k, 2)), np.zeros((k, 2))
        for i, p in enumerate(self.singles):
            pos[i] = p.start
            target = p.goal if p.goal is not None else (p.trajectory[0] if p.trajectory else None)
            if target is not None:
                vel[i] = _toward(p.start, target, p.speed)
                goal[i] = target
            else:
                vel[i] = (p.speed, 0.0) if p.role in MOVING_ROLES else (0.0, 0.0)
                goal[i] = p.start
        return pos, vel, goal

    # ------------------------------------------------------------------ step
    def step(self, dt: float, robot_pos: np.ndarray, robot_theta: float, robot_radius: float, prf: bool) -> None:
        """Advance every pedestrian by ``dt`` seconds (behaviours, then forces, then integration)."""
        if self.n == 0:
            return
        self._behave(robot_pos, robot_theta, dt)
        force = self._desired() + self._social()
        if self.settings.peds_have_static_obstacle_forces:
            force += _obstacle_forces(self.pos, self._walls)
        force += self._group_forces()
        if prf:
            sim = self.settings.sim
            force += _robot_force(
                self.pos,
                robot_pos,
                sim.prf_activation_threshold + PRF_PED_RADIUS + robot_radius,
                sim.prf_force_multiplier,
            )
        self.forces = force
        vel = self.vel + dt * force
        speed = np.hypot(vel[:, 0], vel[:, 1])
        scale = np.minimum(self.max_speed, speed) / np.where(speed > 0, speed, 1.0)  # 0 for a standing pedestrian
        self.vel = vel * scale[:, None]
        self.pos = self.pos + self.vel * dt

    def _behave(self, robot_pos: np.ndarray, robot_theta: float, dt: float) -> None:
        groups = self._groups
        if groups.members:
            centroids = groups.mean @ self.pos[: self._n_crowd]
            if len(groups.zoned):
                off = centroids[groups.zoned] - self.goal[groups.zone_heads]
                for g in groups.zoned[(off * off).sum(1) < GROUP_GOAL_RADIUS**2]:
                    zone = self.map.ped_crowded_zones[int(groups.zone[g])]
                    self.goal[groups.members[g]] = zone.sample_triangle(self._rng, 1)[0]
            if len(groups.routed):
                routed = groups.routed
                route = groups.route[routed]
                off = self._wps[route, groups.waypoint[routed]] - centroids[routed]
                reached = (off * off).sum(1) <= GROUP_GOAL_RADIUS**2
                off = self._wps[route, self._wp_count[route] - 1] - centroids[routed]
                arrived = (off * off).sum(1) <= GROUP_GOAL_RADIUS**2
                for i in np.flatnonzero(reached | arrived):
                    g, r = routed[i], int(route[i])
                    members = groups.members[g]
                    if reached[i]:
                        groups.waypoint[g] = min(groups.waypoint[g] + 1, self._wp_count[r] - 1)
                    if arrived[i]:  # back to the start of its route
                        start = self._spawn_triangles[r]
                        self.pos[members] = self._free_triangle_points(self._rng, start, len(members))
                        self.goal[members] = self._wps[r, 0]
                        groups.waypoint[g] = 0
                    else:
                        self.goal[members] = self._wps[r, groups.waypoint[g]]
        if self.singles:
            first = self._n_crowd
            targets, hold = self._behaviour.update(self.pos, self.group, robot_pos, robot_theta, dt)
            self.goal[first:] = targets
            self.vel[first:][hold] = 0.0

    def _desired(self) -> np.ndarray:
        to_goal = self.goal - self.pos
        dist = np.hypot(to_goal[:, 0], to_goal[:, 1])
        direction = _unit(to_goal, dist)
        moving = (dist > GOAL_THRESHOLD)[:, None]
        return np.where(moving, direction * self.max_speed[:, None] - self.vel, -self.vel) / TAU

    def _social(self) -> np.ndarray:
        """Moussaid et al.'s velocity-dependent repulsion, all pairs within ``SOCIAL_RANGE`` at once."""
        if self.n < 2:
            return np.zeros((self.n, 2))
        px, py, vx, vy = self.pos[:, 0], self.pos[:, 1], self.vel[:, 0], self.vel[:, 1]
        dx, dy = px[:, None] - px[None, :], py[:, None] - py[None, :]  # p_i - p_j
        dist = np.hypot(dx, dy)
        safe = np.where(dist > 0, dist, 1.0)
        ux, uy = dx / safe, dy / safe
        ix = SOCIAL_LAMBDA * (vx[None, :] - vx[:, None]) + ux
        iy = SOCIAL_LAMBDA * (vy[None, :] - vy[:, None]) + uy
        length = np.hypot(ix, iy)
        safe = np.where(length > 0, length, 1.0)
        ix, iy = ix / safe, iy / safe
        theta = np.arctan2(iy, ix) - np.arctan2(uy, ux)
        b = SOCIAL_GAMMA * length + 1e-8
        base = -dist / b
        bt = b * theta
        along = np.exp(base - (SOCIAL_N_PRIME * bt) ** 2)
        across = np.exp(base - (SOCIAL_N * bt) ** 2)
        across = np.where(theta >= 0, -across, across)
        near = self._not_self & (dist <= SOCIAL_RANGE)
        fx = np.add.reduce(np.where(near, ix * along - iy * across, 0.0), axis=1)
        fy = np.add.reduce(np.where(near, iy * along + ix * across, 0.0), axis=1)
        return SOCIAL_FACTOR * np.stack([fx, fy], axis=1)

    def _group_forces(self) -> np.ndarray:
        """Coherence towards the group centroid, repulsion between close members, and gaze (Moussaid et al. 2010)."""
        layout = self._group_layout()
        if layout is None:
            return np.zeros((self.n, 2))
        rows, size, mean, pairs = layout
        pos = self.pos[rows]
        to_centroid = mean @ pos - pos
        # coherence: softened pull to the centroid
        soft = 0.5 * COHERENCE_FACTOR * (np.tanh(np.hypot(to_centroid[:, 0], to_centroid[:, 1]) - (size - 1) / 2) + 1)
        force = to_centroid * soft[:, None]
        # repulsion between members closer than REPULSION_RANGE
        diff = pos[:, None, :] - pos[None, :, :]
        close = pairs & ((diff * diff).sum(-1) <= REPULSION_RANGE**2)
        force += REPULSION_FACTOR * (diff * close[..., None]).sum(1)
        # gaze: turn the walking direction towards the other members' centroid
        others = to_centroid * (size / (size - 1))[:, None]  # centroid without oneself, relative to oneself
        others_dist = np.hypot(others[:, 0], others[:, 1])
        to_goal = self.goal[rows] - pos
        goal_dist = np.hypot(to_goal[:, 0], to_goal[:, 1])
        heading = _unit(to_goal, goal_dist)
        align = (heading * _unit(others, others_dist)).sum(1)
        factor = np.where(goal_dist > 1e-6, others_dist * align / np.where(goal_dist > 1e-6, goal_dist, 1.0), 0.0)
        force += GAZE_FACTOR * heading * factor[:, None]
        out = np.zeros((self.n, 2))
        out[rows] = force
        return out

    def _group_layout(self) -> tuple[np.ndarray, ...] | None:
        """Members of groups of two or more: their rows, group sizes, the centroid matrix and the member-pair mask;
        recomputed only when someone joins or leaves (None without such groups)."""
        if self._layout_for is None or not np.array_equal(self._layout_for, self.group):
            self._layout_for = self.group.copy()
            ids, counts = np.unique(self.group[self.group >= 0], return_counts=True)
            rows = np.flatnonzero(np.isin(self.group, ids[counts > 1]))
            if not len(rows):
                self._layout = None
            else:
                same = self.group[rows][:, None] == self.group[rows][None, :]
                size = same.sum(1).astype(np.float64)
                self._layout = (rows, size, same / size[:, None], same & ~np.eye(len(rows), dtype=bool))
        return self._layout


def _triangle(zone: Zone) -> Triangle:
    """Robot SF's three stored corners of a zone: (xmin, ymin), (xmax, ymin), (xmax, ymax)."""
    return (
        np.array([zone.xmin, zone.ymin]),
        np.array([zone.xmax, zone.ymin]),
        np.array([zone.xmax, zone.ymax]),
    )


def _sample_triangle(rng: np.random.Generator, tri: Triangle, n: int) -> np.ndarray:
    a, b, c = tri
    u, v = rng.random(n), rng.random(n)
    fold = u + v > 1.0
    u[fold], v[fold] = 1.0 - u[fold], 1.0 - v[fold]
    return b + u[:, None] * (a - b) + v[:, None] * (c - b)


def _unit(vectors: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``vectors / lengths``, zero where the length is zero."""
    return vectors / np.where(lengths > 0, lengths, 1.0)[..., None]  # a zero vector stays zero


def _toward(start: np.ndarray, target: np.ndarray, speed: float) -> np.ndarray:
    d = np.asarray(target, dtype=np.float64) - np.asarray(start, dtype=np.float64)
    angle = math.atan2(d[1], d[0])
    return np.array([math.cos(angle), math.sin(angle)]) * speed


def _obstacle_forces(pos: np.ndarray, walls: Segments) -> np.ndarray:
    """Sum over wall segments of ``(p - c) / (|p - c| + 0.57)**4`` from each segment's nearest point ``c``."""
    wx, wy = walls.offsets(pos[:, 0], pos[:, 1])
    reach = np.hypot(wx, wy) + OBSTACLE_OFFSET
    scale = reach * reach
    scale = OBSTACLE_FACTOR / (scale * scale)
    return np.stack([np.add.reduce(wx * scale, axis=1), np.add.reduce(wy * scale, axis=1)], axis=1)


def _robot_force(pos: np.ndarray, robot_pos: np.ndarray, reach: float, multiplier: float) -> np.ndarray:
    """The robot's push on pedestrians within ``reach``: ``multiplier (p - r) / |p - r|**4``."""
    away = pos - robot_pos
    dist2 = away[:, 0] ** 2 + away[:, 1] ** 2
    inside = (dist2 <= reach * reach) & (dist2 > 0)
    scale = np.where(inside, multiplier / np.where(inside, dist2 * dist2, 1.0), 0.0)
    return away * scale[:, None]


def _length(path: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum())


def _point_at(path: np.ndarray, offset: float) -> tuple[np.ndarray, int]:
    """The point ``offset`` metres along ``path`` and the index of its section."""
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    remaining = float(np.clip(offset, 0.0, seg.sum()))
    for i, length in enumerate(seg):
        if remaining <= length or i == len(seg) - 1:
            ratio = remaining / length if length > 0 else 0.0
            return path[i] + ratio * (path[i + 1] - path[i]), i
        remaining -= length
    return path[-1].copy(), len(seg) - 1
