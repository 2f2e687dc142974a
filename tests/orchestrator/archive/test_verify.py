"""verify finds every damaged byte: in the compressed file, in a member's content, and missing or extra members."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from archive_helpers import make_run, recompress

from orchestrator.archive import ArchiveOptions, archive_runs, verify_archive
from orchestrator.archive.reader import beside_manifest_path


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("verify")
    run_dir = make_run(base / "runs", big=2 << 20)  # > 1 MiB: checkpoints go through their own zstd frames
    [result] = archive_runs([run_dir], ArchiveOptions(dest=base / "dest"))
    assert verify_archive(result.archive).ok
    return result.archive


def _copy(pristine: Path, folder: Path, *, with_manifest: bool) -> Path:
    archive = folder / pristine.name
    archive.write_bytes(pristine.read_bytes())
    if with_manifest:
        beside_manifest_path(archive).write_bytes(beside_manifest_path(pristine).read_bytes())
    return archive


@pytest.mark.parametrize("with_manifest", [True, False], ids=["with-beside-manifest", "archive-alone"])
def test_one_flipped_byte_anywhere_in_the_file_is_detected(pristine: Path, tmp_path: Path, with_manifest: bool) -> None:
    size = pristine.stat().st_size
    positions = sorted({0, 1, 5, size // 3, size // 2, size - 5, size - 1, *range(13, size, size // 11)})
    for pos in positions:
        archive = _copy(pristine, tmp_path, with_manifest=with_manifest)
        data = bytearray(archive.read_bytes())
        data[pos] ^= 0x01
        archive.write_bytes(bytes(data))
        report = verify_archive(archive)
        assert not report.ok, f"flipped byte at {pos} of {size} not detected"


def _content_offset(raw: bytearray, name: str) -> int:
    """Offset of member ``name``'s content inside the tar bytes."""
    import io

    with tarfile.open(fileobj=io.BytesIO(bytes(raw)), mode="r:") as tar:
        info = tar.getmember(name)
        return info.offset_data


def test_flipped_byte_in_a_member_is_reported_as_changed(pristine: Path, tmp_path: Path) -> None:
    archive = _copy(pristine, tmp_path, with_manifest=False)
    root = pristine.name.removesuffix(".tar.zst")
    raw = recompress(archive)
    offset = _content_offset(raw, f"{root}/checkpoints/best.pt") + 1000

    def flip(tar: bytearray) -> None:
        tar[offset] ^= 0x80

    recompress(archive, flip)  # a valid .tar.zst again, only the member's bytes differ
    report = verify_archive(archive)
    assert [c.split(" ")[0] for c in report.changed] == ["checkpoints/best.pt"]
    assert not report.missing and not report.extra and not report.problems
    # with the manifest beside it, the archive's own sha256 no longer matches either
    beside_manifest_path(archive).write_bytes(beside_manifest_path(pristine).read_bytes())
    assert any("archive sha256" in p for p in verify_archive(archive).problems)


def test_missing_and_extra_members_are_named(pristine: Path, tmp_path: Path) -> None:
    archive = _copy(pristine, tmp_path, with_manifest=False)
    root = pristine.name.removesuffix(".tar.zst")

    def rename(tar: bytearray) -> None:  # same length, so only the name changes: one missing, one extra
        old = f"{root}/logs/train.log".encode()
        at = tar.find(old)
        while at != -1:
            tar[at : at + len(old)] = f"{root}/logs/train.lug".encode()
            at = tar.find(old, at + 1)
        _fix_checksums(tar)

    recompress(archive, rename)
    report = verify_archive(archive)
    assert report.missing == ["logs/train.log"]
    assert report.extra == ["logs/train.lug"]


def _fix_checksums(tar: bytearray) -> None:
    """Recompute every ustar header checksum (hand edits would otherwise make the tar unreadable)."""
    pos = 0
    while pos + 512 <= len(tar):
        block = tar[pos : pos + 512]
        if block == bytearray(512):
            break
        block[148:156] = b" " * 8
        chk = sum(block)
        tar[pos + 148 : pos + 156] = b"%06o\0 " % chk
        size = int(block[124:136].rstrip(b"\0 ") or b"0", 8)
        pos += 512 + (size + 511) // 512 * 512
