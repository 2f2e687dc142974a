"""Pedestrians: social-force dynamics vectorised over the whole crowd (no per-pedestrian loop in a step).

Every pedestrian steers towards a target point. Route pedestrians walk the waypoints of a ``ped_route`` and start
again at its beginning when they reach the end; crowded-zone pedestrians wander between random points of their zone;
scripted single pedestrians (scenario ``single_pedestrians``) walk their trajectory with waits, or keep an offset
from the robot (role lead / follow / accompany). Forces (Helbing & Molnar 1995, exponential form): relaxation to the
desired velocity, pedestrian repulsion with an anisotropic field of view, obstacle repulsion from the nearest point
of every wall segment (``peds_have_static_obstacle_forces``), repulsion from the robot (``prf_config.is_active``)
and cohesion inside groups, plus a small random fluctuation (from the episode's seeded generator).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from trainers.envs.crowdnav.mapdef import MapDefinition, MapError, Zone
from trainers.envs.crowdnav.settings import EnvSettings

__all__ = ["Crowd"]

TAU = 0.5  # s, relaxation time
PED_A, PED_B, FOV_LAMBDA = 3.5, 0.3, 0.35
OBST_A, OBST_B = 5.0, 0.2
ROBOT_A, ROBOT_B = 4.0, 0.35
NOISE = 0.1  # m/s^2, Helbing's fluctuation term: breaks symmetric deadlocks
GROUP_K, GROUP_MAX = 1.0, 1.0  # cohesion grows with the gap but stays below the pull of the goal
WAYPOINT_RADIUS = 1.0
ROLE_OFFSETS = {"lead": (2.0, 0.0), "follow": (-1.5, 0.0), "accompany": (0.0, 1.2)}
KIND_ROUTE, KIND_ZONE, KIND_ROLE, KIND_STILL = 0, 1, 2, 3


class Crowd:
    """Positions and velocities of every pedestrian of one episode, plus what each one is heading for."""

    def __init__(self, mapdef: MapDefinition, settings: EnvSettings, single_pedestrians: Sequence[Mapping[str, Any]]):
        self.map = mapdef
        self.settings = settings
        self.radius = settings.sim.ped_radius
        self._singles = [self._resolve_single(p) for p in single_pedestrians]
        self.n = 0
        self.pos = np.zeros((0, 2))
        self.vel = np.zeros((0, 2))

    # ------------------------------------------------------------------ setup
    def _point(self, spec: Any, poi: Any, fallback_key: str, where: str, required: bool) -> np.ndarray | None:
        if spec is not None and not isinstance(spec, str):
            return np.asarray(spec, dtype=np.float64).reshape(2)
        name = poi if poi is not None else spec
        if name is not None:
            for key in (str(name), f"poi_{name}"):
                if key in self.map.pois:
                    return self.map.pois[key].copy()
            raise MapError(f"{self.map.source}: {where} names POI {name!r}; the map has {sorted(self.map.pois)}")
        if fallback_key in self.map.single_ped_points:
            return self.map.single_ped_points[fallback_key].copy()
        if required:
            raise MapError(f"{self.map.source}: {where}: no start; add a single_ped_{fallback_key} circle or start")
        return None

    def _resolve_single(self, ped: Mapping[str, Any]) -> dict[str, Any]:
        pid = str(ped["id"])
        where = f"single pedestrian {pid!r}"
        start = self._point(ped.get("start"), ped.get("start_poi"), f"{pid}_start", where, required=True)
        goal = self._point(ped.get("goal"), ped.get("goal_poi"), f"{pid}_goal", where, required=False)
        if "goal" in ped and ped.get("goal") is None and ped.get("goal_poi") is None:
            goal = None  # goal: null means "no goal" even where the map has a goal circle
        path = [np.asarray(p, dtype=np.float64) for p in (ped.get("trajectory") or [])]
        if goal is not None:
            path.append(goal)
        waits = np.zeros(len(path))
        for w in ped.get("wait_at") or []:
            idx = int(w.get("waypoint_index", w.get("index", 0)))
            if not 0 <= idx < max(1, len(path)):
                raise MapError(f"{where}.wait_at: waypoint_index {idx} outside its {len(path)} waypoints")
            if len(path):
                waits[idx] = float(w["wait_s"])
        role = ped.get("role")
        offset = np.asarray(ped.get("role_offset") or ROLE_OFFSETS.get(role or "", (0.0, 0.0)), dtype=np.float64)
        speed = float(ped.get("speed_m_s") or 1.2)
        return {"start": start, "path": path, "waits": waits, "role": role, "offset": offset, "speed": speed}

    def reset(self, rng: np.random.Generator, robot_pos: np.ndarray, robot_radius: float) -> None:
        """Spawn the crowd for a new episode (all randomness from ``rng``)."""
        sim = self.settings.sim
        capacity = self.settings.max_pedestrians - len(self._singles)
        routes = [self._route_path(r) for r in self.map.ped_routes]
        routes = [p for p in routes if len(p) >= 2]
        counts = [round(sim.ped_density * _length(p) * sim.route_width) for p in routes]
        zone_counts = [round(sim.ped_density * z.area) for z in self.map.ped_crowded_zones]
        counts, zone_counts = _cap(counts, zone_counts, max(0, capacity))

        # Waypoint table: one row per route, then one per scripted trajectory (padded with the last point).
        paths = list(routes) + [np.asarray([s["start"], *s["path"]]) for s in self._singles]
        waits = [np.zeros(len(p)) for p in routes] + [np.concatenate([[0.0], s["waits"]]) for s in self._singles]
        wmax = max([len(p) for p in paths] + [1])
        self._wps = np.zeros((max(1, len(paths)), wmax, 2))
        self._wait_table = np.zeros((max(1, len(paths)), wmax))
        self._route_len = np.ones(max(1, len(paths)), dtype=np.int64)
        for i, (p, w) in enumerate(zip(paths, waits, strict=True)):
            self._wps[i, : len(p)] = p
            self._wps[i, len(p) :] = p[-1]
            self._wait_table[i, : len(w)] = w
            self._route_len[i] = len(p)

        pos, route_id, wp_idx, group, kind, zone_box = [], [], [], [], [], []
        placed = np.zeros((0, 2))
        next_group = 0
        for r, (path, count) in enumerate(zip(routes, counts, strict=True)):
            sizes = _group_sizes(rng, count, sim.max_peds_per_group)
            for size in sizes:
                p, seg = self._spawn_on_route(rng, path, size, placed, robot_pos, robot_radius)
                placed = np.concatenate([placed, p])
                pos.append(p)
                route_id += [r] * size
                wp_idx += [seg] * size
                group += [next_group if size > 1 else -1] * size
                next_group += size > 1
                kind += [KIND_ROUTE] * size
                zone_box += [(0.0, 0.0, 0.0, 0.0)] * size
        for zone, count in zip(self.map.ped_crowded_zones, zone_counts, strict=True):
            sampler = functools.partial(_sample_zone, zone, rng)
            for _ in range(count):
                p = self._free_points(rng, sampler, 1, placed, robot_pos, robot_radius)
                placed = np.concatenate([placed, p])
                pos.append(p)
                route_id.append(0)
                wp_idx.append(0)
                group.append(-1)
                kind.append(KIND_ZONE)
                zone_box.append((zone.xmin, zone.ymin, zone.xmax, zone.ymax))
        for k, single in enumerate(self._singles):
            pos.append(single["start"][None, :])
            route_id.append(len(routes) + k)
            wp_idx.append(min(1, len(single["path"])))
            group.append(-1)
            kind.append(KIND_ROLE if single["role"] else (KIND_ROUTE if single["path"] else KIND_STILL))
            zone_box.append((0.0, 0.0, 0.0, 0.0))

        self.n = len(route_id)
        self.pos = np.concatenate(pos) if pos else np.zeros((0, 2))
        self.vel = np.zeros((self.n, 2))
        self.route_id = np.asarray(route_id, dtype=np.int64)
        self.wp_idx = np.asarray(wp_idx, dtype=np.int64)
        self.group = np.asarray(group, dtype=np.int64)
        self.kind = np.asarray(kind, dtype=np.int64)
        self.zone_box = np.asarray(zone_box, dtype=np.float64).reshape(-1, 4)
        n_crowd = self.n - len(self._singles)
        self.loops = np.arange(self.n) < n_crowd  # crowd routes restart; scripted trajectories stop at the end
        pref = np.clip(rng.normal(1.2, 0.15, self.n), 0.6, 1.8)
        pref[n_crowd:] = [s["speed"] for s in self._singles]
        self.pref_speed = pref
        self.max_speed = pref * sim.peds_speed_mult
        self.max_speed[n_crowd:] = pref[n_crowd:]
        self.wait_left = np.zeros(self.n)
        self._any_wait_table = bool((self._wait_table > 0).any())
        self.zone_target = np.where(self.kind[:, None] == KIND_ZONE, self.pos, 0.0)
        self._resample_zone_targets(rng, self.kind == KIND_ZONE)
        self.role_offset = np.zeros((self.n, 2))
        for k, single in enumerate(self._singles):
            self.role_offset[n_crowd + k] = single["offset"]
        self.start_pos = self.pos.copy()
        self._rng = rng
        self._has_groups = bool((self.group >= 0).any())
        self._self_distance = np.eye(self.n) * 1e6  # keeps a pedestrian from repelling itself
        self._refresh_kinds()

    def _refresh_kinds(self) -> None:
        """Which target rules are in play, so a step skips the ones no pedestrian uses."""
        self._any_zone = bool((self.kind == KIND_ZONE).any())
        self._any_role = bool((self.kind == KIND_ROLE).any())
        self._any_still = bool((self.kind == KIND_STILL).any())
        self._all_loop_route = bool(((self.kind == KIND_ROUTE) & self.loops).all())

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
        if self._any_role:
            c, s = math.cos(robot_theta), math.sin(robot_theta)
            off = self.role_offset
            role_target = robot_pos + np.stack([c * off[:, 0] - s * off[:, 1], s * off[:, 0] + c * off[:, 1]], 1)
            target = np.where((self.kind == KIND_ROLE)[:, None], role_target, target)
        still = self.kind == KIND_STILL
        if self._any_still:
            target = np.where(still[:, None], self.start_pos, target)

        to_target = target - pos
        dist = np.sqrt((to_target**2).sum(1))
        direction = to_target / np.maximum(dist, 1e-9)[:, None]
        if self._all_loop_route:
            speed = self.pref_speed
        else:  # slow down when arriving (scripted, role and still pedestrians)
            speed = np.minimum(self.pref_speed, dist / TAU)
            speed = np.where((self.kind == KIND_ROUTE) & self.loops, self.pref_speed, speed)
        waiting = self.wait_left > 0
        if waiting.any():
            speed = np.where(waiting, 0.0, speed)
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
        if self._has_groups:
            force += self._cohesion(pos)
        force += self._rng.normal(0.0, NOISE, force.shape)

        vel = vel + force * dt
        sp = np.sqrt((vel**2).sum(1))
        vel *= np.minimum(1.0, self.max_speed / np.maximum(sp, 1e-9))[:, None]
        if self._any_still or waiting.any():
            vel[waiting | (still & (dist < 0.1))] = 0.0
        self.vel = vel
        self.pos = pos + vel * dt
        self._advance(dist, dt)

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

    def _advance(self, dist: np.ndarray, dt: float) -> None:
        """Waypoints reached, waits counted down, loops restarted, zone targets renewed (all vectorised)."""
        if self._any_wait_table:
            self.wait_left = np.maximum(0.0, self.wait_left - dt)
        reached = (dist < WAYPOINT_RADIUS) & (self.kind == KIND_ROUTE) & (self.wait_left <= 0)
        if reached.any():
            wait = self._wait_table[self.route_id, self.wp_idx]
            self.wait_left = np.where(reached, wait, self.wait_left)
            last = self._route_len[self.route_id] - 1
            at_end = reached & (self.wp_idx >= last)
            self.wp_idx = np.where(reached & ~at_end, self.wp_idx + 1, self.wp_idx)
            restart = at_end & self.loops
            if restart.any():  # back to the start of the route, where fresh pedestrians would enter
                self.pos[restart] = self._wps[self.route_id[restart], 0] + self._rng.normal(0, 0.3, (restart.sum(), 2))
                self.vel[restart] = 0.0
                self.wp_idx[restart] = 1
            stop = at_end & ~self.loops
            if stop.any():
                self.kind = np.where(stop, KIND_STILL, self.kind)
                self.start_pos = np.where(stop[:, None], self.pos, self.start_pos)
                self._refresh_kinds()
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
