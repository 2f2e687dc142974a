"""What ``orch env check`` and ``orch env preview`` do: run every scenario of a matrix, draw one scenario.

Both work on either backend (``embedded`` or ``robot_sf``): the check only uses the Gymnasium API and ``info``, and
the preview draws a :class:`Scene`, the neutral picture of a running env that :func:`scene_of` reads from either
simulator. Heavy (gymnasium, matplotlib); reached from the CLI through the light ``trainers.envs.spec`` names.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainers.envs.contracts import observation_signature

__all__ = ["CONTRACT_OVERRIDES", "ScenarioCheck", "Scene", "check_matrix", "preview_scenario", "scene_of"]

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
    path: str | Path, *, steps: int = 200, contract: str = "socnav_grid", seed: int = 0, backend: str = "embedded"
) -> list[ScenarioCheck]:
    """Run ``steps`` random-action steps in every scenario of the matrix at ``path`` (errors become results)."""
    from gymnasium.spaces import Dict

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
            env = make_env(overrides, scenario_config=path, scenario_id=scenario.name, seed=seed, backend=backend)
            result.loaded = True
            result.space_ok = signature_of_space(env.observation_space) == expected
            env.action_space.seed(seed)
            obs, info = env.reset(seed=seed)
            result.pedestrians = int(info["num_pedestrians"])
            start = time.perf_counter()
            for _ in range(steps):
                obs, _, terminated, truncated, info = env.step(env.action_space.sample())
                if not env.observation_space.contains(obs):
                    space = env.observation_space
                    bad = [k for k, v in obs.items() if isinstance(space, Dict) and not space[k].contains(v)]
                    raise ValueError(f"an observation left the observation space (keys {bad})")
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


@dataclass
class Scene:
    """What a preview draws, read from either backend's running env (metres, SVG orientation: y down)."""

    name: str
    width: float
    height: float
    obstacles: list[np.ndarray]
    zones: dict[str, list[tuple[float, float, float, float]]]  # kind -> (xmin, ymin, xmax, ymax)
    robot_routes: list[np.ndarray]
    ped_routes: list[np.ndarray]
    pedestrians: np.ndarray
    ped_radius: float
    robot: np.ndarray
    robot_radius: float
    goal: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)


def _box(zone: Any) -> tuple[float, float, float, float]:
    if hasattr(zone, "xmin"):
        return (zone.xmin, zone.ymin, zone.xmax, zone.ymax)
    pts = np.asarray(zone, dtype=np.float64).reshape(-1, 2)  # Robot SF: three corners
    return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))


def _zones(map_def: Any) -> dict[str, Any]:
    """The zones of a map by the name a preview draws them under (the embedded map and Robot SF's share the names)."""
    return {
        "robot_spawn": map_def.robot_spawn_zones,
        "robot_goal": map_def.robot_goal_zones,
        "ped_spawn": map_def.ped_spawn_zones,
        "ped_goal": map_def.ped_goal_zones,
        "crowded": map_def.ped_crowded_zones,
    }


def scene_of(env: Any, name: str) -> Scene:
    """The :class:`Scene` of an embedded ``CrowdNavEnv`` or a Robot SF ``RobotEnv`` (wrappers are looked through)."""
    inner = env.unwrapped
    if hasattr(inner, "crowd"):  # embedded
        m = inner.map
        zones = _zones(m)
        return Scene(
            name=name,
            width=m.width,
            height=m.height,
            obstacles=[np.asarray(p) for p in m.obstacles],
            zones={k: [_box(z) for z in v] for k, v in zones.items()},
            robot_routes=[np.asarray(r.waypoints) for r in m.robot_routes],
            ped_routes=[np.asarray(r.waypoints) for r in m.ped_routes],
            pedestrians=inner.crowd.pos.copy(),
            ped_radius=inner.crowd.radius,
            robot=inner.robot.pos.copy(),
            robot_radius=inner.settings.robot.radius,
            goal=np.asarray(inner.waypoints[-1]),
        )
    m, sim = inner.map_def, inner.simulator
    zones = _zones(m)
    return Scene(
        name=name,
        width=float(m.width),
        height=float(m.height),
        obstacles=[np.asarray(o.vertices, dtype=np.float64) for o in m.obstacles],
        zones={k: [_box(z) for z in v] for k, v in zones.items()},
        robot_routes=[np.asarray(r.waypoints, dtype=np.float64) for r in m.robot_routes],
        ped_routes=[np.asarray(r.waypoints, dtype=np.float64) for r in m.ped_routes],
        pedestrians=np.asarray(sim.ped_pos, dtype=np.float64).reshape(-1, 2).copy(),
        ped_radius=float(inner.env_config.sim_config.ped_radius),
        robot=np.asarray(sim.robots[0].pose[0], dtype=np.float64),
        robot_radius=float(inner.env_config.robot_config.radius),
        goal=np.asarray(sim.robot_navs[0].waypoints[-1], dtype=np.float64),
    )


