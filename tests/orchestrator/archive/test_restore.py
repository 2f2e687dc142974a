"""restore writes nothing outside its target, refuses tampered archives whole, and never overwrites by accident."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from archive_helpers import make_tar_zst, member, recompress, tree

from orchestrator.archive import ArchiveOptions, archive_runs, restore_archive
from orchestrator.errors import ArchiveError

R = "run-1"
MALICIOUS = {
    "dotdot": [(member(f"{R}/../../escaped.txt"), b"pwned")],
    "absolute": [(member("/tmp/orch-escaped-absolute.txt"), b"pwned")],
    "symlink-escape": [
        (member(f"{R}/link", tarfile.SYMTYPE, linkname="../../.."), None),
        (member(f"{R}/link/escaped.txt"), b"pwned"),
    ],
    "symlink-absolute": [(member(f"{R}/etc", tarfile.SYMTYPE, linkname="/etc"), None)],
    "hardlink-escape": [(member(f"{R}/passwd", tarfile.LNKTYPE, linkname="../../outside.txt"), None)],
    "hardlink-absolute": [(member(f"{R}/passwd", tarfile.LNKTYPE, linkname="/etc/passwd"), None)],
    "char-device": [(member(f"{R}/null", tarfile.CHRTYPE, mode=0o666), None)],
    "block-device": [(member(f"{R}/sda", tarfile.BLKTYPE, mode=0o666), None)],
    "fifo": [(member(f"{R}/pipe", tarfile.FIFOTYPE), None)],
    "second-root": [(member("other-run/escaped.txt"), b"pwned")],
}


def _snapshot(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_malicious_archive_restores_nothing(weird_tmp_path: Path, case: str) -> None:
    sandbox = weird_tmp_path / "sandbox"
    into = sandbox / "a" / "b" / "into"
    into.mkdir(parents=True)
    (sandbox / "outside.txt").write_text("original")
    members = [(member(R, tarfile.DIRTYPE, mode=0o755), None), (member(f"{R}/ok.txt"), b"fine"), *MALICIOUS[case]]
    archive = make_tar_zst(weird_tmp_path / f"{case}.tar.zst", members)
    before = _snapshot(sandbox)
    with pytest.raises(ArchiveError, match=r"refused: .*nothing was restored"):
        restore_archive(archive, into)
    assert _snapshot(sandbox) == before  # no run folder, no staging folder, nothing beside or above
    assert (sandbox / "outside.txt").read_text() == "original"
    assert not Path("/tmp/orch-escaped-absolute.txt").exists()


def test_restore_refuses_existing_run_unless_forced(run_dir: Path, weird_tmp_path: Path) -> None:
    [result] = archive_runs([run_dir], ArchiveOptions(dest=weird_tmp_path / "d", checkpoints="best"))
    into = weird_tmp_path / "into"
    (into / run_dir.name).mkdir(parents=True)
    (into / run_dir.name / "mine.txt").write_text("keep me")
    with pytest.raises(ArchiveError, match=r"already exists.*--force"):
        restore_archive(result.archive, into)
    assert tree(into / run_dir.name) == {"mine.txt": b"keep me"}
    restored = restore_archive(result.archive, into, force=True)
    assert restored.replaced
    assert "mine.txt" not in tree(into / run_dir.name)
    assert (into / run_dir.name / "checkpoints" / "best.pt").read_bytes() == (
        run_dir / "checkpoints" / "best.pt"
    ).read_bytes()
    assert sorted(p.name for p in into.iterdir()) == [run_dir.name]  # staging and the old copy are gone


def test_restore_checks_every_member_checksum(run_dir: Path, weird_tmp_path: Path) -> None:
    [result] = archive_runs([run_dir], ArchiveOptions(dest=weird_tmp_path / "d"))
    result.manifest_path.unlink()  # only the manifest inside the archive can tell now
    raw = recompress(result.archive)
    with tarfile.open(fileobj=io.BytesIO(bytes(raw)), mode="r:") as tar:
        offset = tar.getmember(f"{run_dir.name}/metrics.jsonl").offset_data

    def flip(tar: bytearray) -> None:
        tar[offset] ^= 0x01

    recompress(result.archive, flip)
    into = weird_tmp_path / "into"
    with pytest.raises(ArchiveError, match=r"checksums do not match.*changed: metrics\.jsonl"):
        restore_archive(result.archive, into)
    assert list(into.iterdir()) == []


def test_restore_of_a_damaged_file_leaves_nothing(run_dir: Path, weird_tmp_path: Path) -> None:
    [result] = archive_runs([run_dir], ArchiveOptions(dest=weird_tmp_path / "d"))
    data = bytearray(result.archive.read_bytes())
    data[len(data) // 2] ^= 0x10
    result.archive.write_bytes(bytes(data))
    into = weird_tmp_path / "into"
    with pytest.raises(ArchiveError, match="nothing"):
        restore_archive(result.archive, into)
    assert list(into.iterdir()) == []
