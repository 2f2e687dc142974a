"""JSON Schema (Draft 2020-12) validation of a loaded config, every problem as a located :class:`ConfigIssue`.

jsonschema's messages are rewritten for a person: an unknown key gets a "did you mean" hint (difflib over the keys
allowed at that level, or the place where the key does belong), a bad enum value the closest allowed value, a type
error the expected and the given type. Validators are built once per schema and cached; jsonschema is imported lazily.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

from manifests.schema import load_schema  # the one reader of schemas/ (cached); re-exported for config callers
from orchestrator.config.load import KeyPath, LoadedConfig, Marks, format_path
from orchestrator.errors import ConfigIssue

__all__ = ["load_schema", "schema_exists", "validate_loaded"]

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true/false",
    "null": "null",
}
_BOUNDS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}


def schema_exists(name: str) -> bool:
    """Whether ``schemas/<name>.schema.json`` is shipped (the cluster schema comes from another part of orch)."""
    return resources.files("schemas").joinpath(f"{name}.schema.json").is_file()


@functools.cache
def _validator(name: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema(name))


def validate_loaded(loaded: LoadedConfig, schema_name: str) -> list[ConfigIssue]:
    """Every schema violation of ``loaded.data`` against ``schema_name``, sorted by file and line."""
    issues: list[ConfigIssue] = []
    for error in _validator(schema_name).iter_errors(loaded.data):
        issues.extend(_issues_for(error, loaded, schema_name))
    unique = {(i.file, i.line, i.key_path, i.message): i for i in issues}
    return sorted(unique.values(), key=lambda i: (i.file, i.line or 0, i.key_path))


def _issues_for(error: Any, loaded: LoadedConfig, schema_name: str) -> Iterator[ConfigIssue]:
    """The issues of one schema error, worded by the keyword that failed (:data:`_WORDING`), else the schema's own."""
    path: KeyPath = tuple(error.absolute_path)
    validator = str(error.validator)
    if validator == "additionalProperties" and isinstance(error.instance, dict):
        yield from _unknown_keys(error, loaded.marks, path, schema_name)
    elif validator == "required":
        yield _missing_key(error, loaded.marks, path)
    elif validator in _WORDING:
        yield loaded.marks.issue(path, *_WORDING[validator](error))
    else:
        yield loaded.marks.issue(path, error.message)


def _unknown_keys(error: Any, marks: Marks, path: KeyPath, schema_name: str) -> Iterator[ConfigIssue]:
    allowed = sorted(error.schema.get("properties", {}))
    for key in error.instance:
        if key not in allowed:
            yield marks.issue((*path, key), "unknown key", _key_hint(key, allowed, path, schema_name))


def _missing_key(error: Any, marks: Marks, path: KeyPath) -> ConfigIssue:
    missing = error.message.split("'")[1] if "'" in error.message else error.message
    where = f" in {format_path(marks.original_path(path))}" if path else ""
    return marks.issue(path, f"missing required key '{missing}'{where}", _describe(error.schema, missing))


def _enum_wording(error: Any) -> tuple[str, str]:
    options = [str(v) for v in error.validator_value if v is not None]
    close = difflib.get_close_matches(str(error.instance), options, n=1, cutoff=0.5)
    return (
        f"{error.instance!r} is not allowed",
        f"did you mean '{close[0]}'?" if close else f"one of: {', '.join(options)}",
    )


def _type_wording(error: Any) -> tuple[str]:
    expected = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
    wanted = " or ".join(_TYPE_NAMES.get(str(t), str(t)) for t in expected)
    return (f"expected {wanted}, got {_kind(error.instance)} {_short(error.instance)}",)


def _options_wording(error: Any) -> tuple[str, str]:
    options = [_option_text(s) for s in error.validator_value]
    return f"{_short(error.instance)} is not valid", f"expected {' or '.join(options)}"


def _bound_wording(error: Any) -> tuple[str]:
    return (f"must be {_BOUNDS[error.validator]} {error.validator_value}, got {_short(error.instance)}",)


def _empty_wording(error: Any) -> tuple[str]:
    return (f"must not be empty (at least {error.validator_value}), got {_short(error.instance)}",)


# schema keyword -> (message, hint) of a value that fails it
_WORDING: dict[str, Callable[[Any], tuple[str, ...]]] = {
    "enum": _enum_wording,
    "type": _type_wording,
    "anyOf": _options_wording,
    "oneOf": _options_wording,
    **dict.fromkeys(_BOUNDS, _bound_wording),
    "minItems": _empty_wording,
    "minLength": _empty_wording,
    "uniqueItems": lambda _error: ("items must be unique", "remove the repeated entry"),
    "pattern": lambda error: (
        f"{_short(error.instance)} does not match {error.validator_value}",
        "letters, digits, '_', '-', '.'; starting with a letter or digit",
    ),
}


def _key_hint(key: str, allowed: list[str], path: KeyPath, schema_name: str) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    home = _find_key_home(key, schema_name)
    if home and home != path:
        return f"'{key}' belongs under {format_path(home) or 'the top level'}"
    shown = ", ".join(allowed[:12]) + (", ..." if len(allowed) > 12 else "")
    return f"allowed here: {shown}" if allowed else "no keys are allowed here"


@functools.cache
def _key_homes(schema_name: str) -> dict[str, KeyPath]:
    """key name -> first (shortest) path where the schema allows it, for "belongs under" hints."""
    schema = load_schema(schema_name)
    homes: dict[str, KeyPath] = {}
    queue: list[tuple[dict[str, Any], KeyPath]] = [(schema, ())]
    seen: set[int] = set()
    while queue:
        node, path = queue.pop(0)
        node = _deref(schema, node)
        if id(node) in seen and path:
            continue
        seen.add(id(node))
        for key, sub in node.get("properties", {}).items():
            homes.setdefault(key, path)
            sub = _deref(schema, sub)
            if sub.get("type") == "object" and len(path) < 4:
                queue.append((sub, (*path, key)))
    return homes


def _find_key_home(key: str, schema_name: str) -> KeyPath | None:
    return _key_homes(schema_name).get(key)


def _deref(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return root["$defs"][ref.split("/")[-1]]
    return node


def _describe(schema: dict[str, Any], key: str) -> str | None:
    sub = schema.get("properties", {}).get(key, {})
    return sub.get("description")


def _option_text(schema: dict[str, Any]) -> str:
    if "const" in schema:
        return repr(schema["const"])
    if "enum" in schema:
        return " or ".join(repr(v) for v in schema["enum"])
    text = _TYPE_NAMES.get(schema.get("type", ""), str(schema.get("type", "a value")))
    if "minimum" in schema:
        text += f" >= {schema['minimum']}"
    return text


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "null"
    return {dict: "a mapping", list: "a list", str: "a string", int: "an integer", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