def preview_scenario(
    path: str | Path,
    out: str | Path,
    *,
    scenario: str | None = None,
    seed: int = 0,
    warmup_steps: int = 0,
    backend: str = "embedded",
) -> Path:
    """Draw the map, routes, pedestrians and robot of one scenario beside the robot's occupancy grid (PNG)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from manifests import atomic_path
    from trainers.envs.factory import make_env
    from trainers.envs.scenarios import load_scenario_matrix

    scenarios = load_scenario_matrix(path)
    name = scenario or scenarios[0].name
    overrides = CONTRACT_OVERRIDES["socnav_grid"]
    env = make_env(overrides, scenario_config=path, scenario_id=name, seed=seed, backend=backend)
    obs, _ = env.reset(seed=seed)
    for _ in range(warmup_steps):
        obs, *_ = env.step(np.zeros(env.action_space.shape, dtype=np.float32))
    view = scene_of(env, name)
    fig, (ax, axg) = plt.subplots(1, 2, figsize=(12, 6))
    _draw_scene(ax, view)
    ax.set_title(f"{name} ({len(view.pedestrians)} pedestrians, {backend})")
    _draw_grid(axg, obs["occupancy_grid"])
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    env.close()
    return out


def _draw_scene(ax: Any, view: Scene) -> None:
    """The map as Robot SF draws it: obstacles, zones, robot and pedestrian routes, pedestrians, robot and goal."""
    from matplotlib.patches import Circle, Polygon, Rectangle

    for poly in view.obstacles:
        ax.add_patch(Polygon(poly, closed=True, color="0.2"))
    zone_colors = {"robot_spawn": "#ffdf00", "robot_goal": "#ff6c00", "ped_spawn": "#23ff00", "ped_goal": "#107400"}
    for kind, boxes in view.zones.items():
        for x0, y0, x1, y1 in boxes:
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, alpha=0.5, color=zone_colors.get(kind, "#ffb0b0")))
    for route in view.robot_routes:
        ax.plot(*route.T, "-o", color="#0300d5", ms=3, lw=1.5, label="robot route")
    for route in view.ped_routes:
        ax.plot(*route.T, "--", color="#c40202", lw=1, label="pedestrian route")
    for p in view.pedestrians:
        ax.add_patch(Circle((float(p[0]), float(p[1])), view.ped_radius, color="#dc3c32"))
    ax.add_patch(Circle((float(view.robot[0]), float(view.robot[1])), view.robot_radius, color="#1e5adc"))
    ax.plot(*view.goal, "*", color="green", ms=14)
    ax.set_xlim(0, view.width)
    ax.set_ylim(view.height, 0)  # SVG y points down
    ax.set_aspect("equal")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=False))
    ax.legend(unique.values(), unique.keys(), loc="upper right", fontsize=8)


def _draw_grid(ax: Any, grid: np.ndarray) -> None:
    """The robot's occupancy grid in its own frame: obstacles blue, pedestrians red, the robot in the middle."""
    composite = np.zeros((*grid.shape[1:], 3))
    composite[..., 0] = grid[1]  # pedestrians red
    composite[..., 2] = grid[0]  # obstacles blue
    ax.imshow(composite, origin="upper")  # rows downwards, like the map's y axis, so both panels read alike
    ax.plot(grid.shape[2] / 2, grid.shape[1] / 2, "o", color="#1e5adc", ms=6)
    ax.set_title("occupancy grid: obstacles blue, pedestrians red (ego frame, robot facing right)")
