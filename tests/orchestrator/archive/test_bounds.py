"""A small hostile archive cannot fill a disk or the memory: restore and verify stay within the sizes of the archive's
manifest, extended headers are capped, and restore checks for room before it writes anything."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard
from archive_helpers import member

import orchestrator.archive.restore as restore_module
from manifests import ArchiveManifest, save_archive_manifest
from manifests.archive import ARCHIVE_MANIFEST_MEMBER
from orchestrator.archive import restore_archive, verify_archive
from orchestrator.archive.reader import MAX_HEADER_BYTES, beside_manifest_path
from orchestrator.cli import main
from orchestrator.errors import ArchiveError

ROOT = "20260101T000000Z-bomb-abc123-s0"
EXPANDED = 300 << 20  # what the member really holds: 300 MB of zeros, a few KB once compressed


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def _write(path: Path, build: Callable[[tarfile.TarFile], None]) -> Path:
    with (
        open(path, "wb") as handle,
        zstandard.ZstdCompressor(level=19).stream_writer(handle) as sink,
        tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar,
    ):
        build(tar)
    return path


def _manifest(listed: int) -> ArchiveManifest:
    from manifests import ArchivedFile

    files = [ArchivedFile(path="big.bin", size=listed, sha256=hashlib.sha256(bytes(listed)).hexdigest())]
    return ArchiveManifest(run_id=ROOT, root=ROOT, files=files, total_size=listed)


def _bomb(folder: Path, *, beside: bool) -> Path:
    """A run archive whose manifest lists ``big.bin`` as 10 bytes while its tar header says 300 MB of zeros."""
    manifest = _manifest(10)

    def build(tar: tarfile.TarFile) -> None:
        tar.addfile(member(ROOT, tarfile.DIRTYPE, mode=0o755))
        big = member(f"{ROOT}/big.bin")
        big.size = EXPANDED
        tar.addfile(big, _Zeros(EXPANDED))
        body = json.dumps(manifest.to_dict()).encode()
        info = member(ARCHIVE_MANIFEST_MEMBER)
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))

    archive = _write(folder / f"{ROOT}.tar.zst", build)
    if beside:
        save_archive_manifest(beside_manifest_path(archive), manifest)
    return archive


def _count_written(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    written = [0]
    original = restore_module.hash_chunks

    def counting(chunks, sink=None):  # type: ignore[no-untyped-def]
        def counted(chunk: bytes) -> None:
            written[0] += len(chunk)
            sink(chunk)

        return original(chunks, counted if sink is not None else None)

    monkeypatch.setattr(restore_module, "hash_chunks", counting)
    return written


@pytest.mark.parametrize("beside", [True, False], ids=["manifest-beside", "manifest-inside-only"])
def test_a_small_archive_that_expands_past_its_manifest_writes_nothing_beyond_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], beside: bool
) -> None:
    archive = _bomb(tmp_path, beside=beside)
    assert archive.stat().st_size < 64 << 10  # kilobytes that would expand to 300 MB
    written = _count_written(monkeypatch)
    into = tmp_path / "into"
    code = main(["archive", "restore", str(archive), "--into", str(into)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "big.bin' is 314572800 bytes; its manifest lists 10" in err and "nothing was restored" in err
    assert written[0] <= 10  # not a byte past the manifest's total
    assert list(into.iterdir()) == []  # no run folder, no staging folder


def test_verify_stops_at_the_manifest_s_sizes(tmp_path: Path) -> None:
    report = verify_archive(_bomb(tmp_path, beside=True))
    assert not report.ok
    assert any("314572800 bytes; its manifest lists 10" in p for p in report.problems), report.problems


def _pax_bomb(folder: Path) -> Path:
    """A 300 MB pax header (tarfile would read all of it into memory) in front of an ordinary member."""
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = EXPANDED

    def build(tar: tarfile.TarFile) -> None:
        tar.fileobj.write(header.tobuf(tarfile.USTAR_FORMAT))  # type: ignore[union-attr]
        zeros = _Zeros(EXPANDED)
        while chunk := zeros.read(1 << 20):
            tar.fileobj.write(chunk)  # type: ignore[union-attr]
        tar.offset += tarfile.BLOCKSIZE + EXPANDED
        tar.addfile(member(f"{ROOT}/ok.txt"), io.BytesIO(b""))

    return _write(folder / "pax.tar.zst", build)


def test_a_huge_extended_header_is_refused_before_it_is_read(tmp_path: Path) -> None:
    archive = _pax_bomb(tmp_path)
    tracemalloc.start()
    try:
        report = verify_archive(archive)
        with pytest.raises(ArchiveError, match=rf"extended tar header .* {EXPANDED} bytes; at most {MAX_HEADER_BYTES}"):
            restore_archive(archive, tmp_path / "into")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert any("extended tar header" in p for p in report.problems), report.problems
    assert peak < 64 << 20, f"{peak / 2**20:.0f} MiB allocated"
    assert not (tmp_path / "into").exists()  # refused while reading the manifest, before anything was made


def test_restore_checks_free_space_before_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_dir: Path
) -> None:
    from orchestrator.archive import ArchiveOptions, archive_runs

    (result,) = archive_runs([run_dir], ArchiveOptions(dest=tmp_path / "dest"))
    usage = restore_module.shutil.disk_usage(tmp_path)
    monkeypatch.setattr(restore_module.shutil, "disk_usage", lambda _: usage._replace(free=1000))
    written = _count_written(monkeypatch)
    with pytest.raises(ArchiveError, match=rf"needs {result.total_size} bytes in .*only 1000 are free"):
        restore_archive(result.archive, tmp_path / "into")
    assert written[0] == 0 and list((tmp_path / "into").iterdir()) == []
