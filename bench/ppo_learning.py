"""PPO learning: train on the embedded simulator with ``orch run``, then play the trained policy on both backends.

Default (the quick check): ``easy_open_low`` from orch's matrix, 200k env steps, the smoke config's PPO.
The issue-13 run: ``--scenario classic_crossing_medium --reward route_completion_v2`` (Robot SF's archetype, found in
the shared reference folder, and its reward) with ``--steps 2000000``: a differential-drive robot (Robot SF's default
kinematics, here allowed to reverse) on SocNav + ego grid. After training, the final policy plays ``--episodes``
deterministic episodes on the embedded backend and, where Robot SF is installed, the same seeds on the robot_sf
backend, its actions rescaled from ``Box(-1, 1)`` onto Robot SF's raw action space (``normalized_actions``).
Target: success >= 0.8 on ours and within 0.1 on theirs. Hours on a laptop CPU: a benchmark, not a test.

Prints ONE JSON object: ``success_rate`` (the run's last evaluation), ``embedded`` and ``robot_sf`` (rates over the
final-policy episodes), ``transfer_gap``, the timeline and the run directory.

    python bench/ppo_learning.py [--steps 200000] [--episodes 20]
    python bench/ppo_learning.py --scenario classic_crossing_medium --reward route_completion_v2 --steps 2000000 \\
        --episodes 50 --artifact-root output/ppo-crossing
    python bench/ppo_learning.py --play-run output/ppo-crossing/runs/RUN_ID --episodes 50   # re-play a finished run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "ppo_expert" / "grid_socnav_smoke.yaml"
MATRIX = REPO / "configs" / "scenarios" / "crowdnav_matrix.yaml"
REFERENCE_SCENARIOS = REPO.parent / "shared" / "reference" / "robot_sf" / "configs" / "scenarios"
DEFAULT_SCENARIO = "easy_open_low"
# Robot SF's default kinematics (differential drive: a change of speed per step), allowed to reverse so the robot can
# also slow down (a forward-only Robot SF robot never can); what the issue-576 expert configs use.
TRANSFER_ROBOT = [
    "env_overrides.robot_config.type=differential_drive",
    "env_overrides.robot_config.allow_backwards=true",
]


def scenario_file(name: str, explicit: Path | None) -> Path:
    """``explicit``, else orch's matrix if it has ``name``, else the reference scenario file that does."""
    from trainers.envs.scenarios import load_scenario_matrix

    if explicit is not None:
        return explicit
    candidates = [MATRIX, *sorted(REFERENCE_SCENARIOS.rglob("*.yaml"))] if REFERENCE_SCENARIOS.is_dir() else [MATRIX]
    for path in candidates:
        if name in {s.name for s in load_scenario_matrix(path)}:
            return path
    raise SystemExit(f"scenario {name!r} is in none of {[str(p) for p in candidates]}; pass --scenario-config")


def play(run_dir: Path, backend: str, episodes: int, checkpoint: str) -> dict[str, Any]:
    """Deterministic episodes of the run's ``checkpoint`` policy (seeds 0..episodes-1) on ``backend``."""
    import numpy as np
    from stable_baselines3 import PPO

    from trainers.envs import make_env
    from trainers.envs.robot_sf.wrappers import normalized_actions

    resolved = json.loads((run_dir / "resolved.json").read_text(encoding="utf-8"))["settings"]
    factory = dict(resolved.get("env_factory_kwargs") or {})
    model = PPO.load(run_dir / "checkpoints" / f"{checkpoint}.zip", device="cpu")
    env = make_env(
        resolved.get("env_overrides") or {},
        scenario_config=resolved["scenario_config"],
        scenario_id=resolved["scenario_id"],
        reward_name=factory.get("reward_name"),
        reward_kwargs=factory.get("reward_kwargs"),
        backend=backend,
    )
    if backend == "robot_sf":
        env = normalized_actions(env)
    outcomes = []
    for seed in range(episodes):
        obs, _ = env.reset(seed=seed)
        done, steps, info = False, 0, {}
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, _, terminated, truncated, info = env.step(np.asarray(action, dtype=np.float32))
            done, steps = bool(terminated or truncated), steps + 1
        success, collision = bool(info.get("success")), bool(info.get("collision"))
        outcomes.append((success and not collision, collision, steps))
    env.close()
    n = len(outcomes)
    return {
        "episodes": n,
        "success_rate": sum(o[0] for o in outcomes) / n,
        "collision_rate": sum(o[1] for o in outcomes) / n,
        "timeout_rate": sum(not o[0] and not o[1] for o in outcomes) / n,
        "mean_steps": sum(o[2] for o in outcomes) / n,
    }


