"""Validation of manifest documents against the JSON Schemas shipped in the ``schemas`` package data."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from manifests.errors import ManifestError

__all__ = ["load_schema", "validate_document"]


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """Return the schema ``schemas/<name>.schema.json`` (found as package data, so it works from a wheel)."""
    try:
        text = resources.files("schemas").joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ManifestError(f"no schema named {name!r} in the installed package") from exc
    return json.loads(text)


@functools.cache
def _validator(name: str) -> Any:
    import jsonschema

    schema = load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def validate_document(name: str, document: Any, *, source: str = "<memory>") -> None:
    """Raise :class:`ManifestError` listing every violation of schema ``name``, each with its JSON path."""
    errors = sorted(_validator(name).iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{source}: {'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors]
        raise ManifestError(f"{source} does not follow the {name} schema:\n" + "\n".join(lines))
