"""Run directories for archive tests, built with the manifests package and plain files (no trainer needed)."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import zstandard

from manifests import RunManifest, atomic_path, atomic_write_json, save_run_manifest
from orchestrator.archive.trailer import make_trailer

PARTLY_COMPRESSIBLE = bytes(i & 0x3F for i in range(256))  # 6 random bits per byte


def write_checkpoint(run_dir: Path, name: str, data: bytes, *, step: int, kind: str = "step", **metrics: float) -> None:
    """A checkpoint and its sidecar, as trainers.common.checkpoints writes them (file first, then sidecar)."""
    folder = run_dir / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / f"{name}.pt") as tmp:
        tmp.write_bytes(data)
    sidecar = {
        "file": f"{name}.pt",
        "step": step,
        "kind": kind,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "metrics": metrics,
    }
    atomic_write_json(folder / f"{name}.json", sidecar)


def make_run(
    parent: Path,
    run_id: str = "20260101T000000Z-demo-abc123-s1",
    *,
    status: str = "completed",
    sweep_id: str | None = None,
    big: int = 3 << 20,
) -> Path:
    """A run directory with every kind of file orch writes, plus things the archive must leave out."""
    run_dir = parent / run_id
    run_dir.mkdir(parents=True)
    save_run_manifest(
        run_dir, RunManifest(run_id=run_id, trainer="ppo_expert", name="demo", status=status, sweep_id=sweep_id)
    )
    atomic_write_json(run_dir / "policy.json", {"policy_id": "p", "note": "policy manifest stand-in"})
    (run_dir / "config.yaml").write_text("trainer: ppo_expert\nseeds: [1]\n")
    atomic_write_json(run_dir / "resolved.json", {"schema_version": 1, "trainer": "ppo_expert", "seed": 1})
    (run_dir / "metrics.jsonl").write_text("".join(f'{{"step": {i}, "total_steps": 10}}\n' for i in range(10)))
    (run_dir / "episodes.jsonl").write_text('{"episode": 0, "metrics": {"success_rate": 1.0}}\n')
    (run_dir / "eval_timeline.json").write_text('{"eval_steps": [5, 10]}\n')
    for sub in ("tensorboard", "logs", "wandb/run-1", "failures"):
        (run_dir / sub).mkdir(parents=True)
    (run_dir / "tensorboard" / "events.out.tfevents.1.host").write_bytes(os.urandom(2048))
    (run_dir / "logs" / "train.log").write_text("step 1\nstep 2\n")
    (run_dir / "wandb" / "run-1" / "run.wandb").write_bytes(b"offline run")
    weights = os.urandom(big).translate(PARTLY_COMPRESSIBLE)
    write_checkpoint(run_dir, "step_5", weights[: big // 2], step=5, eval_episode_return=1.0)
    write_checkpoint(run_dir, "step_10", weights, step=10, eval_episode_return=2.0)
    write_checkpoint(run_dir, "best", weights, step=10, kind="best", eval_episode_return=2.0)
    write_checkpoint(run_dir, "final", b"final weights", step=10, kind="final")
    (run_dir / "checkpoints" / "step_15.pt").write_bytes(b"renamed but no sidecar yet")  # an incomplete checkpoint
    (run_dir / "checkpoints" / ".tmp-step_20.pt.abc").write_bytes(b"half")  # an unfinished atomic write
    os.symlink("config.yaml", run_dir / "config-link.yaml")
    return run_dir


def tree(folder: Path) -> dict[str, bytes]:
    """Every regular file under ``folder`` by relative path, with its bytes (links and dirs skipped)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[path.relative_to(folder).as_posix()] = path.read_bytes()
    return out


def recompress(archive: Path, edit: Callable[[bytearray], None] | None = None) -> bytearray:
    """The tar inside ``archive``; with ``edit``, the tar is changed and written back, recompressed, with a valid
    checksum trailer: a forged archive whose damage only the member checksums can reveal."""
    raw = bytearray(zstandard.ZstdDecompressor().stream_reader(archive.read_bytes(), read_across_frames=True).read())
    if edit is not None:
        edit(raw)
        body = zstandard.ZstdCompressor(write_checksum=True).compress(bytes(raw))
        archive.write_bytes(body + make_trailer(hashlib.sha256(body).hexdigest()))  # so only member checks can tell
    return raw


def make_tar_zst(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    """A hand-made archive: the given members, in order, in one zstd frame."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    path.write_bytes(zstandard.ZstdCompressor().compress(buffer.getvalue()))
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, *, linkname: str = "", mode: int = 0o644) -> tarfile.TarInfo:
    """A TarInfo of any type, for hand-made archives."""
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, linkname, mode
    return info
