"""Scripted single pedestrians as Robot SF defines them: who they are (map + scenario) and what each does per step.

Who: the map's ``single_ped_<id>_start`` / ``_goal`` circles define pedestrians; a scenario's
``single_pedestrians`` entries override them by id (``goal``/``goal_poi``, ``trajectory``/``trajectory_poi``,
``speed_m_s``, ``wait_at``, ``role``, ``role_target_id``, ``role_offset``). Map pedestrians a scenario does not
mention keep their map start and goal. An entry whose id the map lacks may give its own ``start``/``start_poi``
(an orch extension; Robot SF requires the map circle).

What (per step, before the forces, as ``robot_sf.ped_npc.ped_behavior.SinglePedestrianBehavior``):

- no role: walk to ``goal``, or along ``trajectory`` waypoint by waypoint, waiting ``wait_s`` at the waypoints
  ``wait_at`` names; a waypoint counts as reached within ``GOAL_THRESHOLD``;
- ``wait``: hold position (velocity zeroed every step);
- ``follow`` / ``accompany``: head for the robot pose plus ``role_offset`` (forward, lateral) in the robot frame;
- ``lead``: the same, unless the pedestrian has a goal or trajectory, which it then walks;
- ``join``: head for the centroid of the target's group (``role_target_id``: a pedestrian id, ``group:<n>``, or
  none for the nearest other group) and become a member once within ``GOAL_THRESHOLD`` of it;
- ``leave``: leave its group once, then walk its goal or trajectory.

Speeds follow Robot SF's physics: a pedestrian's top speed is ``peds_speed_mult`` times its initial speed
(``speed_m_s``, default ``DEFAULT_SPEED``); one that starts still (no goal, no trajectory, no moving role) has top
speed 0 and never moves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainers.envs.crowdnav.mapdef import MapDefinition, MapError

__all__ = [
    "DEFAULT_ROLE_OFFSETS",
    "DEFAULT_SPEED",
    "GOAL_THRESHOLD",
    "ROBOT_RELATIVE_ROLES",
    "ROLES",
    "SingleBehaviour",
    "SinglePedestrian",
    "SinglePedestrianError",
    "resolve_single_pedestrians",
]

ROLES = ("wait", "follow", "lead", "accompany", "join", "leave")
ROBOT_RELATIVE_ROLES = ("follow", "lead", "accompany")
MOVING_ROLES = ("follow", "lead", "accompany", "join", "leave")
DEFAULT_ROLE_OFFSETS = {"follow": (-1.0, 0.0), "lead": (1.5, 0.0), "accompany": (0.0, 1.0)}
DEFAULT_SPEED = 0.5  # m/s, Robot SF's initial pedestrian speed (PedSpawnConfig.initial_speed)
GOAL_THRESHOLD = 0.2  # m, PySocialForce's goal threshold, which Robot SF uses for single pedestrians


class SinglePedestrianError(MapError):
    """A scenario's single-pedestrian entry does not fit its map; ``index`` is the entry (None: a map pedestrian)."""

    def __init__(self, message: str, index: int | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.index = index
        self.key = key


@dataclass(frozen=True)
class SinglePedestrian:
    """One scripted pedestrian, fully resolved against its map (points in metres)."""

    id: str
    start: np.ndarray
    goal: np.ndarray | None = None
    trajectory: tuple[np.ndarray, ...] = ()
    speed: float = DEFAULT_SPEED
    waits: Mapping[int, float] = field(default_factory=dict)  # trajectory index -> seconds
    role: str | None = None
    target: str | None = None  # role_target_id
    offset: tuple[float, float] | None = None  # (forward, lateral), robot frame

    @property
    def starts_moving(self) -> bool:
        """Robot SF gives a pedestrian a top speed only if it starts with a velocity."""
        return self.goal is not None or bool(self.trajectory) or self.role in MOVING_ROLES

    @property
    def role_offset(self) -> tuple[float, float]:
        return self.offset or DEFAULT_ROLE_OFFSETS.get(self.role or "", (0.0, 0.0))


# ---------------------------------------------------------------------------------------------- resolution
def _poi(mapdef: MapDefinition, label: Any, where: str) -> np.ndarray:
    if not isinstance(label, str) or not label.strip():
        raise MapError(f"{where}: a POI label must be a non-empty string, got {label!r}")
    for key in (label, f"poi_{label}"):
        if key in mapdef.pois:
            return mapdef.pois[key].copy()
    raise MapError(f"{mapdef.source}: {where} names POI {label!r}; the map has {sorted(mapdef.pois)}")


def _point(value: Any, where: str) -> np.ndarray:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise MapError(f"{where}: expected an [x, y] point, got {value!r}")
    return np.asarray([float(value[0]), float(value[1])], dtype=np.float64)


def _either(entry: Mapping[str, Any], key: str, poi_key: str, mapdef: MapDefinition, where: str) -> tuple[Any, bool]:
    """(point or None, whether the entry set it): ``key`` as coordinates or ``poi_key`` as a map POI label."""
    if key in entry and poi_key in entry:
        raise MapError(f"{where}: give {key} or {poi_key}, not both")
    if poi_key in entry:
        value = entry[poi_key]
        return (None if value is None else _poi(mapdef, value, f"{where}.{poi_key}")), True
    if key in entry:
        value = entry[key]
        return (None if value is None else _point(value, f"{where}.{key}")), True
    return None, False


def _trajectory(entry: Mapping[str, Any], mapdef: MapDefinition, where: str) -> tuple[Any, list[str] | None, bool]:
    if "trajectory" in entry and "trajectory_poi" in entry:
        raise MapError(f"{where}: give trajectory or trajectory_poi, not both")
    if "trajectory_poi" in entry:
        labels = entry["trajectory_poi"]
        if labels is None:
            return None, None, True
        if not isinstance(labels, list):
            raise MapError(f"{where}.trajectory_poi: expected a list of POI labels")
        points = tuple(_poi(mapdef, label, f"{where}.trajectory_poi[{i}]") for i, label in enumerate(labels))
        return points, [str(label) for label in labels], True
    if "trajectory" in entry:
        raw = entry["trajectory"]
        if raw is None:
            return None, None, True
        if not isinstance(raw, list):
            raise MapError(f"{where}.trajectory: expected a list of [x, y] points")
        return tuple(_point(p, f"{where}.trajectory[{i}]") for i, p in enumerate(raw)), None, True
    return None, None, False


def _waits(raw: Any, trajectory: Sequence[np.ndarray], labels: list[str] | None, where: str) -> dict[int, float]:
    if raw is None:
        return {}
    if not trajectory:
        raise MapError(f"{where}.wait_at: waits need a trajectory (or trajectory_poi) to wait on")
    waits: dict[int, float] = {}
    for i, rule in enumerate(raw):
        at = f"{where}.wait_at[{i}]"
        if "poi" in rule:
            if not labels or rule["poi"] not in labels:
                raise MapError(f"{at}.poi: {rule['poi']!r} is not a label of this pedestrian's trajectory_poi")
            index = labels.index(rule["poi"])
        else:
            index = int(rule.get("waypoint_index", rule.get("index", 0)))
        if not 0 <= index < len(trajectory):
            raise MapError(f"{at}.waypoint_index: {index} is outside the trajectory's {len(trajectory)} waypoints")
        waits[index] = float(rule["wait_s"])
    return waits


def _override(base: SinglePedestrian | None, entry: Mapping[str, Any], mapdef: MapDefinition) -> SinglePedestrian:
    """The pedestrian ``entry`` describes, over the map's own one (``base``) when the map has it."""
    pid = str(entry["id"]).strip()
    where = f"single pedestrian {pid!r}"
    start, goal, trajectory, labels = _path_of(base, entry, mapdef, pid, where)
    speed = entry.get("speed_m_s", base.speed if base else None)
    role = entry.get("role", base.role if base else None)
    offset = entry.get("role_offset", base.offset if base else None)
    return SinglePedestrian(
        id=pid,
        start=start,
        goal=goal,
        trajectory=trajectory,
        speed=float(speed) if speed is not None else DEFAULT_SPEED,
        waits=_waits(entry["wait_at"], trajectory, labels, where) if "wait_at" in entry else {},
        role=(str(role).strip().lower() or None) if role is not None else None,
        target=str(entry["role_target_id"]).strip() if entry.get("role_target_id") is not None else None,
        offset=(float(offset[0]), float(offset[1])) if offset is not None else None,
    )


def _path_of(
    base: SinglePedestrian | None, entry: Mapping[str, Any], mapdef: MapDefinition, pid: str, where: str
) -> tuple[Any, Any, tuple[Any, ...], Any]:
    """Start, goal, trajectory and its waypoint labels: the entry's, else the map's; a goal and a trajectory together
    (Robot SF allows one) or no start at all is a :class:`MapError`."""
    start, start_set = _either(entry, "start", "start_poi", mapdef, where)
    if base is None and start is None:
        raise MapError(
            f"{mapdef.source}: {where} is not on the map (no single_ped_{pid}_start circle); add that circle to "
            "the map or give the pedestrian a start (or start_poi)"
        )
    goal, goal_set = _either(entry, "goal", "goal_poi", mapdef, where)
    trajectory, labels, trajectory_set = _trajectory(entry, mapdef, where)
    goal = goal if goal_set else (base.goal if base else None)
    trajectory = trajectory if trajectory_set else (base.trajectory if base else None)
    if goal is not None and trajectory:
        raise MapError(
            f"{mapdef.source}: {where} has both a goal and a trajectory (the map's single_ped_{pid}_goal counts); "
            "Robot SF allows one of them: set goal: null or drop the trajectory"
        )
    start = start if start_set and start is not None else (base.start if base else start)
    return start, goal, tuple(trajectory or ()), labels


def _from_map(mapdef: MapDefinition) -> dict[str, SinglePedestrian]:
    peds: dict[str, SinglePedestrian] = {}
    for key, point in mapdef.single_ped_points.items():
        pid, kind = key.rsplit("_", 1)
        if kind == "start":
            goal = mapdef.single_ped_points.get(f"{pid}_goal")
            peds[pid] = SinglePedestrian(id=pid, start=point.copy(), goal=None if goal is None else goal.copy())
    return peds


def resolve_single_pedestrians(
    mapdef: MapDefinition, entries: Sequence[Mapping[str, Any]] = ()
) -> tuple[SinglePedestrian, ...]:
    """The map's single pedestrians with a scenario's entries applied, map order first.

    Raises :class:`SinglePedestrianError` (a :class:`MapError`) naming the entry that does not fit the map.
    """
    peds = _from_map(mapdef)
    index_of: dict[str, int] = {}
    for i, entry in enumerate(entries):
        pid = str(entry["id"]).strip()
        index_of[pid] = i
        try:
            peds[pid] = _override(peds.get(pid), entry, mapdef)
        except MapError as exc:
            raise SinglePedestrianError(str(exc), index=i) from None
    out = tuple(peds.values())
    ids = {p.id for p in out}
    for p in out:
        target = p.target
        if p.role == "join" and target and not target.startswith("group:") and target not in ids:
            raise SinglePedestrianError(
                f"{mapdef.source}: single pedestrian {p.id!r}.role_target_id: {target!r} is not a pedestrian of "
                f"this scenario ({sorted(ids)}); name one of them, group:<n>, or leave it unset for the nearest group",
                index=index_of.get(p.id),
                key="role_target_id",
            )
        if p.role in ROBOT_RELATIVE_ROLES and target and target not in ("robot", "robot:0"):
            raise SinglePedestrianError(
                f"{mapdef.source}: single pedestrian {p.id!r}.role_target_id: {target!r} names no robot of this "
                "env (it has one: robot:0)",
                index=index_of.get(p.id),
                key="role_target_id",
            )
    return out


# ---------------------------------------------------------------------------------------------- runtime
@dataclass
class _State:
    waypoint: int = 0
    wait_left: float = 0.0
    waiting_to_advance: bool = False
    pending_waits: dict[int, float] = field(default_factory=dict)
    joined_group: int | None = None
    left_group: bool = False


class SingleBehaviour:
    """Per-step targets of the scripted pedestrians, which occupy rows ``first:first+len(peds)`` of the crowd."""

    def __init__(self, peds: Sequence[SinglePedestrian], first: int) -> None:
        self.peds = tuple(peds)
        self.first = first
        self._row = {p.id: first + i for i, p in enumerate(self.peds)}
        self._states = [_State() for _ in self.peds]

    def reset(self) -> None:
        self._states = [_State(pending_waits=dict(p.waits)) for p in self.peds]

    def initial_targets(self) -> np.ndarray:
        """Where each pedestrian heads at spawn: goal, first waypoint, or its own start."""
        out = np.zeros((len(self.peds), 2))
        for i, p in enumerate(self.peds):
            out[i] = p.goal if p.goal is not None else (p.trajectory[0] if p.trajectory else p.start)
        return out

    def update(
        self, pos: np.ndarray, group: np.ndarray, robot_pos: np.ndarray, robot_theta: float, dt: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """(targets (S, 2), hold (S,) bool) for this step; ``group`` (the crowd's) is updated in place on join/leave."""
        targets = np.zeros((len(self.peds), 2))
        hold = np.zeros(len(self.peds), dtype=bool)
        for i, (p, st) in enumerate(zip(self.peds, self._states, strict=True)):
            row = self.first + i
            here = pos[row]
            if p.role == "wait":
                targets[i], hold[i] = here, True
                continue
            if p.role in ROBOT_RELATIVE_ROLES and not (p.role == "lead" and (p.goal is not None or p.trajectory)):
                forward, lateral = p.role_offset
                c, s = math.cos(robot_theta), math.sin(robot_theta)
                targets[i] = robot_pos + np.array([forward * c - lateral * s, forward * s + lateral * c])
                continue
            if p.role == "join":
                centroid = self._join(p, st, row, pos, group)
                if centroid is not None:
                    targets[i] = centroid
                    continue
            if p.role == "leave" and not st.left_group:
                group[row] = -1
                st.left_group = True
            targets[i], hold[i] = self._walk(p, st, here, dt)
        return targets, hold

    def _walk(self, p: SinglePedestrian, st: _State, here: np.ndarray, dt: float) -> tuple[np.ndarray, bool]:
        if not p.trajectory:
            return (p.goal if p.goal is not None else p.start), False
        if st.wait_left > 0:
            st.wait_left = max(0.0, st.wait_left - dt)
            if st.wait_left <= 0 and st.waiting_to_advance:
                st.waiting_to_advance = False
                st.waypoint = min(st.waypoint + 1, len(p.trajectory) - 1)
            if st.wait_left > 0:
                return here, True
            return p.trajectory[st.waypoint], True  # held this step, heads on from the next
        target = p.trajectory[st.waypoint]
        if float(np.hypot(*(target - here))) > GOAL_THRESHOLD:
            return target, False
        if st.waypoint in st.pending_waits:
            st.wait_left = st.pending_waits.pop(st.waypoint)
            st.waiting_to_advance = True
            return here, True
        st.waypoint = min(st.waypoint + 1, len(p.trajectory) - 1)
        return p.trajectory[st.waypoint], False

    def _join(self, p: SinglePedestrian, st: _State, row: int, pos: np.ndarray, group: np.ndarray) -> np.ndarray | None:
        gid = st.joined_group if st.joined_group is not None else self._target_group(p, row, pos, group)
        if gid is None or not bool((group == gid).any()):
            return None  # no such group (any more): Robot SF falls back to the pedestrian's own walk
        centroid = pos[group == gid].mean(axis=0)
        if float(np.hypot(*(centroid - pos[row]))) <= GOAL_THRESHOLD:
            group[row] = gid
            st.joined_group = gid
        return centroid

    def _target_group(self, p: SinglePedestrian, row: int, pos: np.ndarray, group: np.ndarray) -> int | None:
        target = p.target
        if target and target.startswith("group:"):
            try:
                gid = int(target.split(":", 1)[1])
            except ValueError:
                return None
            return gid if bool((group == gid).any()) else None
        if target:
            other = self._row[target]
            if group[other] < 0:  # Robot SF's ensure_group_for_ped: a lone target becomes a group of one
                group[other] = int(group.max(initial=-1)) + 1
            return int(group[other])
        own = group[row]
        candidates = [int(g) for g in np.unique(group) if g >= 0 and g != own]
        if not candidates:
            return None
        return min(candidates, key=lambda g: float(np.hypot(*(pos[group == g].mean(axis=0) - pos[row]))))
