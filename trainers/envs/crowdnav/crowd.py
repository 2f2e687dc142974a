"""Pedestrians: social-force dynamics vectorised over the whole crowd (no per-pedestrian loop in the forces).

Every pedestrian steers towards a target point. Route pedestrians walk the waypoints of a ``ped_route`` and start
again at its beginning when they reach the end; crowded-zone pedestrians wander between random points of their zone;
scripted single pedestrians (the map's and the scenario's ``single_pedestrians``) follow Robot SF's rules for
goals, trajectories, waits and roles (:mod:`trainers.envs.crowdnav.singles`). Forces (Helbing & Molnar 1995,
exponential form): relaxation to the desired velocity, pedestrian repulsion with an anisotropic field of view,
obstacle repulsion from the nearest point of every wall segment (``peds_have_static_obstacle_forces``), repulsion
from the robot (``prf_config.is_active``) and cohesion inside groups, plus a small random fluctuation (from the
episode's seeded generator).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from trainers.envs.crowdnav.mapdef import MapDefinition, Zone
from trainers.envs.crowdnav.settings import EnvSettings
from trainers.envs.crowdnav.singles import GOAL_THRESHOLD, SingleBehaviour, resolve_single_pedestrians

__all__ = ["Crowd"]

TAU = 0.5  # s, relaxation time
PED_A, PED_B, FOV_LAMBDA = 3.5, 0.3, 0.35
OBST_A, OBST_B = 5.0, 0.2
ROBOT_A, ROBOT_B = 4.0, 0.35
NOISE = 0.1  # m/s^2, Helbing's fluctuation term: breaks symmetric deadlocks
GROUP_K, GROUP_MAX = 1.0, 1.0  # cohesion grows with the gap but stays below the pull of the goal
WAYPOINT_RADIUS = 1.0
KIND_ROUTE, KIND_ZONE, KIND_SINGLE = 0, 1, 2


class _Spawn:
    """Rows of a crowd being spawned (positions and what each pedestrian follows)."""

    def __init__(self) -> None:
        self.pos: list[np.ndarray] = []
        self.placed = np.zeros((0, 2))
        self.route: list[int] = []
        self.waypoint: list[int] = []
        self.group: list[int] = []
        self.kind: list[int] = []
        self.zone_box: list[tuple[float, float, float, float]] = []

    def add(
        self,
        points: np.ndarray,
        *,
        route: int,
        waypoint: int,
        group: int,
        kind: int,
        box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0),
    ) -> None:
        n = len(points)
        self.pos.append(points)
        self.placed = np.concatenate([self.placed, points])
        self.route += [route] * n
        self.waypoint += [waypoint] * n
        self.group += [group] * n
        self.kind += [kind] * n
        self.zone_box += [box] * n


class Crowd:
    """Positions and velocities of every pedestrian of one episode, plus what each one is heading for.

    Rows: route pedestrians, then crowded-zone pedestrians, then the scripted single pedestrians (``singles``).
    """

    def __init__(self, mapdef: MapDefinition, settings: EnvSettings, single_pedestrians: Sequence[Mapping[str, Any]]):
        self.map = mapdef
        self.settings = settings
        self.radius = settings.sim.ped_radius
        self.singles = resolve_single_pedestrians(mapdef, single_pedestrians)
        self._behaviour = SingleBehaviour(self.singles, first=0)
        self.n = 0
        self.pos = np.zeros((0, 2))
        self.vel = np.zeros((0, 2))
        self.forces = np.zeros((0, 2))  # the total force on each pedestrian in the last step (comfort metrics)

    # ------------------------------------------------------------------ setup
    def reset(self, rng: np.random.Generator, robot_pos: np.ndarray, robot_radius: float) -> None:
        """Spawn the crowd for a new episode (all randomness from ``rng``)."""
        sim = self.settings.sim
        routes = [p for p in (self._route_path(r) for r in self.map.ped_routes) if len(p) >= 2]
        counts = [round(sim.ped_density * _length(p) * sim.route_width) for p in routes]
        zone_counts = [round(sim.ped_density * z.area) for z in self.map.ped_crowded_zones]
        counts, zone_counts = _cap(counts, zone_counts, max(0, self.settings.max_pedestrians - len(self.singles)))
        self._set_route_table(routes)
        spawn = _Spawn()
        self._spawn_routes(rng, spawn, routes, counts, robot_pos, robot_radius)
        self._spawn_zones(rng, spawn, zone_counts, robot_pos, robot_radius)
        n_crowd = len(spawn.kind)
        for p in self.singles:
            spawn.add(p.start[None, :], route=0, waypoint=0, group=-1, kind=KIND_SINGLE)

        self.n = len(spawn.kind)
        self.pos = np.concatenate(spawn.pos) if spawn.pos else np.zeros((0, 2))
        self.route_id = np.asarray(spawn.route, dtype=np.int64)
        self.wp_idx = np.asarray(spawn.waypoint, dtype=np.int64)
        self.group = np.asarray(spawn.group, dtype=np.int64)
        self.kind = np.asarray(spawn.kind, dtype=np.int64)
        self.zone_box = np.asarray(spawn.zone_box, dtype=np.float64).reshape(-1, 4)
        pref = np.clip(rng.normal(1.2, 0.15, self.n), 0.6, 1.8)
        self.pref_speed = pref
        self.max_speed = pref * sim.peds_speed_mult
        # Robot SF's physics: top speed = speed multiplier x initial speed; a pedestrian that starts still never moves.
        single_speed = [p.speed * sim.peds_speed_mult if p.starts_moving else 0.0 for p in self.singles]
        self.pref_speed[n_crowd:] = single_speed
        self.max_speed[n_crowd:] = single_speed
        self.zone_target = np.where(self.kind[:, None] == KIND_ZONE, self.pos, 0.0)
        self._resample_zone_targets(rng, self.kind == KIND_ZONE)
        self._behaviour = SingleBehaviour(self.singles, first=n_crowd)
        self._behaviour.reset()
        self.vel = np.zeros((self.n, 2))
        self.forces = np.zeros((self.n, 2))
        if self.singles:  # they start walking towards their first target at their initial speed (Robot SF)
            heading = self._behaviour.initial_targets() - self.pos[n_crowd:]
            norm = np.maximum(np.linalg.norm(heading, axis=1, keepdims=True), 1e-9)
            self.vel[n_crowd:] = heading / norm * np.asarray(single_speed)[:, None] / sim.peds_speed_mult
        self._n_crowd = n_crowd
        self._rng = rng
        self._self_distance = np.eye(self.n) * 1e6  # keeps a pedestrian from repelling itself
        self._any_zone = bool((self.kind == KIND_ZONE).any())

    def _set_route_table(self, routes: list[np.ndarray]) -> None:
        """Waypoint table, one row per pedestrian route, padded with its last point."""
        wmax = max([len(p) for p in routes] + [1])
        self._wps = np.zeros((max(1, len(routes)), wmax, 2))
        self._route_len = np.ones(max(1, len(routes)), dtype=np.int64)
        for i, p in enumerate(routes):
            self._wps[i, : len(p)] = p
            self._wps[i, len(p) :] = p[-1]
            self._route_len[i] = len(p)

    def _spawn_routes(
        self,
        rng: np.random.Generator,
        spawn: _Spawn,
        routes: list[np.ndarray],
        counts: list[int],
        robot_pos: np.ndarray,
        robot_radius: float,
    ) -> None:
        next_group = 0
        for r, (path, count) in enumerate(zip(routes, counts, strict=True)):
            for size in _group_sizes(rng, count, self.settings.sim.max_peds_per_group):
                p, seg = self._spawn_on_route(rng, path, size, spawn.placed, robot_pos, robot_radius)
                spawn.add(p, route=r, waypoint=seg, group=next_group if size > 1 else -1, kind=KIND_ROUTE)
                next_group += size > 1

    def _spawn_zones(
        self,
        rng: np.random.Generator,
        spawn: _Spawn,
        zone_counts: list[int],
        robot_pos: np.ndarray,
        robot_radius: float,
    ) -> None:
        for zone, count in zip(self.map.ped_crowded_zones, zone_counts, strict=True):
            sampler = functools.partial(_sample_zone, zone, rng)
            for _ in range(count):
                p = self._free_points(rng, sampler, 1, spawn.placed, robot_pos, robot_radius)
                box = (zone.xmin, zone.ymin, zone.xmax, zone.ymax)
                spawn.add(p, route=0, waypoint=0, group=-1, kind=KIND_ZONE, box=box)

    def _route_path(self, route: Any) -> np.ndarray:
        pts = [route.waypoints]
        if self.map.ped_spawn_zones and route.spawn_id < len(self.map.ped_spawn_zones):
            pts.insert(0, self.map.ped_spawn_zones[route.spawn_id].center[None, :])
        if self.map.ped_goal_zones and route.goal_id < len(self.map.ped_goal_zones):
            pts.append(self.map.ped_goal_zones[route.goal_id].center[None, :])
        return np.concatenate(pts, axis=0)

    def _spawn_on_route(
        self,
        rng: np.random.Generator,
        path: np.ndarray,
        size: int,
        placed: np.ndarray,
        robot_pos: np.ndarray,
        robot_radius: float,
    ) -> tuple[np.ndarray, int]:
        """A group of ``size`` along ``path`` (leader sampled on the route), and the waypoint they walk to first."""
        sim = self.settings.sim
        seg_len = np.linalg.norm(np.diff(path, axis=0), axis=1)
        cum = np.concatenate([[0.0], np.cumsum(seg_len)])
        lateral = sim.route_width * (0.5 + sim.route_spawn_jitter_frac)

        def sample(k: int) -> np.ndarray:
            if sim.route_spawn_distribution == "spread":
                s = rng.random(k) * cum[-1]
            else:
                s = rng.random(k) * min(cum[-1], 3.0)
            seg = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(seg_len) - 1)
            t = (s - cum[seg]) / np.maximum(seg_len[seg], 1e-9)
            base = path[seg] + t[:, None] * (path[seg + 1] - path[seg])
            d = (path[seg + 1] - path[seg]) / np.maximum(seg_len[seg], 1e-9)[:, None]
            normal = np.stack([-d[:, 1], d[:, 0]], axis=1)
            return base + normal * (rng.random((k, 1)) - 0.5) * lateral

        leader = self._free_points(rng, sample, 1, placed, robot_pos, robot_radius)
        seg = int(np.clip(np.searchsorted(cum, _arc_position(path, leader[0]), side="right"), 1, len(path) - 1))
        if size == 1:
            return leader, seg
        members = self._free_points(
            rng,
            lambda k: leader + (rng.random((k, 2)) - 0.5) * 2.5,
            size - 1,
            np.concatenate([placed, leader]),
            robot_pos,
            robot_radius,
        )
        return np.concatenate([leader, members]), seg

    def _free_points(
        self,
        rng: np.random.Generator,
        sampler: Callable[[int], np.ndarray],
        count: int,
        placed: np.ndarray,
        robot_pos: np.ndarray,
        robot_radius: float,
    ) -> np.ndarray:
        """``count`` points from ``sampler`` outside obstacles, apart from each other and from the robot."""
        chosen: list[np.ndarray] = []
        keep_out = robot_radius + self.radius + 1.0
        for _ in range(20):
            cand = sampler(max(8, 4 * count))
            ok = ~self.map.inside_obstacle(cand) & (np.linalg.norm(cand - robot_pos, axis=1) > keep_out)
            ok &= (cand[:, 0] > 0) & (cand[:, 1] > 0) & (cand[:, 0] < self.map.width) & (cand[:, 1] < self.map.height)
            for c in cand[ok]:
                others = np.concatenate([placed, *[x[None] for x in chosen]]) if chosen else placed
                if len(others) == 0 or np.min(np.linalg.norm(others - c, axis=1)) > 2 * self.radius + 0.05:
                    chosen.append(c)
                    if len(chosen) == count:
                        return np.asarray(chosen)
        if chosen:  # a crowded spot: place what fits on top rather than fail the episode
            while len(chosen) < count:
                chosen.append(chosen[-1] + rng.normal(0, 0.3, 2))
            return np.asarray(chosen)
        return np.asarray(sampler(count))[:count]

    def _resample_zone_targets(self, rng: np.random.Generator, mask: np.ndarray) -> None:
        k = int(mask.sum())
        if k:
            box = self.zone_box[mask]
            self.zone_target[mask] = box[:, :2] + rng.random((k, 2)) * (box[:, 2:] - box[:, :2])

    # ------------------------------------------------------------------ step
    def step(self, dt: float, robot_pos: np.ndarray, robot_theta: float, robot_radius: float, prf: bool) -> None:
        """Advance every pedestrian by ``dt`` seconds."""
        if self.n == 0:
            return
        pos, vel = self.pos, self.vel
        target = self._wps[self.route_id, self.wp_idx]
        if self._any_zone:
            target = np.where((self.kind == KIND_ZONE)[:, None], self.zone_target, target)
        first = self._n_crowd
        hold = None
        if self.singles:
            single_target, hold = self._behaviour.update(pos, self.group, robot_pos, robot_theta, dt)
            target[first:] = single_target
            vel[first:][hold] = 0.0  # waiting or holding: stands, though others may still push it

        to_target = target - pos
        dist = np.sqrt((to_target**2).sum(1))
        direction = to_target / np.maximum(dist, 1e-9)[:, None]
        speed = self.pref_speed.copy()
        if self._any_zone:  # zone wanderers slow down when arriving at their point
            zone = self.kind == KIND_ZONE
            speed[zone] = np.minimum(speed[zone], dist[zone] / TAU)
        if self.singles:  # scripted pedestrians brake within the goal threshold, as PySocialForce's desired force
            speed[first:] = np.where(dist[first:] > GOAL_THRESHOLD, self.max_speed[first:], 0.0)
        force = (direction * speed[:, None] - vel) / TAU

        # Pedestrian-pedestrian repulsion, anisotropic (less from behind).
        diff = pos[:, None, :] - pos[None, :, :]
        d = np.sqrt((diff**2).sum(-1)) + self._self_distance
        n_ij = diff / d[..., None]
        mag = PED_A * np.exp((2 * self.radius - d) / PED_B)
        cos_phi = -(n_ij * direction[:, None, :]).sum(-1)
        mag *= FOV_LAMBDA + (1 - FOV_LAMBDA) * (1 + cos_phi) / 2
        force += (mag[..., None] * n_ij).sum(1)

        if self.settings.peds_have_static_obstacle_forces and len(self.map.segments):
            force += _segment_repulsion(pos, self.map.segments, self.radius)
        if prf:
            rd = pos - robot_pos
            rdist = np.sqrt((rd**2).sum(1))
            rmag = ROBOT_A * np.exp((robot_radius + self.radius - rdist) / ROBOT_B)
            force += (rmag / np.maximum(rdist, 1e-9))[:, None] * rd
        if bool((self.group >= 0).any()):
            force += self._cohesion(pos)
        noise = self._rng.normal(0.0, NOISE, force.shape)
        force += noise if not self.singles else noise * (speed > 0)[:, None]  # who stands still does not jitter

        self.forces = force
        vel = vel + force * dt
        sp = np.sqrt((vel**2).sum(1))
        vel *= np.minimum(1.0, self.max_speed / np.maximum(sp, 1e-9))[:, None]
        self.vel = vel
        self.pos = pos + vel * dt
        self._advance_crowd(dist)

    def _cohesion(self, pos: np.ndarray) -> np.ndarray:
        g = self.group
        member = g >= 0
        gid = np.where(member, g, 0)
        counts = np.bincount(gid, weights=member.astype(float))
        cx = np.bincount(gid, weights=pos[:, 0] * member) / np.maximum(counts, 1)
        cy = np.bincount(gid, weights=pos[:, 1] * member) / np.maximum(counts, 1)
        to_c = np.stack([cx[gid], cy[gid]], 1) - pos
        dist = np.sqrt((to_c**2).sum(1))
        pull = np.minimum(GROUP_MAX, GROUP_K * np.maximum(0.0, dist - 0.5 * np.sqrt(counts[gid])))
        return np.where(member[:, None], pull[:, None] * to_c / np.maximum(dist, 1e-9)[:, None], 0.0)

    def _advance_crowd(self, dist: np.ndarray) -> None:
        """Route waypoints reached, routes restarted at their end, zone targets renewed (all vectorised)."""
        route = self.kind == KIND_ROUTE
        reached = (dist < WAYPOINT_RADIUS) & route
        if reached.any():
            at_end = reached & (self.wp_idx >= self._route_len[self.route_id] - 1)
            self.wp_idx = np.where(reached & ~at_end, self.wp_idx + 1, self.wp_idx)
            if at_end.any():  # back to the start of the route, where fresh pedestrians would enter
                k = int(at_end.sum())
                self.pos[at_end] = self._wps[self.route_id[at_end], 0] + self._rng.normal(0, 0.3, (k, 2))
                self.vel[at_end] = 0.0
                self.wp_idx[at_end] = 1
        if self._any_zone:
            zone_reached = (self.kind == KIND_ZONE) & (np.linalg.norm(self.zone_target - self.pos, axis=1) < 0.5)
            self._resample_zone_targets(self._rng, zone_reached)


def _segment_repulsion(pos: np.ndarray, segs: np.ndarray, radius: float) -> np.ndarray:
    """Sum over wall segments of an exponential push away from each segment's nearest point."""
    a = segs[None, :, :2]
    ab = segs[None, :, 2:] - a
    ap = pos[:, None, :] - a
    t = np.clip((ap * ab).sum(-1) / np.maximum((ab**2).sum(-1), 1e-12), 0.0, 1.0)
    away = ap - t[..., None] * ab
    d = np.sqrt((away**2).sum(-1))
    mag = OBST_A * np.exp((radius - d) / OBST_B) / np.maximum(d, 1e-9)
    return (mag[..., None] * away).sum(1)


