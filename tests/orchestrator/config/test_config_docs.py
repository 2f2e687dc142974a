"""docs/config.md documents every key of both trainer schemas (so the docs cannot silently fall behind)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def _key_paths(root: dict, node: dict, prefix: str = "") -> list[str]:
    ref = node.get("$ref")
    if ref:
        node = root["$defs"][ref.split("/")[-1]]
    paths = []
    for key, sub in node.get("properties", {}).items():
        path = f"{prefix}.{key}" if prefix else key
        paths.append(path)
        paths.extend(_key_paths(root, sub, path))
    items = node.get("items")
    if isinstance(items, dict) and items.get("properties"):
        paths.extend(_key_paths(root, items, f"{prefix}.[]"))
    return paths


@pytest.mark.parametrize("name", ["ppo_expert", "dreamerv3"])
def test_docs_list_every_schema_key(name: str) -> None:
    schema = json.loads((REPO / "schemas" / f"{name}.schema.json").read_text())
    docs = (REPO / "docs" / "config.md").read_text()
    missing = [p for p in _key_paths(schema, schema) if f"`{p}`" not in docs]
    assert not missing, f"docs/config.md lacks {missing}; regenerate the key tables"
