"""Cluster profiles: where and how ``orch submit`` runs jobs.

A profile is a small YAML file checked against ``schemas/cluster.schema.json``. Profiles are searched, first hit wins,
in every folder of ``$ORCH_CLUSTERS`` (``os.pathsep``-separated), then ``~/.config/orch/clusters/``, then
``configs/clusters/`` of the working directory and the profiles orch ships (its checkout's, or an installed
wheel's), because real cluster details are private and belong in a user's own folder. ``--cluster`` also takes a
path to a YAML file.

Profiles speak orch's generic names (``cpus_per_task``, ``mem_gb``, ``time_min``, ``gpus``); the backend translates
them (``launch/slurm.py``). Keys a backend passes through unchanged (queue, account...) are kept in ``site``.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from manifests.shipped import shipped_path
from orchestrator.errors import LaunchError

__all__ = [
    "ClusterProfile",
    "cluster_search_path",
    "list_clusters",
    "load_cluster",
    "parse_mem_gb",
    "parse_time_min",
    "split_cluster_overrides",
]

CLUSTER_PREFIX = "cluster."
DEFAULT_CLUSTER = "local"

# Keys with a meaning to orch itself; every other schema key is passed to the backend as it is (``site``).
_GENERIC = (
    "name",
    "description",
    "backend",
    "gpus",
    "cpus_per_task",
    "mem_gb",
    "time_min",
    "modules",
    "env",
    "setup",
    "python",
    "max_array_size",
    "array_parallelism",
    "signal_delay_s",
    "max_requeues",
    "scheduler_options",
    "runs_per_job",
)


@dataclass(frozen=True)
class ClusterProfile:
    """A validated profile with defaults filled and units normalised (minutes, GB)."""

    name: str
    backend: str = "local"
    description: str = ""
    source: Path | None = None
    gpus: int | None = None
    cpus_per_task: int | None = None
    mem_gb: float | None = None
    time_min: int = 1440
    modules: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    setup: tuple[str, ...] = ()
    python: str | None = None
    max_array_size: int = 1000
    array_parallelism: int | None = None
    signal_delay_s: int = 120
    max_requeues: int = 3
    scheduler_options: Mapping[str, Any] = field(default_factory=dict)
    site: Mapping[str, Any] = field(default_factory=dict)
    runs_per_job: int = 1  # runs trained side by side in one process of one job (launch/group.py)

    def setup_lines(self) -> list[str]:
        """Shell lines run before the job: modules, exported variables, then the profile's own lines. Variables
        named like secrets are not written (they reach the job in the environment of the submitting process)."""
        import shlex

        from orchestrator.launch.secrets import is_secret_name

        lines = [f"module load {shlex.quote(m)}" for m in self.modules]
        for key, value in self.env.items():
            if is_secret_name(key):
                lines.append(f"# {key}: secret, passed in the environment of the submission (never written here)")
            else:
                lines.append(f"export {key}={shlex.quote(str(value))}")
        lines += list(self.setup)
        return lines

    def to_dict(self) -> dict[str, Any]:
        """The profile as the JSON recorded in ``run.json`` (scheduler.cluster)."""
        out: dict[str, Any] = {k: getattr(self, k) for k in _GENERIC}
        out.update(self.site)
        out["modules"] = list(self.modules)
        out["setup"] = list(self.setup)
        out["env"] = dict(self.env)
        out["scheduler_options"] = dict(self.scheduler_options)
        out["source"] = str(self.source) if self.source else None
        return out


@functools.cache
def _schema() -> dict[str, Any]:
    from manifests.schema import load_schema

    return load_schema("cluster")


def valid_keys() -> dict[str, Any]:
    """Every profile key and its default, from the schema (the one list, so the error message cannot drift)."""
    return {k: v.get("default") for k, v in _schema()["properties"].items()}


def cluster_search_path() -> list[Path]:
    """Folders searched for ``<name>.yaml``, in order."""
    folders: list[Path] = []
    env = os.environ.get("ORCH_CLUSTERS", "")
    folders += [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    folders.append(Path("~/.config/orch/clusters").expanduser())
    folders.append(Path.cwd() / "configs" / "clusters")
    shipped = shipped_path("configs", "clusters")  # the checkout's, or an installed wheel's share/orch/configs
    if shipped not in folders:
        folders.append(shipped)
    return folders


def list_clusters() -> dict[str, Path]:
    """Profile name -> the file that wins the search."""
    found: dict[str, Path] = {}
    for folder in cluster_search_path():
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.y*ml")):
            found.setdefault(path.stem, path)
    return found


def _find(name: str) -> Path:
    candidate = Path(name).expanduser()
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return candidate
    for folder in cluster_search_path():
        for suffix in (".yaml", ".yml"):
            path = folder / f"{name}{suffix}"
            if path.is_file():
                return path
    known = ", ".join(sorted(list_clusters())) or "none"
    where = ", ".join(str(f) for f in cluster_search_path())
    raise LaunchError(
        f"no cluster profile named {name!r} (known: {known}); add {name}.yaml to one of: {where}, "
        "or pass --cluster path/to/profile.yaml"
    )


def split_cluster_overrides(overrides: Iterable[str]) -> tuple[list[str], dict[str, Any]]:
    """Split ``--set`` items into config overrides and ``cluster.KEY=VALUE`` items (values parsed as YAML)."""
    import yaml

    from orchestrator.config.yamlread import load_yaml

    config: list[str] = []
    cluster: dict[str, Any] = {}
    for item in overrides:
        if not item.startswith(CLUSTER_PREFIX):
            config.append(item)
            continue
        key, sep, raw = item[len(CLUSTER_PREFIX) :].partition("=")
        if not sep or not key:
            raise LaunchError(f"--set {item!r}: expected cluster.KEY=VALUE")
        try:
            cluster[key.strip()] = load_yaml(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            raise LaunchError(f"--set {item!r}: value is not valid YAML ({exc})") from None
    return config, cluster


def load_cluster(name: str | None = None, overrides: Mapping[str, Any] | None = None) -> ClusterProfile:
    """Find, read, override and validate a profile. Raises :class:`LaunchError` naming the file and the key."""
    import yaml

    from orchestrator.config.yamlread import load_yaml

    path = _find(name or DEFAULT_CLUSTER)
    try:
        data = load_yaml(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise LaunchError(f"{path}: cannot read cluster profile ({exc})") from None
    if not isinstance(data, dict):
        raise LaunchError(f"{path}: a cluster profile is a mapping of keys to values, got {type(data).__name__}")
    merged = {**data, **dict(overrides or {})}
    return profile_from_dict(merged, source=path, default_name=path.stem)


def profile_from_dict(
    data: Mapping[str, Any], *, source: Path | None = None, default_name: str = "custom"
) -> ClusterProfile:
    """Validate a profile document and build the normalised :class:`ClusterProfile`."""
    where = str(source) if source else "cluster profile"
    values = _checked(data, where)
    site = {k: v for k, v in values.items() if k not in _GENERIC and v is not None}
    try:
        mem = parse_mem_gb(values["mem_gb"])
        time_min = parse_time_min(values["time_min"])
    except ValueError as exc:
        raise LaunchError(f"{where}: {exc}") from None
    return ClusterProfile(
        name=str(values["name"] or default_name),
        backend=str(values["backend"]),
        description=str(values["description"] or ""),
        source=source,
        gpus=values["gpus"],
        cpus_per_task=values["cpus_per_task"],
        mem_gb=mem,
        time_min=time_min,
        modules=tuple(values["modules"] or ()),
        env={str(k): _env_value(v) for k, v in (values["env"] or {}).items()},
        setup=tuple(values["setup"] or ()),
        python=values["python"],
        max_array_size=int(values["max_array_size"]),
        array_parallelism=values["array_parallelism"],
        signal_delay_s=int(values["signal_delay_s"]),
        max_requeues=int(values["max_requeues"]),
        scheduler_options=dict(values["scheduler_options"] or {}),
        site=site,
        runs_per_job=int(values["runs_per_job"]),
    )


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OPTION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_UNSAFE = ("\n", "\r", "\0")


def _checked(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Every profile key with its value, the schema's default where the document has none; raises
    :class:`LaunchError` on an unknown key, a value the schema refuses, or one that would break the batch script."""
    keys = valid_keys()
    unknown = sorted(set(data) - set(keys))
    if unknown:
        listing = ", ".join(f"{k} (default: {keys[k]!r})" for k in sorted(keys))
        raise LaunchError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {listing}")
    _validate(dict(data), where)
    values = {k: data.get(k, keys[k]) for k in keys}
    _check_shell_safe(values, where)
    return values