def _sample_zone(zone: Zone, rng: np.random.Generator, k: int) -> np.ndarray:
    return zone.sample(rng, k)


def _length(path: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum())


def _arc_position(path: np.ndarray, point: np.ndarray) -> float:
    """Arc length of the route point nearest ``point``."""
    seg_len = np.linalg.norm(np.diff(path, axis=0), axis=1)
    a, b = path[:-1], path[1:]
    ab = b - a
    t = np.clip(((point - a) * ab).sum(1) / np.maximum((ab**2).sum(1), 1e-12), 0, 1)
    dist = np.linalg.norm(a + t[:, None] * ab - point, axis=1)
    i = int(np.argmin(dist))
    return float(seg_len[:i].sum() + t[i] * seg_len[i] + 1e-6)


def _group_sizes(rng: np.random.Generator, count: int, max_size: int) -> list[int]:
    sizes = []
    while count > 0:
        size = min(count, int(rng.integers(1, max(1, max_size) + 1)))
        sizes.append(size)
        count -= size
    return sizes


def _cap(counts: list[int], zone_counts: list[int], capacity: int) -> tuple[list[int], list[int]]:
    total = sum(counts) + sum(zone_counts)
    if total <= capacity:
        return counts, zone_counts
    scale = capacity / total
    counts = [int(c * scale) for c in counts]
    zone_counts = [int(c * scale) for c in zone_counts]
    return counts, zone_counts
