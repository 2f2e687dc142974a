"""Steps per second of one embedded env, single process: 20 pedestrians on the crossing map (crossing_high).

``crossing_high``'s density gives 11 pedestrians under Robot SF's population rule (``ceil(route length x 3 m x
density)``), so the benchmark raises it to 0.235 through ``env_overrides.sim_config`` to keep its 20 pedestrians.

Prints ONE JSON object: ``drive_state_rays_sps`` (default_gym: drive_state (3, 5) + rays (3, 272)) and
``socnav_grid_sps`` (socnav_struct + ego occupancy grid 0.2 m over 32 m, 3 x 160 x 160). Random actions; resets
after an episode ends are included in the time. ``--profile`` adds the top functions by cumulative time.

    python bench/env_speed.py [--steps 3000] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one process, one thread: what a vectorised-env worker gets

import numpy as np

from trainers.envs import make_env
from trainers.envs.resources import default_matrix_path

SOCNAV_GRID = {
    "observation_mode": "socnav_struct",
    "use_occupancy_grid": True,
    "include_grid_in_observation": True,
    "grid_config": {
        "resolution": 0.2,
        "width": 32.0,
        "height": 32.0,
        "channels": ["obstacles", "pedestrians", "combined"],
        "use_ego_frame": True,
        "center_on_robot": True,
    },
}


CROWD_OF_20 = {"sim_config": {"ped_density": 0.235}}  # ceil(28.0 m x 3 m x 0.235) = 20 on the crossing map


def _run(overrides: dict, steps: int, profile: bool) -> tuple[float, float, int, str]:
    overrides = {**overrides, **CROWD_OF_20}
    env = make_env(overrides, scenario_config=default_matrix_path(), scenario_id="crossing_high", seed=0)
    _, info = env.reset()
    peds = int(info["num_pedestrians"])
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (steps, 2)).astype(np.float32)
    profiler = cProfile.Profile() if profile else None
    start, cpu_start = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    for i in range(steps):
        _, _, terminated, truncated, _ = env.step(actions[i])
        if terminated or truncated:
            env.reset()
    if profiler:
        profiler.disable()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    summary = ""
    if profiler:
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).sort_stats("tottime").print_stats(12)
        summary = buf.getvalue()
    return steps / elapsed, steps / cpu, peds, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--profile", action="store_true", help="add cProfile summaries (slower numbers)")
    args = parser.parse_args()
    rays_sps, rays_cpu, peds, rays_prof = _run({}, args.steps, args.profile)
    grid_sps, grid_cpu, _, grid_prof = _run(SOCNAV_GRID, args.steps, args.profile)
    result = {
        "drive_state_rays_sps": round(rays_sps, 1),
        "socnav_grid_sps": round(grid_sps, 1),
        "drive_state_rays_cpu_sps": round(rays_cpu, 1),
        "socnav_grid_cpu_sps": round(grid_cpu, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
        "pedestrians": peds,
        "map": "crossing",
        "steps": args.steps,
        "targets": {"drive_state_rays_sps": 2000, "socnav_grid_sps": 1000},
    }
    if args.profile:
        result["profile"] = {"drive_state_rays": rays_prof, "socnav_grid": grid_prof}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
