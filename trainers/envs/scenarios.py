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
    """A scenario file is unusable: missing file, include cycle, bad entry, unknown name. Says where.

    ``file`` and ``line`` locate it (``orch validate`` prints them as ``file:line``) where the file is known.
    """

    def __init__(self, message: str, *, file: Path | str | None = None, line: int | None = None, key: str = "") -> None:
        super().__init__(message)
        self.file = str(file) if file is not None else None
        self.line = line
        self.key = key


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
    lines: Mapping[tuple[str | int, ...], int] = field(default_factory=dict, compare=False, repr=False)
    key: str = ""  # where the entry is in its file, e.g. ``scenarios[3]``

    def line_of(self, *keys: str | int) -> int | None:
        """The line in :attr:`source` where ``keys`` (a path inside this scenario entry) or its nearest parent is."""
        for n in range(len(keys), -1, -1):
            if keys[:n] in self.lines:
                return self.lines[keys[:n]]
        return None

    def as_overrides(self) -> dict[str, Any]:
        """The parts that merge into env settings (see ``crowdnav.settings.merged_overrides``)."""
        return {"simulation_config": self.simulation_config, "robot_config": self.robot_config}


MAX_YAML_NODES = 200_000  # a scenario matrix is a few thousand nodes; more is an alias bomb or a mistake
# libyaml's parser keeps every node's line like the pure-Python one, ~7x faster (what keeps `orch validate` quick).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> tuple[Any, dict[tuple[str | int, ...], int]]:
    """The document and the 1-based line of every key path in it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: scenario file not found", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read the scenario file ({exc})", file=path) from None
    loader = _YAML_LOADER(text)
    try:
        node = loader.get_single_node()
        lines = _node_lines(node, path)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ScenarioError(f"{path}: not valid YAML ({exc})", file=path, line=line) from None
    finally:
        loader.dispose()
    return data, lines


def _node_lines(root: yaml.Node | None, path: Path) -> dict[tuple[str | int, ...], int]:
    lines: dict[tuple[str | int, ...], int] = {}
    stack: list[tuple[yaml.Node, tuple[str | int, ...]]] = [(root, ())] if root is not None else []
    while stack:
        node, at = stack.pop()
        lines.setdefault(at, node.start_mark.line + 1)
        if len(lines) > MAX_YAML_NODES:
            raise ScenarioError(f"{path}: more than {MAX_YAML_NODES} YAML nodes (an alias bomb?)", file=path)
        if isinstance(node, yaml.MappingNode):
            stack.extend((value, (*at, str(key.value))) for key, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((value, (*at, i)) for i, value in enumerate(node.value))
    return lines


class _Locator:
    """Builds located :class:`ScenarioError` s for one entry of one file."""

    def __init__(self, path: Path, lines: Mapping[tuple[str | int, ...], int], prefix: tuple[str | int, ...]):
        self.path, self.lines, self.prefix = path, lines, prefix

    def line(self, *keys: str | int) -> int | None:
        full = (*self.prefix, *keys)
        for n in range(len(full), -1, -1):
            if full[:n] in self.lines:
                return self.lines[full[:n]]
        return None

    def error(self, message: str, *keys: str | int) -> ScenarioError:
        key = ""
        for part in (*self.prefix, *keys):
            key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
        return ScenarioError(message, file=self.path, line=self.line(*keys), key=key)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, Path)):
        return [value]
    return list(value)


def _find_map(entry: Mapping[str, Any], base: Path, search: Sequence[Path], where: str, loc: _Locator) -> Path:
    if entry.get("map_file"):
        path = Path(str(entry["map_file"]))
        path = path if path.is_absolute() else (base / path)
        if not path.is_file():
            raise loc.error(
                f"{where}: map_file {entry['map_file']!r} not found (looked at {path.resolve()})", "map_file"
            )
        return path.resolve()
    if entry.get("map_id"):
        name = str(entry["map_id"])
        candidates = [d / f"{name}.svg" for d in (*search, default_maps_dir())] + [d / name for d in search]
        for candidate in candidates:
            if candidate.is_file():
                return candidate.resolve()
        looked = ", ".join(str(d) for d in (*search, default_maps_dir()))
        raise loc.error(f"{where}: map_id {name!r} not found in map_search_paths ({looked})", "map_id")
    raise loc.error(f"{where}: a scenario needs map_file (relative to the scenario file) or map_id")


def _check_single_ped(ped: Any, at: str, loc: _Locator) -> dict[str, Any]:
    """The checks that need no map (ids, POIs and role targets are checked against the map when it is loaded)."""
    if not isinstance(ped, Mapping) or not str(ped.get("id") or "").strip():
        raise loc.error(f"{at}: each single pedestrian needs an id (a non-empty string)")
    unknown = sorted(set(ped) - _SINGLE_PED_KEYS)
    if unknown:
        raise loc.error(f"{at}: unknown keys {unknown} (known: {sorted(_SINGLE_PED_KEYS)})", unknown[0])
    _check_role(ped, at, loc)
    speed = ped.get("speed_m_s")
    if speed is not None and (not _is_number(speed) or speed <= 0):
        raise loc.error(f"{at}.speed_m_s: expected a positive number, got {speed!r}", "speed_m_s")
    if ped.get("goal") is not None and (ped.get("trajectory") or ped.get("trajectory_poi")):
        raise loc.error(f"{at}: goal and trajectory are mutually exclusive (Robot SF); keep one of them", "goal")
    if ped.get("wait_at") is not None:
        _check_waits(ped, at, loc)
    return dict(ped)


def _check_role(ped: Mapping[str, Any], at: str, loc: _Locator) -> None:
    """``role`` one of :data:`_ROLES`, ``role_target_id`` a non-empty string, ``role_offset`` two numbers."""
    role = ped.get("role")
    if role is not None and (not isinstance(role, str) or (role.strip() and role.strip().lower() not in _ROLES)):
        raise loc.error(f"{at}.role: {role!r} is not one of {', '.join(_ROLES)}", "role")
    target = ped.get("role_target_id")
    if target is not None and (not isinstance(target, str) or not target.strip()):
        raise loc.error(
            f"{at}.role_target_id: expected a non-empty string such as robot:0 or a pedestrian id", "role_target_id"
        )
    offset = ped.get("role_offset")
    if offset is not None and not (isinstance(offset, list) and len(offset) == 2 and all(map(_is_number, offset))):
        raise loc.error(f"{at}.role_offset: expected [forward, lateral] in metres, got {offset!r}", "role_offset")


def _check_waits(ped: Mapping[str, Any], at: str, loc: _Locator) -> None:
    """``wait_at``: a list of ``{waypoint_index (or poi), wait_s >= 0}`` on a pedestrian that has a trajectory."""
    waits = ped["wait_at"]
    if not isinstance(waits, list):
        raise loc.error(f"{at}.wait_at: expected a list of {{waypoint_index, wait_s}}", "wait_at")
    for j, w in enumerate(waits):
        if not isinstance(w, Mapping) or "wait_s" not in w or not ({"waypoint_index", "index", "poi"} & set(w)):
            raise loc.error(f"{at}.wait_at[{j}]: each entry needs wait_s and waypoint_index (or poi)", "wait_at", j)
        if not _is_number(w["wait_s"]) or w["wait_s"] < 0:
            raise loc.error(
                f"{at}.wait_at[{j}].wait_s: expected seconds >= 0, got {w['wait_s']!r}", "wait_at", j, "wait_s"
            )
    if not ped.get("trajectory") and not ped.get("trajectory_poi"):
        raise loc.error(f"{at}.wait_at: waits need a trajectory (or trajectory_poi) to wait on", "wait_at")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_single_peds(peds: Any, where: str, loc: _Locator) -> tuple[dict[str, Any], ...]:
    if peds is None:
        return ()
    if not isinstance(peds, list):
        raise loc.error(f"{where}.single_pedestrians: expected a list", "single_pedestrians")
    out = []
    for i, ped in enumerate(peds):
        ped_loc = _Locator(loc.path, loc.lines, (*loc.prefix, "single_pedestrians", i))
        out.append(_check_single_ped(ped, f"{where}.single_pedestrians[{i}]", ped_loc))
    ids = [str(p["id"]).strip() for p in out]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise loc.error(f"{where}.single_pedestrians: id(s) {dupes} appear more than once", "single_pedestrians")
    return tuple(out)


def _seeds(value: Any, where: str, loc: _Locator) -> tuple[int, ...]:
    seeds = _as_list(value)
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise loc.error(f"{where}.seeds: expected a list of integers >= 0, got {value!r}", "seeds")
    return tuple(int(s) for s in seeds)


def _section(entry: Mapping[str, Any], key: str, where: str, loc: _Locator) -> dict[str, Any]:
    value = entry.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise loc.error(f"{where}.{key}: expected a mapping, got {value!r}", key)
    return dict(value)


def _scenario(
    entry: Any, index: int, path: Path, search: Sequence[Path], lines: Mapping[tuple[str | int, ...], int]
) -> Scenario:
    where = f"{path}: scenarios[{index}]"
    loc = _Locator(path, lines, ("scenarios", index))
    if not isinstance(entry, Mapping):
        raise loc.error(f"{where}: expected a mapping")
    name = entry.get("name") or entry.get("scenario_id")
    if not name:
        raise loc.error(f"{where}: a scenario needs a name (or scenario_id)")
    where = f"{path}: scenario {name!r}"
    entry_lines = {key[2:]: line for key, line in lines.items() if key[:2] == ("scenarios", index)}
    return Scenario(
        name=str(name),
        map_path=_find_map(entry, path.parent, search, where, loc),
        simulation_config=_section(entry, "simulation_config", where, loc),
        robot_config=_section(entry, "robot_config", where, loc),
        single_pedestrians=_check_single_peds(entry.get("single_pedestrians"), where, loc),
        seeds=_seeds(entry.get("seeds"), where, loc),
        metadata=_section(entry, "metadata", where, loc),
        source=path,
        lines=entry_lines,
        key=f"scenarios[{index}]",
    )


def _load(path: Path, stack: tuple[Path, ...], inherited_search: Sequence[Path]) -> list[Scenario]:
    path = path.resolve()
    if path in stack:
        chain = " -> ".join(str(p) for p in (*stack, path))
        raise ScenarioError(f"include cycle: {chain}", file=stack[-1] if stack else path)
    doc, lines = _read_yaml(path)
    loc = _Locator(path, lines, ())
    if doc is None:
        doc = {}
    if isinstance(doc, list):
        doc, lines = {"scenarios": doc}, {("scenarios", *k): v for k, v in lines.items()}
        loc = _Locator(path, lines, ())
    if not isinstance(doc, Mapping):
        raise loc.error(f"{path}: expected a mapping with scenarios and/or includes")
    search = [path.parent / str(p) for p in _as_list(doc.get("map_search_paths"))] + list(inherited_search)
    scenarios = [s for inc in _includes(doc, path, loc) for s in _load(inc, (*stack, path), search)]
    entries = doc.get("scenarios") or []
    if not isinstance(entries, list):
        raise loc.error(f"{path}: scenarios must be a list", "scenarios")
    scenarios.extend(_scenario(e, i, path, search, lines) for i, e in enumerate(entries))
    return scenarios


def _includes(doc: Mapping[str, Any], path: Path, loc: _Locator) -> list[Path]:
    """The files a matrix includes (relative to its folder), in order; one that does not exist is an error."""
    found: list[Path] = []
    for key in _INCLUDE_KEYS:
        value = doc.get(key)
        for i, inc in enumerate(_as_list(value)):
            inc_path = Path(str(inc))
            inc_path = inc_path if inc_path.is_absolute() else path.parent / inc_path
            at = (key, i) if isinstance(value, list) else (key,)
            if not inc_path.is_file():
                raise loc.error(f"{path}: {key}: {str(inc)!r} not found (looked at {inc_path.resolve()})", *at)
            found.append(inc_path)
    return found


def load_scenario_matrix(path: str | Path) -> list[Scenario]:
    """All scenarios of a matrix file, includes expanded in order. Raises :class:`ScenarioError`."""
    scenarios = _load(Path(path), (), [])
    seen: dict[str, Scenario] = {}
    for s in scenarios:
        if s.name in seen:
            raise ScenarioError(
                f"scenario name {s.name!r} appears twice ({seen[s.name].source} and {s.source})",
                file=s.source,
                line=s.line_of("name"),
            )
        seen[s.name] = s
    if not scenarios:
        raise ScenarioError(f"{path}: no scenarios (add a scenarios list or includes)", file=path, line=1)
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