def _check_shell_safe(values: Mapping[str, Any], where: str) -> None:
    """Refuse, before any batch script exists, what would break out of its line: an env name that is not a shell
    identifier, a newline in a value, a directive name that is not one."""
    problems = [*_mapping_problems(values), *_line_problems(values)]
    if problems:
        raise LaunchError(f"{where}: " + "; ".join(problems))


def _unsafe(value: Any) -> bool:
    return any(c in str(value) for c in _UNSAFE)


def _mapping_problems(values: Mapping[str, Any]) -> list[str]:
    """Names that are not variable or option names, and values that span lines, in ``env`` and
    ``scheduler_options``."""
    problems: list[str] = []
    for name, value in dict(values.get("env") or {}).items():
        if not _ENV_NAME.match(str(name)):
            problems.append(f"env: {name!r} is not a variable name (letters, digits, _; not starting with a digit)")
        if _unsafe(value):
            problems.append(f"env.{name}: the value holds a newline or NUL; give it on one line")
    for key, value in dict(values.get("scheduler_options") or {}).items():
        if not _OPTION_NAME.match(str(key)):
            problems.append(f"scheduler_options: {key!r} is not a scheduler option name")
        if _unsafe(value):
            problems.append(f"scheduler_options.{key}: the value holds a newline or NUL")
    return problems


