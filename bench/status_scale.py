"""Benchmark: `orch status` over 1,000 run directories; prints ONE JSON object.

    python bench/status_scale.py [--runs 1000] [--python PATH]

Builds 1,000 realistic run directories (run.json as the launcher and trainers write it, a 200-line metrics.jsonl
each; a third of them "running" Slurm jobs whose state comes from the shared scheduler cache, one in ten failed (so
status works out its resume command), every one with two offline W&B runs, one of them synced) in a temporary
artifact root, then times `orch status --all --json` in a fresh process, as a user runs it (median of 3).
``--python`` times another interpreter's orch, e.g. a venv with only the light core installed (``pip install orch``,
no torch): the JSON then also says which heavy packages that process imported (none, or the target is missed).
Target: status_1000_wall_s < 1.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("torch", "stable_baselines3", "gymnasium", "wandb", "tensorboard", "matplotlib", "submitit")


def _populate(root: Path, count: int) -> None:
    from manifests import RunManifest, atomic_write_json, save_run_manifest
    from orchestrator.launch.backend import JobState

    now = time.time()
    states: dict[str, dict] = {}
    for i in range(count):
        run_id = f"20260101T000000Z-bench-{i // 3:08x}-s{i % 3}"
        run_dir = root / "runs" / run_id
        run_dir.mkdir(parents=True)
        running = i % 3 == 0
        failed = not running and i % 10 == 1
        job_id = f"{1000 + i // 100}_{i % 100}"
        manifest = RunManifest(
            run_id=run_id,
            trainer="ppo_expert",
            name="bench",
            status="running" if running else "failed" if failed else "completed",
            seed=i % 3,
            sweep_id=f"sweep-{i // 100}",
            config_hash=f"{i // 3:064x}",
            scheduler={"backend": "slurm", "cluster": "localslurm", "job_id": job_id},
            progress={"total_steps": 200_000},
        )
        save_run_manifest(run_dir, manifest)
        lines = [
            json.dumps(
                {
                    "step": 1000 * (k + 1),
                    "env_steps": 1000 * (k + 1),
                    "total_steps": 200_000,
                    "time": now - 400 + 2 * k,
                    "success_rate": 0.5,
                    "loss": 0.1,
                    "fps": 900.0,
                }
            )
            for k in range(200)
        ]
        (run_dir / "metrics.jsonl").write_text("\n".join(lines) + "\n")
        for attempt, synced in ((1, True), (2, False)):  # offline W&B runs of two attempts, the first uploaded
            folder = run_dir / "wandb" / f"offline-run-2026010{attempt}_000000-w{i:07d}"
            (folder / "files").mkdir(parents=True)
            (folder / f"run-w{i:07d}.wandb").write_bytes(b"\0" * 512)
            if synced:
                (folder / f"run-w{i:07d}.wandb.synced").write_bytes(b"")
        if running:
            states[job_id] = JobState(job_id, "running", "RUNNING", node="vm").to_dict()
    # the shared scheduler cache as a previous `orch status` left it a moment ago (one sacct answer for all)
    atomic_write_json(
        root / ".orch" / "scheduler-slurm.json",
        {
            "version": 1,
            "updated_at": time.time() + 3600,
            "asked": sorted(states),
            "states": states,
            "failures": 0,
            "retry_at": None,
            "error": None,
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Time orch status over many run directories.")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--python", default=sys.executable, help="Interpreter whose orch is timed.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="orch-bench-status-") as tmp:
        root = Path(tmp)
        _populate(root, args.runs)
        report_heavy = (
            "import atexit, sys; from orchestrator.cli import main; atexit.register(lambda: sys.stderr.write("
            f"'HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules)));"
            f"sys.exit(main(['status', '--all', '--json', '--artifact-root', {tmp!r}]))"
        )
        command = [args.python, "-c", report_heavy]
        walls, cpus, rows = [], [], 0
        for _ in range(args.repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            result = subprocess.run(command, capture_output=True, text=True, cwd=tmp)  # orch as installed
            walls.append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            if result.returncode != 0:
                print(json.dumps({"error": result.stderr.strip()[-2000:]}))
                sys.exit(1)
            document = json.loads(result.stdout)
            heavy = result.stderr.rsplit("HEAVY=", 1)[-1].strip()
            rows = len(document["runs"])
            unsynced = sum(r["wandb_unsynced"] for r in document["runs"])
            resumable = sum(1 for r in document["runs"] if r["resume_command"])
    # wall time is what a user waits; CPU time (process start included) does not depend on what else runs here
    print(
        json.dumps(
            {
                "status_1000_wall_s": round(statistics.median(walls), 3),
                "runs": rows,
                "wandb_unsynced_files": unsynced,
                "runs_with_resume_command": resumable,
                "status_1000_cpu_s": round(statistics.median(cpus), 3),
                "python": args.python,
                "heavy_modules_imported": heavy.split(",") if heavy else [],
                "walls_s": [round(w, 3) for w in walls],
                "load_average_1min": round(os.getloadavg()[0], 2),
                "target_s": 1.0,
            }
        )
    )


if __name__ == "__main__":
    main()
