"""The JSON Schemas and the code that fills in defaults say the same thing: every property, its type, its default.

A config is validated against ``schemas/<trainer>.schema.json`` and then filled from the trainer's ``spec.DEFAULTS``;
a cluster profile is validated against ``schemas/cluster.schema.json`` and becomes a ``ClusterProfile``. When the two
drift, a key the schema accepts is silently without a default, a default is one the schema would refuse, or a
profile built in code differs from the same profile read from YAML.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema

from orchestrator.launch.clusters import ClusterProfile
from trainers.ppo_expert import spec as ppo_spec

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
# Keys every trainer schema has that orch itself reads before the trainer's defaults apply (config/load, launch).
ORCH_KEYS = {"$schema", "trainer", "name", "base_config", "seeds"}
# Schema keys that have no default on purpose, and why.
NO_DEFAULT = {
    "evaluation.frequency_episodes": "deprecated: orch.config.migrate drops it with a warning",
    "tracking.wandb.dir": "Robot SF's W&B folder, accepted and ignored (orch writes <run_dir>/wandb)",
}
# Options handed on to the environment factory as they are: their defaults are the factory's (trainers/envs).
PASS_THROUGH = {"env_overrides", "env_factory_kwargs", "feature_extractor_kwargs", "socnav_orca"}


def _load(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))


def _resolve(root: Mapping[str, Any], node: Mapping[str, Any]) -> dict[str, Any]:
    node = dict(node)
    while "$ref" in node:
        ref = node.pop("$ref")
        assert ref.startswith("#/$defs/"), ref
        node = {**root["$defs"][ref.removeprefix("#/$defs/")], **node}
    return node


def _disagreements(root: Mapping[str, Any], node: Mapping[str, Any], value: Any, path: str) -> Iterator[str]:
    """Where ``value`` (the defaults at ``path``) and the schema ``node`` disagree. An object the defaults fill in
    (a non-empty mapping) must list exactly the schema's properties, unless it is handed on to the environment
    (:data:`PASS_THROUGH`: a default there must still be a schema property)."""
    node = _resolve(root, node)
    required = set(root.get("required", ()))
    if not (value is None and path.split(".")[-1] in required):  # None: "no default, you must give it"
        own = {k: v for k, v in node.items() if k not in ("properties", "required", "additionalProperties")}
        validator = jsonschema.Draft202012Validator({"$defs": root.get("$defs", {}), **own})  # children: below
        for error in validator.iter_errors(value):
            yield f"{path}: the default {value!r} is refused by the schema ({error.message})"
    if "default" in node and node["default"] != value:
        yield f"{path}: the schema's default is {node['default']!r}, the code's {value!r}"
    if isinstance(value, Mapping) and value and "properties" in node:
        properties = set(node["properties"]) - (ORCH_KEYS if path == "" else set())
        prefix = f"{path}." if path else ""
        for key in sorted(set(value) - properties):
            yield f"{prefix}{key}: a default for a key the schema does not have"
        for key in sorted(properties - set(value)):
            if f"{prefix}{key}" not in NO_DEFAULT and path not in PASS_THROUGH:
                yield f"{prefix}{key}: in the schema, but without a default"
        for key in sorted(set(value) & properties):
            yield from _disagreements(root, node["properties"][key], value[key], f"{prefix}{key}")


def test_the_check_finds_each_kind_of_drift() -> None:
    root = {
        "type": "object",
        "required": ["must"],
        "properties": {
            "must": {"type": "string"},
            "n": {"type": "integer", "default": 3},
            "only_schema": {"type": "string"},
            "sub": {"type": "object", "properties": {"x": {"type": "number"}}},
        },
    }
    defaults = {"must": None, "n": 4, "sub": {"x": "1", "y": 2}}
    assert sorted(_disagreements(root, root, defaults, "")) == [
        "n: the schema's default is 3, the code's 4",
        "only_schema: in the schema, but without a default",
        "sub.x: the default '1' is refused by the schema ('1' is not of type 'number')",
        "sub.y: a default for a key the schema does not have",
    ]


def test_ppo_expert_schema_and_defaults_agree() -> None:
    root = _load(ppo_spec.SCHEMA_NAME)
    assert list(_disagreements(root, root, ppo_spec.DEFAULTS, "")) == []


def test_the_keys_without_a_default_are_in_the_schema() -> None:
    root = _load(ppo_spec.SCHEMA_NAME)
    for dotted in NO_DEFAULT:
        node: dict[str, Any] = root
        for part in dotted.split("."):
            node = _resolve(root, node["properties"][part])
        assert "default" not in node, dotted


def _json_types(annotation: Any) -> set[str]:
    """The JSON types a value of this Python annotation is written as."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return set().union(*(_json_types(a) for a in typing.get_args(annotation)))
    origin = typing.get_origin(annotation) or annotation
    names = {int: "integer", float: "number", str: "string", bool: "boolean", type(None): "null", tuple: "array"}
    if origin in names:
        return {names[origin]}
    if isinstance(origin, type) and issubclass(origin, Mapping):
        return {"object"}
    raise AssertionError(f"no JSON type for {annotation!r}")


def _schema_types(node: Mapping[str, Any]) -> set[str]:
    if "enum" in node:
        return {{str: "string", int: "integer", type(None): "null"}[type(v)] for v in node["enum"]}
    kind = node["type"]
    found = {kind} if isinstance(kind, str) else set(kind)
    return found | ({"integer"} if "number" in found else set())


# Fields of ClusterProfile that are not profile keys: where it was read from, and the backend's own keys.
PROFILE_ONLY = {"source", "site"}


def test_cluster_profile_and_its_schema_agree() -> None:
    properties = _load("cluster")["properties"]
    hints = typing.get_type_hints(ClusterProfile)
    fields = {f.name: f for f in dataclasses.fields(ClusterProfile) if f.name not in PROFILE_ONLY}
    site_keys = set(properties) - set(fields)  # passed to the backend as they are (partition, account...)
    assert site_keys == {"partition", "account", "qos", "gres", "constraint", "exclude"}
    problems = []
    for name, f in fields.items():
        node = properties.get(name)
        if node is None:
            problems.append(f"{name}: a ClusterProfile field the schema does not have")
            continue
        stored = _json_types(hints[name])  # normalised (minutes, GB): a subset of what a profile may say
        if not stored <= _schema_types(node):
            problems.append(f"{name}: stored as {sorted(stored)}, the schema allows {sorted(_schema_types(node))}")
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            assert name == "name", name  # the file name, when the profile gives none
            continue
        default = list(default) if isinstance(default, tuple) else default
        default = dict(default) if isinstance(default, Mapping) else default
        if node.get("default") != default:
            problems.append(f"{name}: the schema's default is {node.get('default')!r}, ClusterProfile's {default!r}")
    assert problems == []


def test_dreamer_config_defaults_agree_with_its_spec() -> None:
    from trainers.dreamerv3 import spec as dreamer_spec
    from trainers.dreamerv3.config import DreamerConfig

    config = DreamerConfig()
    # model: resolved from model_size; tracking: the trackers' own; num_envs: "auto" is decided by the launcher.
    skip = ("model", "tracking", "num_envs")
    differ = {k: (v, getattr(config, k)) for k, v in dreamer_spec.DEFAULTS.items() if k not in skip}
    assert {k: v for k, v in differ.items() if v[0] != v[1]} == {}
