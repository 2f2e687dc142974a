from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from manifests import atomic_path, atomic_write_json, read_json, read_jsonl, sha256_file
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
    with pytest.raises(ManifestError, match=r"bad\.json"):
        read_json(bad)
    with pytest.raises(ManifestError, match=r"missing\.json"):
        read_json(tmp_path / "missing.json")


def test_read_jsonl_skips_torn_garbled_and_non_object_lines(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1}\nnot json\n[1, 2]\n{"step": 2}\n{"step": 3, "to')  # a writer mid-line
    assert read_jsonl(path) == [{"step": 1}, {"step": 2}]
    assert read_jsonl(tmp_path / "missing.jsonl") == []


def test_sha256_file_streams_in_chunks(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert sha256_file(path) == expected
    assert sha256_file(path, chunk_size=7) == expected  # chunk boundaries change nothing
