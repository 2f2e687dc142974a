"""Archive speed: `orch archive` against `tar czf` of the same checkpoint files, in the same run.

Generates ``--size-mb`` (default 2000) of checkpoint-like files into a temporary run directory: float32 weights drawn
from a normal distribution, half of them rounded to bfloat16 precision (so the data is partly compressible, as real
weights and optimizer states are), each file with a JSON sidecar as trainers write them. Then times, from the same
page cache, ``orch archive RUN --dest D`` and ``tar czf`` of the run folder (both as subprocesses), then
``orch archive verify``, and records the archiving process's peak memory.
Prints one JSON object: ``orch_mb_s``, ``tar_gz_mb_s``, ``ratio`` (target >= 3) and details.
Usage: ``python bench/archive_speed.py [--size-mb 2000] [--files 8] [--level 3] [--workdir DIR]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from manifests import RunManifest, atomic_write_json, save_run_manifest

CHUNK_FLOATS = 8 << 20  # 32 MB of float32 generated at a time


def _write_weights(path: Path, size: int, rng: np.random.Generator) -> str:
    """``size`` bytes of float32 weights (half bf16-rounded); returns their sha256."""
    digest = hashlib.sha256()
    left = size
    with open(path, "wb") as handle:
        while left:
            n = min(CHUNK_FLOATS, left // 4) or 1
            weights = (rng.standard_normal(n, dtype=np.float32) * 0.02).view(np.uint32)
            weights[::2] &= np.uint32(0xFFFF0000)
            data = weights.tobytes()[:left]
            handle.write(data)
            digest.update(data)
            left -= len(data)
    return digest.hexdigest()


def make_run(root: Path, size_mb: int, files: int) -> tuple[Path, int]:
    """A completed run whose checkpoints total ``size_mb`` MB; returns it and its byte count."""
    run_dir = root / "runs" / "20260101T000000Z-bench-archive-s0"
    (run_dir / "checkpoints").mkdir(parents=True)
    save_run_manifest(run_dir, RunManifest(run_id=run_dir.name, trainer="ppo_expert", name="bench", status="completed"))
    rng = np.random.default_rng(0)
    per_file = size_mb * 1_000_000 // files
    total = 0
    for i in range(files):
        target = run_dir / "checkpoints" / f"step_{i}.pt"
        sha = _write_weights(target, per_file, rng)
        atomic_write_json(target.with_suffix(".json"), {"file": target.name, "step": i, "kind": "step", "sha256": sha})
        total += per_file
    return run_dir, total


def _timed(command: list[str], **kwargs: object) -> float:
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=2000, help="Total checkpoint bytes to archive, in MB.")
    parser.add_argument("--files", type=int, default=8, help="Number of checkpoint files.")
    parser.add_argument("--level", type=int, default=3, help="zstd level for orch archive.")
    parser.add_argument("--workdir", type=Path, default=None, help="Scratch folder (default: a temporary one).")
    args = parser.parse_args()
    orch = shutil.which("orch")
    orch_cmd = [orch] if orch else [sys.executable, "-m", "orchestrator.cli"]
    work = Path(tempfile.mkdtemp(prefix="orch-archive-bench-", dir=args.workdir))
    try:
        run_dir, total = make_run(work, args.size_mb, args.files)
        out = work / "out"
        out.mkdir()
        tar_gz = out / "run.tar.gz"
        orch_s = _timed([*orch_cmd, "archive", str(run_dir), "--dest", str(out), "--level", str(args.level)])
        orch_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the only child so far
        tar_s = _timed(["tar", "czf", str(tar_gz), "-C", str(run_dir.parent), run_dir.name])
        archive = out / f"{run_dir.name}.tar.zst"
        verify_s = _timed([*orch_cmd, "archive", "verify", str(archive)])
        mb = total / 1e6
        result = {
            "size_mb": round(mb, 1),
            "files": args.files,
            "orch_mb_s": round(mb / orch_s, 1),
            "tar_gz_mb_s": round(mb / tar_s, 1),
            "ratio": round(tar_s / orch_s, 2),
            "orch_seconds": round(orch_s, 2),
            "tar_gz_seconds": round(tar_s, 2),
            "orch_verify_mb_s": round(mb / verify_s, 1),
            "orch_archive_mb": round(archive.stat().st_size / 1e6, 1),
            "tar_gz_mb": round(tar_gz.stat().st_size / 1e6, 1),
            "orch_max_rss_mb": round(orch_rss_mb, 1),
            "level": args.level,
            "cpus": os.cpu_count(),
        }
        print(json.dumps(result))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