def _line_problems(values: Mapping[str, Any]) -> list[str]:
    """Values written on one line of the script (directives, module and setup lines) that span lines."""
    problems = [
        f"{key}: the value holds a newline or NUL"
        for key in ("partition", "account", "qos", "gres", "constraint", "exclude", "python", "name")
        if _unsafe(values.get(key) or "")
    ]
    for key in ("modules", "setup"):
        problems += [
            f"{key}[{i}]: holds a newline or NUL; give one line per list item"
            for i, item in enumerate(values.get(key) or [])
            if _unsafe(item)
        ]
    return problems


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _validate(document: dict[str, Any], where: str) -> None:
    from manifests import ManifestError, validate_document

    try:
        validate_document("cluster", document, source=where)
    except ManifestError as exc:
        raise LaunchError(str(exc).replace("\n", "; ")) from None


_MEM = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)B?\s*$", re.IGNORECASE)
_UNIT_GB = {"": 1.0, "K": 1 / 1024**2, "M": 1 / 1024, "G": 1.0, "T": 1024.0}


def parse_mem_gb(value: float | int | str | None) -> float | None:
    """``64`` / ``"64G"`` / ``"500M"`` -> GB (a bare number is GB)."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"mem_gb must be positive, got {value}")
        return float(value)
    match = _MEM.match(str(value))
    if not match:
        raise ValueError(f"mem_gb {value!r} is not a size such as 64, 64G or 500M")
    return float(match.group(1)) * _UNIT_GB[match.group(2).upper()]


def parse_time_min(value: int | str) -> int:
    """Slurm-style durations -> whole minutes (rounded up): ``90``, ``"90"``, ``"MM:SS"``, ``"HH:MM:SS"``,
    ``"D-HH"``, ``"D-HH:MM"``, ``"D-HH:MM:SS"``."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"time_min must be positive, got {value}")
        return value
    text = str(value).strip()
    days = 0
    if "-" in text:
        head, text = text.split("-", 1)
        days = int(head)
        parts = [int(p) for p in text.split(":")]
        hours, minutes, seconds = [*parts, 0, 0, 0][:3]
    else:
        parts = [int(p) for p in text.split(":")] if text else []
        if len(parts) == 1:
            hours, minutes, seconds = 0, parts[0], 0
        elif len(parts) == 2:
            hours, minutes, seconds = 0, parts[0], parts[1]
        elif len(parts) == 3:
            hours, minutes, seconds = parts
        else:
            raise ValueError(f"time_min {value!r} is not minutes or [D-]HH:MM[:SS]")
    total = days * 1440 + hours * 60 + minutes + math.ceil(seconds / 60)
    if total <= 0:
        raise ValueError(f"time_min {value!r} must be at least one minute")
    return total