def train(cmd: list[str], root: Path) -> tuple[Path, float]:
    """Run ``orch run`` and return the new run directory and the training wall time."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, "WANDB_MODE": "offline"}, capture_output=True, text=True)
    train_wall = time.perf_counter() - start
    runs = sorted((root / "runs").iterdir()) if (root / "runs").is_dir() else []
    if proc.returncode != 0 or not runs:
        print(json.dumps({"error": f"orch run exited {proc.returncode}", "stderr": proc.stderr[-2000:]}))
        raise SystemExit(1)
    return runs[-1], train_wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=DEFAULT_SCENARIO)
    parser.add_argument("--scenario-config", type=Path, default=None)
    parser.add_argument("--reward", default=None, help="env_factory_kwargs.reward_name (default: the config's)")
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--episodes", type=int, default=20, help="final-policy episodes per backend")
    parser.add_argument("--every", type=int, default=None, help="evaluation interval in env steps (default steps/8)")
    parser.add_argument("--num-envs", type=int, default=2)
    parser.add_argument("--artifact-root", type=Path, default=None, help="keep the run here (default: a temp dir)")
    parser.add_argument("--set", dest="extra", action="append", default=[], help="more config overrides")
    parser.add_argument("--play-run", type=Path, default=None, help="skip training: play this finished run's policy")
    args = parser.parse_args()
    matrix = scenario_file(args.scenario, args.scenario_config)
    root = args.artifact_root or Path(tempfile.mkdtemp(prefix="ppo-learning-"))
    every = args.every or max(args.steps // 8, 2048)
    overrides = [
        "policy_id=ppo_expert_learning_bench",
        f"scenario_config={matrix}",
        f"scenario_id={args.scenario}",
        f"total_timesteps={args.steps}",
        f"num_envs={args.num_envs}",
        "evaluation.evaluation_episodes=20",
        f"evaluation.step_schedule=[{{every_steps: {every}}}]",
    ]
    if args.scenario != DEFAULT_SCENARIO:  # the issue-13 transfer run: Robot SF's kinematics, bigger rollouts
        overrides += [*TRANSFER_ROBOT, "ppo_hyperparams.n_steps=1024", "ppo_hyperparams.batch_size=256"]
    if args.reward:
        overrides.append(f"env_factory_kwargs.reward_name={args.reward}")
    overrides += args.extra
    cmd = [sys.executable, "-m", "orchestrator.cli", "run", str(CONFIG), "--artifact-root", str(root)]
    for item in overrides:
        cmd += ["--set", item]
    if args.play_run is not None:  # report what the run was trained with, not this call's defaults
        run_dir, train_wall = args.play_run, math.nan
        overrides = json.loads((run_dir / "run.json").read_text(encoding="utf-8")).get("overrides", [])
    else:
        run_dir, train_wall = train(cmd, root)
    timeline = json.loads((run_dir / "eval_timeline.json").read_text())
    final, best = timeline[-1], max(timeline, key=lambda r: (r["success_rate"], -r["collision_rate"]))
    from trainers.envs.robot_sf import robot_sf_available

    embedded = play(run_dir, "embedded", args.episodes, "final")
    theirs = play(run_dir, "robot_sf", args.episodes, "final") if robot_sf_available() else None
    gap = abs(embedded["success_rate"] - theirs["success_rate"]) if theirs else math.nan
    print(
        json.dumps(
            {
                "success_rate": final["success_rate"],
                "env_steps": final["env_steps"],
                "target_success_rate": 0.8,
                "collision_rate": final["collision_rate"],
                "best_success_rate": best["success_rate"],
                "best_eval_step": best["eval_step"],
                "scenario_id": args.scenario,
                "scenario_config": str(matrix),
                "reward": args.reward,
                "embedded": embedded,
                "robot_sf": theirs if theirs else "Robot SF is not installed",
                "transfer_gap": gap,
                "target_transfer_gap": 0.1,
                "timeline": [
                    {k: r[k] for k in ("eval_step", "success_rate", "collision_rate", "eval_episode_return")}
                    for r in timeline
                ],
                "train_wall_sec": round(train_wall, 1),
                "run_dir": str(run_dir),
                "overrides": overrides,
            }
        )
    )


if __name__ == "__main__":
    main()
