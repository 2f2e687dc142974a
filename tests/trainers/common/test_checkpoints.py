from __future__ import annotations

from pathlib import Path

from trainers.common.checkpoints import find_latest_checkpoint, list_checkpoints, save_checkpoint


def test_latest_checkpoint_skips_torn_and_orphan_files(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, "step_10", lambda p: p.write_bytes(b"ten"), step=10)
    save_checkpoint(tmp_path, "step_20", lambda p: p.write_bytes(b"twenty"), step=20)
    # A checkpoint whose bytes changed after its sidecar was written (torn copy) is not complete.
    (tmp_path / "checkpoints" / "step_20.pt").write_bytes(b"twen")
    # A file without a sidecar (crash between rename and sidecar) is ignored.
    (tmp_path / "checkpoints" / "step_30.pt").write_bytes(b"thirty")
    latest = find_latest_checkpoint(tmp_path)
    assert latest is not None and latest.step == 10
    assert [c.step for c in list_checkpoints(tmp_path)] == [10]
