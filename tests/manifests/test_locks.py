"""Locked run.json updates across processes, the trainer's run-directory lock, umask-honouring atomic writes."""

from __future__ import annotations

import multiprocessing
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from manifests import (
    RunDirLock,
    RunLockedError,
    RunManifest,
    atomic_path,
    atomic_write_json,
    load_run_manifest,
    remove_stale_temporaries,
    save_run_manifest,
    trainer_holding,
    update_run_manifest,
)

UPDATES = 500


def _bump_many(run_dir: str, key: str, count: int, start: multiprocessing.synchronize.Event) -> None:
    """One writer: ``count`` read-modify-writes of run.json, each adding one to a shared and an own counter."""

    def change(m: RunManifest) -> None:
        m.extra["shared"] = int(m.extra.get("shared", 0)) + 1
        m.extra[key] = int(m.extra.get(key, 0)) + 1

    start.wait()
    for _ in range(count):
        update_run_manifest(run_dir, change)


def test_two_processes_updating_one_run_json_lose_no_update(tmp_path: Path) -> None:
    save_run_manifest(tmp_path, RunManifest(run_id="r", trainer="t", name="n"))
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    writers = [ctx.Process(target=_bump_many, args=(str(tmp_path), key, UPDATES, start)) for key in ("a", "b")]
    for writer in writers:
        writer.start()
    start.set()
    for writer in writers:
        writer.join(timeout=300)
        assert writer.exitcode == 0
    extra = load_run_manifest(tmp_path).extra
    assert (extra["a"], extra["b"], extra["shared"]) == (UPDATES, UPDATES, 2 * UPDATES)


_HOLD = textwrap.dedent(
    """
    import sys, time
    from manifests import RunDirLock
    lock = RunDirLock(sys.argv[1])
    lock.acquire(job_id="job-7")
    print("held", flush=True)
    time.sleep(60)
    """
)


def test_a_second_trainer_is_refused_while_the_first_holds_the_run(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert trainer_holding(tmp_path) == {"pid": holder.pid, "host": os.uname().nodename, "job_id": "job-7"}
        with pytest.raises(RunLockedError, match=rf"pid {holder.pid}.*job_id job-7"):
            RunDirLock(tmp_path).acquire(wait_s=0.2)
    finally:
        holder.kill()
        holder.wait()
    assert trainer_holding(tmp_path) is None  # the kernel dropped the dead holder's lock
    with RunDirLock(tmp_path):
        assert trainer_holding(tmp_path) is not None
    assert trainer_holding(tmp_path) is None


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_honour_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        atomic_write_json(tmp_path / "run.json", {"a": 1})
        with atomic_path(tmp_path / "ckpt.bin") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    for name in ("run.json", "ckpt.bin"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode


def test_an_interrupted_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "checkpoints" / "step_1.pt"
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"complete")
    with pytest.raises(SystemExit), atomic_path(target) as tmp:  # a signal handler's sys.exit mid-write
        tmp.write_bytes(b"half")
        raise SystemExit(-1)
    assert target.read_bytes() == b"complete"
    assert sorted(p.name for p in target.parent.iterdir()) == ["step_1.pt"]


def test_stale_temporaries_are_removed_from_the_named_folders_only(tmp_path: Path) -> None:
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "eval").mkdir()
    stale = [tmp_path / ".tmp-run.json.abcd1234", tmp_path / "checkpoints" / ".tmp-step_5.pt.0f0f0f0f"]
    for path in stale:
        path.write_bytes(b"torn")
    keep = [tmp_path / "checkpoints" / "step_4.pt", tmp_path / "eval" / ".tmp-summary.json.12345678"]
    for path in keep:
        path.write_bytes(b"ok")
    assert sorted(remove_stale_temporaries(tmp_path, tmp_path / "checkpoints", tmp_path / "gone")) == sorted(stale)
    assert all(p.exists() for p in keep) and not any(p.exists() for p in stale)
