"""Benchmark: seconds from `orch resume` to the resumed job's first new training step on the local Slurm cluster;
prints ONE JSON object.

    python bench/resume_latency.py [--repeat 1] [--config configs/ppo_expert/grid_socnav_smoke.yaml]

A real PPO run (the smoke config, evaluated and checkpointed every rollout of 512 steps) is submitted to
`localslurm`; once its first checkpoint exists it is cancelled, and when its job is gone `orch resume RUN` is run in a
fresh process, as a user runs it. Measured from the start of that command:

- ``resume_cli_s``: until `orch resume` returns (liveness check, resubmission, manifest update);
- ``to_attempt_start_s``: until the job has started on the node and opened its new attempt in run.json;
- ``to_first_new_step_s``: until metrics.jsonl has its first line past the checkpoint (the time stamp that line
  carries). For PPO that line closes one rollout (512 env steps) plus its update: the part of the latency that is
  training, not orch or Slurm, is that rollout.

Everything lives in a temporary artifact root; nothing is left queued.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
ORCH = [sys.executable, "-m", "orchestrator.cli"]
PPO_SETTINGS = [
    "total_timesteps=200000",
    "evaluation.evaluation_episodes=1",
    "evaluation.step_schedule=[{every_steps: 512}]",
]


def _orch(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ORCH, *args, "--artifact-root", str(root)], capture_output=True, text=True, cwd=REPO)


def _wait(predicate: Any, timeout_s: float, what: str, poll_s: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise TimeoutError(f"no {what} within {timeout_s:.0f} s")


def _manifest(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return {}


def _checkpoint_step(run_dir: Path) -> int | None:
    steps = [json.loads(p.read_text())["step"] for p in (run_dir / "checkpoints").glob("step_*.json")]
    return max(steps) if steps else None


def _first_line_after(run_dir: Path, step: int, since: float) -> dict[str, Any] | None:
    """The first metrics line past ``step`` written after ``since`` (lines the cancelled attempt wrote past its
    checkpoint are still there until the resumed trainer truncates them)."""
    try:
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record.get("step"), int) and record["step"] > step and float(record.get("time", 0)) > since:
            return record
    return None


def _job_gone(root: Path, run_id: str, run_dir: Path) -> bool:
    """Cancelled, its job ended, and its trainer process gone (Slurm kills it KillWait seconds after scancel)."""
    from manifests import trainer_holding

    document = json.loads(_orch(root, "status", run_id, "--json").stdout)
    row = document["runs"][0]
    ended = row["status"] == "cancelled" and row["scheduler_state"] in (None, "CANCELLED")
    return ended and trainer_holding(run_dir) is None


def one_cycle(root: Path, config: Path) -> dict[str, float]:
    """Submit, let it checkpoint, cancel, then time the resume."""
    overrides = [a for s in PPO_SETTINGS for a in ("--set", s)]
    submitted = subprocess.run(
        [*ORCH, "submit", str(config), "--cluster", "localslurm", "--json", "--artifact-root", str(root), *overrides],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    if submitted.returncode != 0:
        raise RuntimeError(f"orch submit failed: {submitted.stderr.strip()[-500:]}")
    run = json.loads(submitted.stdout)["runs"][0]
    run_id, run_dir = run["run_id"], Path(run["run_dir"])
    step = _wait(lambda: _checkpoint_step(run_dir), 600, "first checkpoint")
    if _orch(root, "cancel", run_id, "-y").returncode != 0:
        raise RuntimeError("orch cancel failed")
    _wait(lambda: _job_gone(root, run_id, run_dir), 120, "cancelled job to end", poll_s=1.0)
    step = _checkpoint_step(run_dir) or step
    attempts_before = len(_manifest(run_dir).get("attempts") or [])

    started_wall, started = time.time(), time.perf_counter()
    resumed = _orch(root, "resume", run_id)
    resume_cli_s = time.perf_counter() - started
    if resumed.returncode != 0:
        raise RuntimeError(f"orch resume failed: {resumed.stderr.strip()[-500:]}")
    _wait(lambda: len(_manifest(run_dir).get("attempts") or []) > attempts_before, 600, "new attempt")
    to_attempt = time.perf_counter() - started
    line = _wait(lambda: _first_line_after(run_dir, step, started_wall), 600, "first new training step")
    to_step = float(line["time"]) - started_wall
    _orch(root, "cancel", run_id, "-y")
    return {
        "resume_cli_s": round(resume_cli_s, 3),
        "to_attempt_start_s": round(to_attempt, 3),
        "to_first_new_step_s": round(to_step, 3),
        "resumed_from_step": step,
        "first_new_step": int(line["step"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Time orch resume to the first new training step on local Slurm.")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "ppo_expert" / "grid_socnav_smoke.yaml")
    args = parser.parse_args()
    if shutil.which("sbatch") is None:
        print(json.dumps({"error": "sbatch not found: start ../shared/slurm/start-local-slurm.sh"}))
        sys.exit(1)
    cycles = []
    with tempfile.TemporaryDirectory(prefix="orch-bench-resume-", ignore_cleanup_errors=True) as tmp:
        for _ in range(args.repeat):
            cycles.append(one_cycle(Path(tmp), args.config))
    print(
        json.dumps(
            {
                "resume_to_first_step_s": statistics.median(c["to_first_new_step_s"] for c in cycles),
                "resume_cli_s": statistics.median(c["resume_cli_s"] for c in cycles),
                "resume_to_attempt_start_s": statistics.median(c["to_attempt_start_s"] for c in cycles),
                "cycles": cycles,
                "config": str(args.config.relative_to(REPO) if args.config.is_relative_to(REPO) else args.config),
                "load_average_1min": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
