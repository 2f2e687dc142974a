"""Archive a run and restore it: byte-identical files, the right things left out, the record in run.json."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from archive_helpers import make_run, tree

from manifests import load_archive_manifest, load_run_manifest
from orchestrator.archive import ArchiveOptions, archive_runs, resolve_targets, restore_archive, verify_archive
from orchestrator.errors import ArchiveError, RunRefError

LEFT_OUT_ALWAYS = {
    "checkpoints/step_15.pt",  # no sidecar
    "checkpoints/.tmp-step_20.pt.abc",  # unfinished atomic write
    "config-link.yaml",  # symlink
    "wandb/",
}


def test_archive_then_restore_is_byte_identical(run_dir: Path, weird_tmp_path: Path) -> None:
    dest = weird_tmp_path / "arch ives"
    [result] = archive_runs([run_dir], ArchiveOptions(dest=dest))
    source = tree(run_dir)
    restored = restore_archive(result.archive, weird_tmp_path / "restored")
    assert restored.target == weird_tmp_path / "restored" / run_dir.name
    got = tree(restored.target)
    left_out = {x.path for x in result.left_out}
    assert left_out == LEFT_OUT_ALWAYS
    locks = {".run.json.lock", ".trainer.lock"}  # the run's advisory locks hold no data and are never archived
    expected = {k: v for k, v in source.items() if k not in left_out | locks and not k.startswith("wandb/")}
    # run.json gained the archive record after it was archived; everything else is byte-identical
    assert set(got) == set(expected)
    assert {k: v for k, v in got.items() if k != "run.json"} == {k: v for k, v in expected.items() if k != "run.json"}
    assert json.loads(got["run.json"])["archives"] == []
    for rel in ("metrics.jsonl", "checkpoints/best.pt"):
        assert (restored.target / rel).stat().st_mtime == pytest.approx((run_dir / rel).stat().st_mtime, abs=1e-3)
    assert (restored.target / "failures").is_dir()  # empty folders come back too


def test_manifests_checksums_and_run_record(run_dir: Path, weird_tmp_path: Path) -> None:
    dest = weird_tmp_path / "dest"
    [result] = archive_runs([run_dir], ArchiveOptions(dest=dest))
    digest = hashlib.sha256(result.archive.read_bytes()).hexdigest()
    beside = load_archive_manifest(result.manifest_path)
    assert beside.archive_sha256 == result.sha256 == digest
    assert beside.archive_size == result.archive.stat().st_size
    assert (dest / f"{run_dir.name}.tar.zst.sha256").read_text() == f"{digest}  {result.archive.name}\n"
    by_path = {f.path: f for f in beside.files}
    best = (run_dir / "checkpoints" / "best.pt").read_bytes()
    assert by_path["checkpoints/best.pt"].sha256 == hashlib.sha256(best).hexdigest()
    assert by_path["checkpoints/best.pt"].role == "checkpoint"
    assert {x.path: x.reason for x in beside.left_out}["wandb/"].endswith("pass --include-wandb to archive it")
    assert beside.best_metric == {"step": 10, "metrics": {"eval_episode_return": 2.0}}
    [record] = load_run_manifest(run_dir).archives
    assert (record.path, record.sha256) == (str(result.archive.resolve()), digest)
    if shutil.which("tar") and shutil.which("zstd"):  # readable by standard tools too
        out = subprocess.run(["tar", "--zstd", "-tf", str(result.archive)], capture_output=True, text=True, check=True)
        assert f"{run_dir.name}/checkpoints/best.pt" in out.stdout.split()


@pytest.mark.parametrize(
    ("mode", "kept"),
    [
        ("all", {"step_5", "step_10", "best", "final"}),
        ("best", {"best"}),
        ("final", {"final"}),
        ("none", set()),
    ],
)
def test_checkpoint_modes(tmp_path: Path, mode: str, kept: set[str]) -> None:
    run_dir = make_run(tmp_path / "runs", big=4096)
    [result] = archive_runs([run_dir], ArchiveOptions(dest=tmp_path / "d", checkpoints=mode))
    files = {f.path for f in load_archive_manifest(result.manifest_path).files}
    got = {Path(p).stem for p in files if p.startswith("checkpoints/")}
    assert got == kept
    assert all(f"checkpoints/{name}.json" in files for name in kept)  # sidecars travel with their checkpoints
    dropped = {x.path for x in result.left_out if x.reason == f"not chosen by --checkpoints {mode}"}
    assert {Path(p).stem for p in dropped} == {"step_5", "step_10", "best", "final"} - kept


def test_include_wandb_and_damaged_checkpoint(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path / "runs", big=4096)
    (run_dir / "checkpoints" / "step_5.pt").write_bytes(b"bit rot")  # sidecar sha256 no longer matches
    [result] = archive_runs([run_dir], ArchiveOptions(dest=tmp_path / "d", include_wandb=True))
    files = {f.path for f in load_archive_manifest(result.manifest_path).files}
    assert "wandb/run-1/run.wandb" in files
    reasons = {x.path: x.reason for x in result.left_out}
    assert "sha256 differs from the sidecar" in reasons["checkpoints/step_5.pt"]
    assert "checkpoints/step_5.json" in reasons and "checkpoints/step_5.pt" not in files
    assert verify_archive(result.archive).ok


def test_targets_run_id_sweep_id_and_folder(tmp_path: Path) -> None:
    runs = tmp_path / "root" / "runs"
    a = make_run(runs, "r-a", sweep_id="sw1", big=16)
    b = make_run(runs, "r-b", sweep_id="sw1", big=16)
    c = make_run(runs, "r-c", big=16)
    root = tmp_path / "root"
    assert resolve_targets(["r-c"], root) == [c]
    assert resolve_targets(["sw1", "r-a"], root) == [a, b]
    assert resolve_targets([str(runs)], root) == [a, b, c]
    with pytest.raises(RunRefError, match="no run or sweep 'nope'"):
        resolve_targets(["nope"], root)


def test_existing_archive_and_dest_inside_run_are_refused(run_dir: Path, tmp_path: Path) -> None:
    archive_runs([run_dir], ArchiveOptions(dest=tmp_path / "d", checkpoints="none"))
    with pytest.raises(ArchiveError, match="already exists"):
        archive_runs([run_dir], ArchiveOptions(dest=tmp_path / "d"))
    with pytest.raises(ArchiveError, match="inside run directory"):
        archive_runs([run_dir], ArchiveOptions(dest=run_dir / "archives"))


def test_list_reads_the_manifest_inside_when_none_is_beside(tmp_path: Path) -> None:
    from orchestrator.archive import list_archives

    runs = tmp_path / "runs"
    first = make_run(runs, "r-1", big=16)
    second = make_run(runs, "r-2", status="failed", big=16)
    results = archive_runs([first, second], ArchiveOptions(dest=tmp_path / "d", checkpoints="final"))
    results[1].manifest_path.unlink()
    (tmp_path / "d" / "junk.tar.zst").write_bytes(b"not an archive")
    rows = {r.run_id: r for r in list_archives(tmp_path / "d")}
    assert (rows["r-1"].status, rows["r-2"].status) == ("completed", "failed")
    assert rows["r-2"].best_metric == "eval_episode_return=2 @10" and rows["r-2"].problem is None
    assert rows["junk"].problem and rows["junk"].trainer == "?"


def test_final_without_a_final_checkpoint_takes_the_newest(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path / "runs", status="failed", big=64)
    for name in ("final.pt", "final.json"):
        (run_dir / "checkpoints" / name).unlink()
    [result] = archive_runs([run_dir], ArchiveOptions(dest=tmp_path / "d", checkpoints="final"))
    files = {f.path for f in load_archive_manifest(result.manifest_path).files if f.path.startswith("checkpoints/")}
    assert files == {"checkpoints/step_10.pt", "checkpoints/step_10.json"}  # highest step; ties by name
    assert any("no 'final' checkpoint; took the newest" in note for note in result.notes)
