from __future__ import annotations

import json
from pathlib import Path

import pytest

from manifests import atomic_path, atomic_write_json, read_json
from manifests.errors import ManifestError


def test_atomic_write_json_roundtrip(tmp_path: Path) -> None:
    target = tmp_path / "a" / "doc.json"
    atomic_write_json(target, {"b": 1, "a": [1, 2], "p": Path("x")})
    assert read_json(target) == {"a": [1, 2], "b": 1, "p": "x"}
    assert [p.name for p in target.parent.iterdir()] == ["doc.json"]


def test_failed_write_keeps_previous_version_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "doc.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"v": 2, "half')
        raise RuntimeError("crash mid-write")
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["doc.json"]


def test_read_json_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ManifestError, match="bad.json"):
        read_json(bad)
    with pytest.raises(ManifestError, match="missing.json"):
        read_json(tmp_path / "missing.json")
