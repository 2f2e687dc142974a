"""Loading config YAML with the line of every key, ``base_config`` merging, path resolution and ``--set`` overrides.

A loaded config is a :class:`LoadedConfig`: the plain document (dicts, lists, scalars) plus a :class:`Marks` map from
each key path to the file and line it came from, so every later error can cite ``file:line``. Problems are collected as
:class:`~orchestrator.errors.ConfigIssue` and raised together as one :class:`~orchestrator.errors.ConfigError`.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestrator.config.yamlread import Loader, YAMLTooLarge, compose, load_yaml
from orchestrator.errors import ConfigError, ConfigIssue

__all__ = [
    "MAX_CONFIG_BYTES",
    "PATH_KEYS",
    "KeyPath",
    "LoadedConfig",
    "Mark",
    "Marks",
    "apply_overrides",
    "format_path",
    "load_config",
    "parse_override",
]

MAX_CONFIG_BYTES = 2 * 1024 * 1024  # a config is a page of YAML; anything this big is a mistake
# Keys whose string values are file paths, resolved against the folder of the YAML that sets them.
PATH_KEYS: tuple[tuple[str, ...], ...] = (("base_config",), ("scenario_config",), ("env", "scenario_config"))
OVERRIDE_FILE = "--set"

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Mark:
    """Where a key was written: file and 1-based line/column (line None for values from ``--set``)."""

    file: str
    line: int | None
    column: int | None = None


@dataclass
class Marks:
    """Key path -> :class:`Mark`, plus ``renamed`` (new path -> original path) kept by migrations."""

    by_path: dict[KeyPath, Mark] = field(default_factory=dict)
    renamed: dict[KeyPath, KeyPath] = field(default_factory=dict)
    root: Mark | None = None

    def original_path(self, path: KeyPath) -> KeyPath:
        """The path as the user wrote it (undoing migrations' renames on the longest renamed prefix)."""
        for n in range(len(path), 0, -1):
            if path[:n] in self.renamed:
                return self.renamed[path[:n]] + path[n:]
        return path

    def find(self, path: KeyPath) -> Mark | None:
        """The mark of ``path`` or of its nearest marked ancestor."""
        for n in range(len(path), 0, -1):
            mark = self.by_path.get(path[:n])
            if mark is not None:
                return mark
        return self.root

    def issue(self, path: KeyPath, message: str, hint: str | None = None) -> ConfigIssue:
        """A :class:`ConfigIssue` located at ``path``."""
        mark = self.find(path)
        return ConfigIssue(
            file=mark.file if mark else "<config>",
            line=mark.line if mark else None,
            key_path=format_path(self.original_path(path)),
            message=message,
            hint=hint,
            column=mark.column if mark else None,
        )

    def move(self, old: KeyPath, new: KeyPath) -> None:
        """Record that the subtree at ``old`` now lives at ``new`` (marks copied, original path remembered)."""
        for path, mark in list(self.by_path.items()):
            if path[: len(old)] == old:
                self.by_path[new + path[len(old) :]] = mark
        self.renamed[new] = self.original_path(old)


@dataclass
class LoadedConfig:
    """A config document with the marks of its keys and the files it was merged from (child last)."""

    path: Path
    data: dict[str, Any]
    marks: Marks
    files: list[Path] = field(default_factory=list)


def format_path(path: Iterable[str | int]) -> str:
    """``a.b[0].c`` style key path."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_config(path: str | os.PathLike[str], *, overrides: Iterable[str] = ()) -> LoadedConfig:
    """Load ``path`` with its ``base_config`` chain merged and ``overrides`` applied; raise ConfigError on problems."""
    target = Path(path).expanduser().absolute()
    data, marks, files = _load_chain(target, [])
    loaded = LoadedConfig(path=target, data=data, marks=marks, files=files)
    apply_overrides(loaded, overrides)
    return loaded


# ------------------------------------------------------------------------------------------------ one file
def _read_text(path: Path) -> str:
    display = str(path)
    if not path.exists():
        raise ConfigError(ConfigIssue(display, None, "", f"file not found: {path}", "check the path"))
    if path.is_dir():
        raise ConfigError(ConfigIssue(display, None, "", "is a folder, not a YAML file"))
    if not path.is_file():  # a FIFO or a device would block the read, or never end it
        raise ConfigError(ConfigIssue(display, None, "", "is not a regular file (a FIFO, socket or device)"))
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(ConfigIssue(display, None, "", f"cannot read: {exc.strerror or exc}")) from None
    if len(raw) > MAX_CONFIG_BYTES:
        size = path.stat().st_size / 1e6
        raise ConfigError(
            ConfigIssue(
                display,
                1,
                "",
                f"file is {size:.1f} MB; a config may be at most {MAX_CONFIG_BYTES // 2**20} MiB",
                "is this really a config file?",
            )
        )
    if b"\x00" in raw:
        raise ConfigError(ConfigIssue(display, 1, "", "binary file (NUL bytes), not YAML", "is this really a config?"))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            ConfigIssue(display, line, "", f"not UTF-8 text (byte {exc.start})", "save the file as UTF-8")
        ) from None


def _parse_file(path: Path) -> tuple[dict[str, Any], Marks]:
    """Parse one YAML file into (document, marks). The top level must be a mapping."""
    text = _read_text(path)
    display = str(path)
    loader: Loader | None = None
    try:
        loader, node = compose(text)  # aliases counted before anything is built: a bomb stops here
        if node is None:
            raise ConfigError(ConfigIssue(display, 1, "", "empty file: expected a mapping of settings"))
        builder = _Builder(loader, display)
        data = builder.build(node, ())
    except YAMLTooLarge as exc:
        raise ConfigError(ConfigIssue(display, 1, "", str(exc), "is this really a config file?")) from None
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(_syntax_issue(display, exc)) from None
    except yaml.YAMLError as exc:  # reader errors (control characters) carry a position but no mark
        raise ConfigError(ConfigIssue(display, 1, "", f"not readable as YAML: {exc}")) from None
    except RecursionError:
        raise ConfigError(ConfigIssue(display, 1, "", "YAML nested too deeply (or a recursive alias)")) from None
    finally:
        if loader is not None:
            loader.dispose()
    if builder.issues:
        raise ConfigError(builder.issues)
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a {type(data).__name__} value"
        raise ConfigError(
            ConfigIssue(
                display,
                node.start_mark.line + 1,
                "",
                f"top level is {kind}; expected a mapping of settings",
                "write `key: value` lines at the top level",
            )
        )
    marks = Marks(by_path=builder.marks, root=Mark(display, 1, 1))
    _resolve_paths(data, marks, path.parent)
    return data, marks


def _syntax_issue(display: str, exc: yaml.MarkedYAMLError) -> ConfigIssue:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
    return ConfigIssue(display, line, "", f"YAML syntax error: {problem}", "fix the YAML syntax")


class _Builder:
    """Turns a composed YAML node tree into plain values, recording the mark of every key and list item."""

    def __init__(self, loader: Loader, display: str):
        self.loader = loader
        self.display = display
        self.marks: dict[KeyPath, Mark] = {}
        self.issues: list[ConfigIssue] = []

    def _mark(self, node: yaml.Node) -> Mark:
        return Mark(self.display, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        if isinstance(node, yaml.MappingNode):
            own = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
            self.loader.flatten_mapping(node)  # YAML merge keys (<<): merged pairs first, then the mapping's own
            merged = len(node.value) - own
            out: dict[str, Any] = {}
            own_keys: set[str] = set()
            for index, (key_node, value_node) in enumerate(node.value):
                key = self.loader.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    self.issues.append(
                        ConfigIssue(
                            self.display,
                            key_node.start_mark.line + 1,
                            format_path(path),
                            f"key {key!r} is not a string",
                            "quote the key",
                        )
                    )
                    key = str(key)
                if index >= merged and key in own_keys:
                    self.issues.append(
                        ConfigIssue(
                            self.display,
                            key_node.start_mark.line + 1,
                            format_path((*path, key)),
                            "duplicate key",
                            f"first set on line {self.marks[(*path, key)].line}",
                        )
                    )
                    continue
                if index >= merged:
                    own_keys.add(key)
                self.marks[(*path, key)] = self._mark(key_node)
                out[key] = self.build(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.marks[(*path, index)] = self._mark(item)
                items.append(self.build(item, (*path, index)))
            return items
        return self.loader.construct_object(node, deep=True)


def _resolve_paths(data: dict[str, Any], marks: Marks, folder: Path) -> None:
    """Make the path-valued keys (:data:`PATH_KEYS`) absolute against ``folder`` (the YAML's own folder)."""
    for key_path in PATH_KEYS:
        parent: Any = data
        for part in key_path[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and isinstance(parent.get(key_path[-1]), str) and parent[key_path[-1]].strip():
            parent[key_path[-1]] = str(_absolute(parent[key_path[-1]], folder))


def _absolute(value: str, folder: Path) -> Path:
    path = Path(os.path.expandvars(value)).expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else folder / path))


# ------------------------------------------------------------------------------------------------ base_config
def _load_chain(path: Path, stack: list[Path]) -> tuple[dict[str, Any], Marks, list[Path]]:
    data, marks = _parse_file(path)
    base = data.pop("base_config", None)
    if base is None:
        return data, marks, [path]
    where = marks.by_path.get(("base_config",))
    line = where.line if where else None
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(ConfigIssue(str(path), line, "base_config", "must be a path to a YAML file"))
    base_path = Path(base)
    chain = [*stack, path]
    if base_path in chain:
        cycle = " -> ".join(p.name for p in [*chain[chain.index(base_path) :], base_path])
        raise ConfigError(
            ConfigIssue(str(path), line, "base_config", f"base_config cycle: {cycle}", "remove one base_config link")
        )
    if not base_path.is_file():
        raise ConfigError(
            ConfigIssue(
                str(path),
                line,
                "base_config",
                f"file not found: {base_path}",
                "base_config is resolved against the folder of the file that sets it",
            )
        )
    parent, parent_marks, files = _load_chain(base_path, chain)
    merged_marks = Marks(by_path=dict(parent_marks.by_path), root=marks.root)
    merged = _deep_merge(parent, data, (), merged_marks, marks)
    return merged, merged_marks, [*files, path]


def _deep_merge(
    base: dict[str, Any], child: Mapping[str, Any], path: KeyPath, out_marks: Marks, child_marks: Marks
) -> dict[str, Any]:
    """``child`` over ``base``: mappings merge recursively, everything else (lists included) is replaced."""
    result = dict(base)
    for key, value in child.items():
        here = (*path, key)
        merge = isinstance(value, dict) and isinstance(result.get(key), dict)
        if merge:
            result[key] = _deep_merge(result[key], value, here, out_marks, child_marks)
        else:
            for stale in [p for p in out_marks.by_path if p[: len(here)] == here]:
                del out_marks.by_path[stale]
            result[key] = value
        for p, mark in child_marks.by_path.items():
            if p[: len(here)] == here and (not merge or len(p) == len(here)):
                out_marks.by_path[p] = mark
    return result


# ------------------------------------------------------------------------------------------------ --set
def parse_override(text: str) -> tuple[KeyPath, Any]:
    """``a.b.0=value`` -> ((a, b, 0), value parsed as YAML). Raises ConfigError naming the bad override."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    parts = key.split(".") if key else []
    if not sep or not parts or any(not p for p in parts):
        raise ConfigError(ConfigIssue(OVERRIDE_FILE, None, key, f"bad override {text!r}", "write --set key.path=value"))
    try:
        value = load_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(ConfigIssue(OVERRIDE_FILE, None, key, f"value is not YAML: {exc}")) from None
    return tuple(int(p) if p.isdigit() else p for p in parts), value


def _cannot_set(path: KeyPath, text: str, hint: str) -> ConfigIssue:
    return ConfigIssue(OVERRIDE_FILE, None, format_path(path), f"cannot set {text!r}", hint)


def apply_overrides(loaded: LoadedConfig, overrides: Iterable[str]) -> None:
    """Apply ``--set`` overrides in order; intermediate mappings are created, list items replaced by index. Every
    bad override is reported, together."""
    issues: list[ConfigIssue] = []
    for text in overrides:
        try:
            _apply_override(loaded, text)
        except ConfigError as exc:
            issues.extend(exc.issues)
    if issues:
        raise ConfigError(issues)


def _apply_override(loaded: LoadedConfig, text: str) -> None:
    """One ``key.path=value``: the value set (paths made absolute), its line marks replaced by the override's."""
    path, value = parse_override(text)
    if path and path[-1] in {p[-1] for p in PATH_KEYS} and isinstance(value, str):
        value = str(_absolute(value, Path.cwd()))
    node = _parent_of(loaded.data, path, text)
    last = path[-1]
    if isinstance(node, list) and isinstance(last, int) and last < len(node):
        node[last] = copy.deepcopy(value)
    elif isinstance(node, dict):
        node[str(last)] = copy.deepcopy(value)
    else:
        raise ConfigError(_cannot_set(path, text, "index out of range or parent is not a mapping"))
    for stale in [p for p in loaded.marks.by_path if p[: len(path)] == path]:
        del loaded.marks.by_path[stale]
    loaded.marks.by_path[path] = Mark(OVERRIDE_FILE, None)


def _parent_of(data: dict[str, Any], path: KeyPath, text: str) -> Any:
    """The mapping or list that holds the last part of ``path``; missing mappings (lists before an index) made."""
    node: Any = data
    for i, part in enumerate(path[:-1]):
        if isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        elif isinstance(node, dict):
            if not isinstance(node.get(part), dict | list):
                node[part] = [] if isinstance(path[i + 1], int) else {}
            node = node[part]
        else:
            raise ConfigError(_cannot_set(path, text, f"{format_path(path[: i + 1])} is not a mapping"))
    return node
