"""Benchmark: submit a 100-point grid to the local Slurm cluster; prints ONE JSON object.

    python bench/submit_grid.py [--points 100] [--config configs/dreamerv3/drive_state_rays_smoke.yaml]

It times `orch submit CONFIG --cluster localslurm --grid KEY=v1,...,v100 --json` from start to return, as a user
runs it (a fresh process): resolving every grid point, writing 100 run directories (status pending) and queueing
them as one job array. The jobs are queued held (sbatch --hold) and cancelled as soon as the submission returns:
this measures submitting, not training. Everything lives in a temporary artifact root. Wall time is what a user
waits; CPU time does not depend on what else runs on the machine. Target: submit_100_s < 5, arrays == 1.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description="Time orch submit of a grid to the local Slurm cluster.")
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "dreamerv3" / "drive_state_rays_smoke.yaml")
    parser.add_argument("--key", default="eval_episodes", help="the swept key (one value per grid point)")
    args = parser.parse_args()
    if shutil.which("sbatch") is None:
        print(json.dumps({"error": "sbatch not found: start ../shared/slurm/start-local-slurm.sh"}))
        sys.exit(1)
    values = ",".join(str(v) for v in range(1, args.points + 1))
    # queued on hold (sbatch --hold), then cancelled: the same submission, without 100 jobs starting here
    with tempfile.TemporaryDirectory(prefix="orch-bench-submit-", ignore_cleanup_errors=True) as tmp:
        command = [
            sys.executable,
            "-m",
            "orchestrator.cli",
            "submit",
            str(args.config),
            "--cluster",
            "localslurm",
            "--grid",
            f"{args.key}={values}",
            "--artifact-root",
            tmp,
            "--json",
            "--set",
            "cluster.scheduler_options={hold: true}",
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        if result.returncode != 0:
            print(json.dumps({"error": result.stderr.strip()[-2000:], "returncode": result.returncode}))
            sys.exit(1)
        doc = json.loads(result.stdout)
        arrays = {run["job_id"].split("_")[0] for run in doc["runs"]}
        subprocess.run(["scancel", *sorted(arrays)], capture_output=True)
        runs_written = len(list((Path(tmp) / "runs").iterdir()))
    print(
        json.dumps(
            {
                "submit_100_s": round(wall, 3),
                "submit_100_cpu_s": round(cpu, 3),
                "load_average_1min": round(os.getloadavg()[0], 2),
                "points": args.points,
                "runs": len(doc["runs"]),
                "run_dirs_written": runs_written,
                "arrays": len(arrays),
                "array_ids": sorted(arrays),
                "config": str(args.config.relative_to(REPO) if args.config.is_relative_to(REPO) else args.config),
                "target_s": 5.0,
            }
        )
    )


if __name__ == "__main__":
    main()
