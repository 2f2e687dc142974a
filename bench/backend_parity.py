"""Embedded simulator vs Robot SF: episode statistics under the same scripted policies, and steps/s, in one run.

For every scenario of the shared matrices (the reference folder's scenario files and orch's crowdnav matrix) and every
policy (stand still; straight at the goal; seeded random: ``trainers.envs.parity``), ``--episodes`` episodes on each
backend with the same seeds: success, collision and timeout rates, mean episode length and mean smallest
robot-pedestrian distance, their differences, and whether the pair is within the issue's tolerances (rates within
0.1, mean length within 15 %). Then steps/s of both backends side by side on the same scenario (``crossing_high``
with 20 pedestrians, random actions, resets included), alternating backends ``--speed-rounds`` times and keeping each
one's best round: drive_state + rays, and SocNav + ego grid 3 x 160 x 160 (0.2 m over 32 m).

Needs Robot SF installed (``../shared/vendor/install-robot-sf.sh``). Prints ONE JSON object with ``scenarios``
(rows), ``pairs_within_tolerance`` (fraction), ``embedded_rays_sps``, ``robot_sf_rays_sps``, ``embedded_grid_sps``,
``robot_sf_grid_sps``; progress goes to stderr.

    python bench/backend_parity.py [--episodes 20] [--policies stand_still,goal,random] [--speed-steps 2000]
    python bench/backend_parity.py --table result.json   # a saved result as the Markdown table of docs/env.md
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one process, one thread: what a vectorised-env worker gets

import numpy as np

from trainers.envs import make_env
from trainers.envs.parity import POLICIES, compare, run_episodes, summarize
from trainers.envs.robot_sf import robot_sf_available
from trainers.envs.scenarios import load_scenario_matrix
from trainers.envs.tools import CONTRACT_OVERRIDES

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference" / "robot_sf" / "configs" / "scenarios"
SPEED_MATRIX = REPO / "configs" / "scenarios" / "crowdnav_matrix.yaml"
CROWD_OF_20 = {"sim_config": {"ped_density": 0.235}}  # ceil(28 m x 3 m x 0.235) = 20 on the crossing map
TARGETS = {"pairs_within_tolerance": 0.8, "rays_speedup": 2.0, "grid_speedup": 5.0}


def _matrices(extra: list[Path]) -> list[Path]:
    found = sorted(REFERENCE.rglob("*.yaml")) if REFERENCE.is_dir() else []
    return [*found, SPEED_MATRIX, *extra]


def _steps_per_second(backend: str, overrides: dict, steps: int) -> float:
    env = make_env(
        {**overrides, **CROWD_OF_20}, scenario_config=SPEED_MATRIX, scenario_id="crossing_high", seed=0, backend=backend
    )
    env.reset(seed=0)
    low, high = env.action_space.low, env.action_space.high
    actions = np.random.default_rng(0).uniform(low, high, (steps, *env.action_space.shape)).astype(np.float32)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def _speeds(steps: int, rounds: int) -> dict[str, float]:
    """Best of ``rounds`` alternating runs per backend and contract (the machine may be shared)."""
    best: dict[str, float] = {}
    _steps_per_second("robot_sf", {}, 50)  # Robot SF's first env compiles its numba kernels: not part of the timing
    for _ in range(rounds):
        for contract, key in (("drive_state_rays", "rays"), ("socnav_grid", "grid")):
            for backend in ("embedded", "robot_sf"):
                name = f"{backend}_{key}_sps"
                sps = _steps_per_second(backend, CONTRACT_OVERRIDES[contract], steps)
                best[name] = max(best.get(name, 0.0), round(sps, 1))
    return best


def markdown_table(result: dict) -> str:
    """The Markdown table of a result: one row per scenario and policy, ours / Robot SF's in each cell."""

    def pair(row: dict, key: str, fmt: str) -> str:
        return f"{row['embedded'][key]:{fmt}} / {row['robot_sf'][key]:{fmt}}"

    lines = [
        "| scenario | policy | success | collision | timeout | mean steps | min. ped. distance (m) | within |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in result["scenarios"]:
        cells = [
            row["scenario"],
            row["policy"],
            pair(row, "success_rate", ".2f"),
            pair(row, "collision_rate", ".2f"),
            pair(row, "timeout_rate", ".2f"),
            pair(row, "mean_steps", ".0f"),
            pair(row, "mean_min_ped_distance", ".2f"),
            "yes" if row["within_tolerance"] else "**no**",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20, help="episodes per scenario, policy and backend")
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--matrix", type=Path, action="append", default=[], help="another scenario file to include")
    parser.add_argument("--only", default="", help="comma-separated scenario names (default: all)")
    parser.add_argument("--speed-steps", type=int, default=2000)
    parser.add_argument("--speed-rounds", type=int, default=2)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--table", type=Path, default=None, help="print a saved result as a Markdown table and stop")
    args = parser.parse_args()
    if args.table:
        print(markdown_table(json.loads(args.table.read_text(encoding="utf-8"))))
        return
    if not robot_sf_available():
        print(json.dumps({"error": "Robot SF is not installed: ../shared/vendor/install-robot-sf.sh installs it"}))
        raise SystemExit(1)
    start = time.perf_counter()
    policies = [p for p in args.policies.split(",") if p]
    only = {s for s in args.only.split(",") if s}
    seeds = list(range(args.episodes))
    rows = []
    for path in _matrices(args.matrix):
        for scenario in (s.name for s in load_scenario_matrix(path)):
            if only and scenario not in only:
                continue
            for policy in policies:
                ours = summarize(run_episodes("embedded", path, scenario, policy, seeds))
                theirs = summarize(run_episodes("robot_sf", path, scenario, policy, seeds))
                row = {"matrix": path.name, "scenario": scenario, "policy": policy}
                row.update({"embedded": ours, "robot_sf": theirs})
                row.update(compare(ours, theirs))
                rows.append(row)
                mark = "ok " if row["within_tolerance"] else "OFF"
                print(
                    f"{mark} {scenario:30s} {policy:11s}"
                    f" success {ours['success_rate']:.2f}/{theirs['success_rate']:.2f}"
                    f" collision {ours['collision_rate']:.2f}/{theirs['collision_rate']:.2f}"
                    f" steps {ours['mean_steps']:.0f}/{theirs['mean_steps']:.0f}",
                    file=sys.stderr,
                    flush=True,
                )
    within = sum(r["within_tolerance"] for r in rows)
    result: dict = {
        "scenarios": rows,
        "pairs": len(rows),
        "pairs_within": within,
        "pairs_within_tolerance": round(within / max(1, len(rows)), 3),
        "episodes_per_pair": args.episodes,
        "policies": policies,
    }
    if not args.skip_speed:
        speeds = _speeds(args.speed_steps, args.speed_rounds)
        result.update(speeds)
        result["rays_speedup"] = round(speeds["embedded_rays_sps"] / speeds["robot_sf_rays_sps"], 2)
        result["grid_speedup"] = round(speeds["embedded_grid_sps"] / speeds["robot_sf_grid_sps"], 2)
        result["speed_setup"] = "crossing_high, 20 pedestrians, random actions, resets included, best of rounds"
    result.update(
        {
            "targets": TARGETS,
            "load_average_1min": round(os.getloadavg()[0], 2),
            "cpu_count": os.cpu_count(),
            "wall_sec": round(time.perf_counter() - start, 1),
        }
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
