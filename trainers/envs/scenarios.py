"""Scenario matrices in Robot SF's YAML format (README section 5): scenarios, includes, map search paths.

A file holds ``scenarios: [...]`` and/or ``includes`` (also spelled ``include`` or ``scenario_files``: a path or a
list of paths, relative to the including file). ``map_file`` is relative to the file that names it; ``map_id``
is looked up as ``<map_id>.svg`` in ``map_search_paths`` (relative to the file) and in the shipped maps folder.
Include cycles and duplicate scenario names are errors. Light module: stdlib and yaml only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from trainers.envs.resources import default_maps_dir

__all__ = ["Scenario", "ScenarioError", "load_scenario_matrix", "select_scenarios"]

_INCLUDE_KEYS = ("includes", "include", "scenario_files")
_SINGLE_PED_KEYS = {
    "id",
    "start",
    "start_poi",
    "goal",
    "goal_poi",
    "trajectory",
    "trajectory_poi",
    "speed_m_s",
    "wait_at",
    "role",
    "role_target_id",
    "role_offset",
    "note",
    "metadata",
}
_ROLES = ("wait", "follow", "lead", "accompany", "join", "leave")  # Robot SF's SinglePedestrianDefinition roles


class ScenarioError(ValueError):
    """A scenario file is unusable: missing file, include cycle, bad entry, unknown name. Says where."""


@dataclass(frozen=True)
class Scenario:
    """One scenario of a matrix, with its map resolved to an absolute path."""

    name: str
    map_path: Path
    simulation_config: dict[str, Any] = field(default_factory=dict)
    robot_config: dict[str, Any] = field(default_factory=dict)
    single_pedestrians: tuple[dict[str, Any], ...] = ()
    seeds: tuple[int, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None

    def as_overrides(self) -> dict[str, Any]:
        """The parts that merge into env settings (see ``crowdnav.settings.merged_overrides``)."""
        return {"simulation_config": self.simulation_config, "robot_config": self.robot_config}


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"{path}: scenario file not found") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML ({exc})") from None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, Path)):
        return [value]
    return list(value)


def _find_map(entry: Mapping[str, Any], base: Path, search: Sequence[Path], where: str) -> Path:
    if entry.get("map_file"):
        path = Path(str(entry["map_file"]))
        path = path if path.is_absolute() else (base / path)
        if not path.is_file():
            raise ScenarioError(f"{where}: map_file {entry['map_file']!r} not found (looked at {path.resolve()})")
        return path.resolve()
    if entry.get("map_id"):
        name = str(entry["map_id"])
        candidates = [d / f"{name}.svg" for d in (*search, default_maps_dir())] + [d / name for d in search]
        for candidate in candidates:
            if candidate.is_file():
                return candidate.resolve()
        looked = ", ".join(str(d) for d in (*search, default_maps_dir()))
        raise ScenarioError(f"{where}: map_id {name!r} not found in map_search_paths ({looked})")
    raise ScenarioError(f"{where}: a scenario needs map_file (relative to the scenario file) or map_id")


def _check_single_ped(ped: Any, at: str) -> dict[str, Any]:
    """The checks that need no map (ids, POIs and role targets are checked against the map when it is loaded)."""
    if not isinstance(ped, Mapping) or not str(ped.get("id") or "").strip():
        raise ScenarioError(f"{at}: each single pedestrian needs an id (a non-empty string)")
    unknown = sorted(set(ped) - _SINGLE_PED_KEYS)
    if unknown:
        raise ScenarioError(f"{at}: unknown keys {unknown} (known: {sorted(_SINGLE_PED_KEYS)})")
    role = ped.get("role")
    if role is not None and (not isinstance(role, str) or (role.strip() and role.strip().lower() not in _ROLES)):
        raise ScenarioError(f"{at}.role: {role!r} is not one of {', '.join(_ROLES)}")
    target = ped.get("role_target_id")
    if target is not None and (not isinstance(target, str) or not target.strip()):
        raise ScenarioError(f"{at}.role_target_id: expected a non-empty string such as robot:0 or a pedestrian id")
    offset = ped.get("role_offset")
    if offset is not None and not (isinstance(offset, list) and len(offset) == 2 and all(map(_is_number, offset))):
        raise ScenarioError(f"{at}.role_offset: expected [forward, lateral] in metres, got {offset!r}")
    speed = ped.get("speed_m_s")
    if speed is not None and (not _is_number(speed) or speed <= 0):
        raise ScenarioError(f"{at}.speed_m_s: expected a positive number, got {speed!r}")
    if ped.get("goal") is not None and (ped.get("trajectory") or ped.get("trajectory_poi")):
        raise ScenarioError(f"{at}: goal and trajectory are mutually exclusive (Robot SF); keep one of them")
    waits = ped.get("wait_at")
    if waits is not None:
        if not isinstance(waits, list):
            raise ScenarioError(f"{at}.wait_at: expected a list of {{waypoint_index, wait_s}}")
        for j, w in enumerate(waits):
            if not isinstance(w, Mapping) or "wait_s" not in w or not ({"waypoint_index", "index", "poi"} & set(w)):
                raise ScenarioError(f"{at}.wait_at[{j}]: each entry needs wait_s and waypoint_index (or poi)")
            if not _is_number(w["wait_s"]) or w["wait_s"] < 0:
                raise ScenarioError(f"{at}.wait_at[{j}].wait_s: expected seconds >= 0, got {w['wait_s']!r}")
        if not ped.get("trajectory") and not ped.get("trajectory_poi"):
            raise ScenarioError(f"{at}.wait_at: waits need a trajectory (or trajectory_poi) to wait on")
    return dict(ped)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_single_peds(peds: Any, where: str) -> tuple[dict[str, Any], ...]:
    if peds is None:
        return ()
    if not isinstance(peds, list):
        raise ScenarioError(f"{where}.single_pedestrians: expected a list")
    out = [_check_single_ped(ped, f"{where}.single_pedestrians[{i}]") for i, ped in enumerate(peds)]
    ids = [str(p["id"]).strip() for p in out]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ScenarioError(f"{where}.single_pedestrians: id(s) {dupes} appear more than once")
    return tuple(out)


def _scenario(entry: Any, index: int, path: Path, search: Sequence[Path]) -> Scenario:
    where = f"{path}: scenarios[{index}]"
    if not isinstance(entry, Mapping):
        raise ScenarioError(f"{where}: expected a mapping")
    name = entry.get("name") or entry.get("scenario_id")
    if not name:
        raise ScenarioError(f"{where}: a scenario needs a name (or scenario_id)")
    where = f"{path}: scenario {name!r}"
    sim = dict(entry.get("simulation_config") or {})
    robot = dict(entry.get("robot_config") or {})
    seeds = tuple(int(s) for s in _as_list(entry.get("seeds")))
    return Scenario(
        name=str(name),
        map_path=_find_map(entry, path.parent, search, where),
        simulation_config=sim,
        robot_config=robot,
        single_pedestrians=_check_single_peds(entry.get("single_pedestrians"), where),
        seeds=seeds,
        metadata=dict(entry.get("metadata") or {}),
        source=path,
    )


def _load(path: Path, stack: tuple[Path, ...], inherited_search: Sequence[Path]) -> list[Scenario]:
    path = path.resolve()
    if path in stack:
        chain = " -> ".join(str(p) for p in (*stack, path))
        raise ScenarioError(f"include cycle: {chain}")
    doc = _read_yaml(path)
    if doc is None:
        doc = {}
    if isinstance(doc, list):
        doc = {"scenarios": doc}
    if not isinstance(doc, Mapping):
        raise ScenarioError(f"{path}: expected a mapping with scenarios and/or includes")
    search = [path.parent / p for p in _as_list(doc.get("map_search_paths"))] + list(inherited_search)
    scenarios: list[Scenario] = []
    for key in _INCLUDE_KEYS:
        for inc in _as_list(doc.get(key)):
            inc_path = Path(str(inc))
            scenarios.extend(
                _load(inc_path if inc_path.is_absolute() else path.parent / inc_path, (*stack, path), search)
            )
    entries = doc.get("scenarios") or []
    if not isinstance(entries, list):
        raise ScenarioError(f"{path}: scenarios must be a list")
    scenarios.extend(_scenario(e, i, path, search) for i, e in enumerate(entries))
    return scenarios


def load_scenario_matrix(path: str | Path) -> list[Scenario]:
    """All scenarios of a matrix file, includes expanded in order. Raises :class:`ScenarioError`."""
    scenarios = _load(Path(path), (), [])
    seen: dict[str, Path | None] = {}
    for s in scenarios:
        if s.name in seen:
            raise ScenarioError(f"scenario name {s.name!r} appears twice ({seen[s.name]} and {s.source})")
        seen[s.name] = s.source
    if not scenarios:
        raise ScenarioError(f"{path}: no scenarios (add a scenarios list or includes)")
    return scenarios


def select_scenarios(
    scenarios: Sequence[Scenario], *, scenario_id: str | None = None, exclude: Iterable[str] = ()
) -> list[Scenario]:
    """One scenario by name, or all but the hold-outs. Unknown names are errors listing the known ones."""
    names = [s.name for s in scenarios]
    exclude = list(exclude)
    unknown = [n for n in [*exclude, *([scenario_id] if scenario_id else [])] if n not in names]
    if unknown:
        raise ScenarioError(f"unknown scenario name(s) {unknown}; the matrix has {names}")
    if scenario_id:
        if scenario_id in exclude:
            raise ScenarioError(f"scenario {scenario_id!r} is both selected and held out")
        return [s for s in scenarios if s.name == scenario_id]
    chosen = [s for s in scenarios if s.name not in set(exclude)]
    if not chosen:
        raise ScenarioError("every scenario of the matrix is held out; nothing is left to train on")
    return chosen
