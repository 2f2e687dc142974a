"""What ``orch env check`` and ``orch env preview`` do: run every scenario of a matrix, draw one scenario.

Heavy (gymnasium, matplotlib); reached from the CLI through the light ``trainers.envs.spec`` entry-point names.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainers.envs.contracts import observation_signature

__all__ = ["CONTRACT_OVERRIDES", "ScenarioCheck", "check_matrix", "preview_scenario"]

GRID_32M = {
    "resolution": 0.2,
    "width": 32.0,
    "height": 32.0,
    "channels": ["obstacles", "pedestrians", "combined"],
    "use_ego_frame": True,
    "center_on_robot": True,
}
CONTRACT_OVERRIDES: dict[str, dict[str, Any]] = {
    "socnav_grid": {
        "observation_mode": "socnav_struct",
        "use_occupancy_grid": True,
        "include_grid_in_observation": True,
        "grid_config": GRID_32M,
    },
    "drive_state_rays": {"observation_mode": "default_gym"},
}


@dataclass
class ScenarioCheck:
    """The outcome of running one scenario with random actions."""

    scenario: str
    loaded: bool
    space_ok: bool = False
    steps: int = 0
    steps_per_s: float = 0.0
    episodes: int = 0
    collisions: int = 0
    successes: int = 0
    pedestrians: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.loaded and self.space_ok and not self.error

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def check_matrix(
    path: str | Path, *, steps: int = 200, contract: str = "socnav_grid", seed: int = 0
) -> list[ScenarioCheck]:
    """Run ``steps`` random-action steps in every scenario of the matrix at ``path`` (errors become results)."""
    from trainers.envs.crowdnav.spaces import signature_of_space
    from trainers.envs.factory import make_env
    from trainers.envs.scenarios import load_scenario_matrix

    if contract not in CONTRACT_OVERRIDES:
        raise ValueError(f"contract {contract!r} is not one of {', '.join(CONTRACT_OVERRIDES)}")
    overrides = CONTRACT_OVERRIDES[contract]
    expected = observation_signature(overrides)
    results = []
    for scenario in load_scenario_matrix(path):
        result = ScenarioCheck(scenario=scenario.name, loaded=False)
        results.append(result)
        try:
            env = make_env(overrides, scenario_config=path, scenario_id=scenario.name, seed=seed)
            result.loaded = True
            result.space_ok = signature_of_space(env.observation_space) == expected
            obs, info = env.reset()
            result.pedestrians = int(info["num_pedestrians"])
            start = time.perf_counter()
            for _ in range(steps):
                obs, _, terminated, truncated, info = env.step(env.action_space.sample())
                if not env.observation_space.contains(obs):
                    raise ValueError("an observation left the observation space")
                if terminated or truncated:
                    result.episodes += 1
                    result.collisions += int(info["collision"])
                    result.successes += int(info["success"])
                    env.reset()
            result.steps = steps
            result.steps_per_s = steps / max(1e-9, time.perf_counter() - start)
        except Exception as exc:  # report per scenario; the caller turns any failure into a non-zero exit
            result.error = f"{type(exc).__name__}: {exc}"
    return results


def preview_scenario(
    path: str | Path, out: str | Path, *, scenario: str | None = None, seed: int = 0, warmup_steps: int = 0
) -> Path:
    """Draw the map, routes, pedestrians and robot of one scenario beside the robot's occupancy grid (PNG)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, Polygon, Rectangle

    from manifests import atomic_path
    from trainers.envs.crowdnav.env import CrowdNavEnv
    from trainers.envs.factory import make_env
    from trainers.envs.scenarios import load_scenario_matrix

    scenarios = load_scenario_matrix(path)
    name = scenario or scenarios[0].name
    env = make_env(CONTRACT_OVERRIDES["socnav_grid"], scenario_config=path, scenario_id=name, seed=seed)
    assert isinstance(env, CrowdNavEnv)  # one scenario_id gives the plain env
    obs, _ = env.reset()
    for _ in range(warmup_steps):
        obs, *_ = env.step(np.zeros(2, dtype=np.float32))
    m = env.map
    fig, (ax, axg) = plt.subplots(1, 2, figsize=(12, 6))
    for poly in m.obstacles:
        ax.add_patch(Polygon(poly, closed=True, color="0.2"))
    zone_colors = {"robot_spawn": "#ffdf00", "robot_goal": "#ff6c00", "ped_spawn": "#23ff00", "ped_goal": "#107400"}
    zones = {
        "robot_spawn": m.robot_spawn_zones,
        "robot_goal": m.robot_goal_zones,
        "ped_spawn": m.ped_spawn_zones,
        "ped_goal": m.ped_goal_zones,
        "crowded": m.ped_crowded_zones,
    }
    for kind, items in zones.items():
        for z in items:
            ax.add_patch(
                Rectangle(
                    (z.xmin, z.ymin),
                    z.xmax - z.xmin,
                    z.ymax - z.ymin,
                    alpha=0.5,
                    color=zone_colors.get(kind, "#ffb0b0"),
                )
            )
    for r in m.robot_routes:
        ax.plot(*r.waypoints.T, "-o", color="#0300d5", ms=3, lw=1.5, label="robot route")
    for r in m.ped_routes:
        ax.plot(*r.waypoints.T, "--", color="#c40202", lw=1, label="pedestrian route")
    for p in env.crowd.pos:
        ax.add_patch(Circle((float(p[0]), float(p[1])), env.crowd.radius, color="#dc3c32"))
    ax.add_patch(Circle((float(env.robot.pos[0]), float(env.robot.pos[1])), env.settings.robot.radius, color="#1e5adc"))
    ax.plot(*env.waypoints[-1], "*", color="green", ms=14)
    ax.set_xlim(0, m.width)
    ax.set_ylim(m.height, 0)  # SVG y points down
    ax.set_aspect("equal")
    ax.set_title(f"{name} ({env.crowd.n} pedestrians)")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=False))
    ax.legend(unique.values(), unique.keys(), loc="upper right", fontsize=8)
    grid = obs["occupancy_grid"]
    composite = np.zeros((*grid.shape[1:], 3))
    composite[..., 0] = grid[1]  # pedestrians red
    composite[..., 2] = grid[0]  # obstacles blue
    axg.imshow(composite, origin="upper")  # rows downwards, like the map's y axis, so both panels read alike
    axg.plot(grid.shape[2] / 2, grid.shape[1] / 2, "o", color="#1e5adc", ms=6)
    axg.set_title("occupancy grid: obstacles blue, pedestrians red (ego frame, robot facing right)")
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    return out
