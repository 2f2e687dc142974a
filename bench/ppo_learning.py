"""PPO learning: success rate on the easy embedded scenario (``easy_open_low``) after 200k env steps, via ``orch run``.

Runs the smoke config's PPO with ``scenario_id=easy_open_low`` (train and evaluate on that scenario), evaluating
``--episodes`` deterministic episodes every 50k steps, and reads the run's eval timeline. It takes several minutes
to tens of minutes on a laptop CPU: a benchmark, not a test. Prints one JSON object: ``success_rate`` (final
evaluation, target >= 0.8), ``env_steps``, the best evaluation, the timeline and the run directory.
Usage: ``python bench/ppo_learning.py [--steps 200000] [--episodes 20] [--artifact-root DIR] [--set key=value ...]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "ppo_expert" / "grid_socnav_smoke.yaml"
SCENARIO = "easy_open_low"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--every", type=int, default=50_000, help="evaluation interval in env steps")
    parser.add_argument("--artifact-root", type=Path, default=None, help="keep the run here (default: a temp dir)")
    parser.add_argument("--set", dest="extra", action="append", default=[], help="more config overrides")
    args = parser.parse_args()
    root = args.artifact_root or Path(tempfile.mkdtemp(prefix="ppo-learning-"))
    overrides = [
        "policy_id=ppo_expert_learning_bench",
        f"scenario_id={SCENARIO}",
        f"total_timesteps={args.steps}",
        f"evaluation.evaluation_episodes={args.episodes}",
        f"evaluation.step_schedule=[{{every_steps: {args.every}}}]",
        *args.extra,
    ]
    cmd = [sys.executable, "-m", "orchestrator.cli", "run", str(CONFIG), "--artifact-root", str(root)]
    for item in overrides:
        cmd += ["--set", item]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, "WANDB_MODE": "offline"}, capture_output=True, text=True)
    wall = time.perf_counter() - start
    runs = sorted((root / "runs").iterdir()) if (root / "runs").is_dir() else []
    if proc.returncode != 0 or not runs:
        print(json.dumps({"error": f"orch run exited {proc.returncode}", "stderr": proc.stderr[-2000:]}))
        raise SystemExit(1)
    run_dir = runs[-1]
    timeline = json.loads((run_dir / "eval_timeline.json").read_text())
    final, best = timeline[-1], max(timeline, key=lambda r: (r["success_rate"], -r["collision_rate"]))
    print(
        json.dumps(
            {
                "success_rate": final["success_rate"],
                "env_steps": final["env_steps"],
                "target_success_rate": 0.8,
                "collision_rate": final["collision_rate"],
                "best_success_rate": best["success_rate"],
                "best_eval_step": best["eval_step"],
                "scenario_id": SCENARIO,
                "evaluation_episodes": args.episodes,
                "timeline": [
                    {k: r[k] for k in ("eval_step", "success_rate", "collision_rate", "eval_episode_return")}
                    for r in timeline
                ],
                "wall_sec": round(wall, 1),
                "run_dir": str(run_dir),
            }
        )
    )


if __name__ == "__main__":
    main()
