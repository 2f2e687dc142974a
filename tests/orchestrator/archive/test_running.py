"""Archiving a run that is still writing: refused by default; with --allow-running never a partial file."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import pytest
from archive_helpers import make_run, write_checkpoint

from manifests import load_archive_manifest
from orchestrator.archive import ArchiveOptions, archive_runs, restore_archive, verify_archive
from orchestrator.errors import ArchiveError


def test_running_run_is_refused_without_allow_running(tmp_path: Path) -> None:
    for status in ("running", "pending"):
        run_dir = make_run(tmp_path / status, status=status, big=16)
        with pytest.raises(ArchiveError, match=f"is {status}: wait until it ends, or pass --allow-running"):
            archive_runs([run_dir], ArchiveOptions(dest=tmp_path / "d"))
        assert not (tmp_path / "d").exists() or not any((tmp_path / "d").iterdir())


def _version(i: int, size: int) -> bytes:
    """Version ``i`` of a file: one byte value throughout, so a torn copy shows two values."""
    return bytes([i % 251 + 1]) * size


class _Writer(threading.Thread):
    """A trainer stand-in: rewrites checkpoints atomically (file, then sidecar) and a file in place, nonstop."""

    def __init__(self, run_dir: Path):
        super().__init__(daemon=True)
        self.run_dir = run_dir
        self.stop = threading.Event()
        self.versions = 0

    def run(self) -> None:
        live = self.run_dir / "logs" / "rewritten-in-place.bin"
        i = 0
        while not self.stop.is_set():
            i += 1
            big = (1 << 20) + 4096 * (i % 7) + 1  # over the in-memory limit: written in a zstd frame of its own
            write_checkpoint(self.run_dir, "step_live", _version(i, big), step=i)
            write_checkpoint(self.run_dir, "best", _version(i, 200_000 + i), step=i, kind="best")
            with open(live, "r+b") as handle:  # not atomic: a reader can catch it half old, half new
                for _ in range(8):
                    handle.write(_version(i, 256 << 10))
                    handle.flush()
            self.versions = i


def test_archiving_while_a_trainer_writes_never_captures_a_partial_file(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path / "runs", status="running", big=16)
    (run_dir / "logs" / "rewritten-in-place.bin").write_bytes(_version(0, 2 << 20))
    write_checkpoint(run_dir, "best", _version(0, 1000), step=0, kind="best")  # version 0 of what _Writer rewrites
    writer = _Writer(run_dir)
    writer.start()
    captured = 0
    try:
        for k in range(6):
            dest = tmp_path / f"d{k}"
            [result] = archive_runs([run_dir], ArchiveOptions(dest=dest, allow_running=True))
            assert verify_archive(result.archive).ok
            manifest = load_archive_manifest(result.manifest_path)
            assert manifest.captured_while_running
            restored = restore_archive(result.archive, tmp_path / f"r{k}").target
            for name in ("step_live", "best"):
                pt, sidecar = restored / "checkpoints" / f"{name}.pt", restored / "checkpoints" / f"{name}.json"
                assert pt.exists() == sidecar.exists()
                if pt.exists():
                    captured += 1
                    meta = json.loads(sidecar.read_text())
                    data = pt.read_bytes()
                    assert hashlib.sha256(data).hexdigest() == meta["sha256"] and len(data) == meta["size"]
                    assert set(data) == {meta["step"] % 251 + 1}  # the version the sidecar names, whole
            live = restored / "logs" / "rewritten-in-place.bin"
            if live.exists():
                assert len(set(live.read_bytes())) == 1, "an in-place rewrite was captured half old, half new"
            else:
                reasons = {x.path: x.reason for x in manifest.left_out}
                assert reasons["logs/rewritten-in-place.bin"] == "changed while being read"
    finally:
        writer.stop.set()
        writer.join(timeout=30)
    assert writer.versions > 6, "the writer barely ran; the test proved nothing"
    assert captured > 0, "no checkpoint was ever captured"


def test_a_growing_log_is_archived_as_its_stable_prefix(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path / "runs", status="running", big=16)
    log = run_dir / "logs" / "appended.log"
    log.write_text("line 0\n")
    stop = threading.Event()

    def append() -> None:
        n = 0
        with open(log, "a") as handle:
            while not stop.is_set():
                n += 1
                handle.write(f"line {n}\n")
                handle.flush()
                os.fsync(handle.fileno())

    thread = threading.Thread(target=append, daemon=True)
    thread.start()
    try:
        [result] = archive_runs([run_dir], ArchiveOptions(dest=tmp_path / "d", allow_running=True))
    finally:
        stop.set()
        thread.join(timeout=10)
    manifest = load_archive_manifest(result.manifest_path)
    entry = {f.path: f for f in manifest.files}.get("logs/appended.log")
    if entry is None:  # it may also have been left out, but then with the reason
        assert {x.path: x.reason for x in manifest.left_out}["logs/appended.log"] == "changed while being read"
        return
    restored = restore_archive(result.archive, tmp_path / "r").target
    text = (restored / "logs" / "appended.log").read_text()
    assert log.read_text().startswith(text)
