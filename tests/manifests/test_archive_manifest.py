from __future__ import annotations

from pathlib import Path

import pytest

from manifests import (
    ArchivedFile,
    ArchiveManifest,
    LeftOutFile,
    ManifestError,
    load_archive_manifest,
    save_archive_manifest,
)


def _manifest() -> ArchiveManifest:
    return ArchiveManifest(
        run_id="r1",
        root="r1",
        files=[ArchivedFile(path="run.json", size=3, sha256="a" * 64, role="file")],
        left_out=[LeftOutFile(path="wandb/", reason="pass --include-wandb", size=10)],
        archive_sha256="b" * 64,
        archive_size=100,
    )


def test_archive_manifest_roundtrip(weird_tmp_path: Path) -> None:
    manifest = _manifest()
    loaded = load_archive_manifest(save_archive_manifest(weird_tmp_path / "r1.manifest.json", manifest))
    assert loaded == ArchiveManifest.from_dict(manifest.to_dict())
    assert loaded.files[0].sha256 == "a" * 64 and loaded.left_out[0].reason == "pass --include-wandb"
    assert not list(weird_tmp_path.glob(".tmp-*"))


@pytest.mark.parametrize(
    ("field", "value"),
    [("root", "a/b"), ("root", ".."), ("archive_sha256", "not-hex"), ("checkpoints_mode", "some")],
    ids=["root-with-slash", "root-dotdot", "bad-sha", "bad-mode"],
)
def test_archive_manifest_schema_rejects(tmp_path: Path, field: str, value: str) -> None:
    manifest = _manifest()
    setattr(manifest, field, value)
    with pytest.raises(ManifestError, match=field):
        save_archive_manifest(tmp_path / "m.json", manifest)
    assert not (tmp_path / "m.json").exists()
