"""Observation contracts: the exact {key: (shape, dtype)} an environment built from ``env_overrides`` reports.

This module is light (stdlib only): ``orch validate --resolve`` computes the signature without building an
environment, the embedded simulator builds its observation space from the same function, and a test checks that the
two agree. A policy manifest records the signature, because a policy trained on one key set cannot load on another.

Two contracts exist (Robot SF README, section 4):

* ``socnav_struct`` (+ occupancy grid): a flat Dict of SocNav keys, float32 unless noted.
* ``default_gym``: ``drive_state`` (stack_steps, 5) and ``rays`` (stack_steps, num_rays), optionally flattened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "DEFAULT_GRID_CONFIG",
    "DEFAULT_LIDAR_CONFIG",
    "DEFAULT_MAX_PEDESTRIANS",
    "DEFAULT_STACK_STEPS",
    "GRID_CHANNEL_ORDER",
    "Signature",
    "contract_name",
    "flatten_signature",
    "grid_shape",
    "observation_signature",
    "signature_to_json",
]

Signature = dict[str, tuple[tuple[int, ...], str]]

GRID_CHANNEL_ORDER: tuple[str, ...] = ("obstacles", "pedestrians", "robot", "combined")
DEFAULT_GRID_CONFIG: dict[str, Any] = {
    "resolution": 0.1,
    "width": 20.0,
    "height": 20.0,
    "channels": ["obstacles", "pedestrians"],
    "use_ego_frame": False,
    "center_on_robot": False,
}
DEFAULT_LIDAR_CONFIG: dict[str, Any] = {"num_rays": 272, "max_scan_dist": 10.0, "visual_angle_portion": 1.0}
DEFAULT_STACK_STEPS = 3
DEFAULT_MAX_PEDESTRIANS = 64
DRIVE_STATE_WIDTH = 5  # speed (2) + target distance, angle, next angle (3)


def contract_name(env_overrides: Mapping[str, Any]) -> str:
    """``socnav_grid``, ``socnav`` or ``drive_state_rays``: the family of observation an env config yields."""
    if env_overrides.get("observation_mode", "default_gym") == "socnav_struct":
        return "socnav_grid" if _grid_in_observation(env_overrides) else "socnav"
    return "drive_state_rays"


def grid_shape(grid_config: Mapping[str, Any] | None) -> tuple[int, int, int]:
    """(channels, rows, cols) of the occupancy grid: rows = height / resolution, cols = width / resolution."""
    cfg = {**DEFAULT_GRID_CONFIG, **(grid_config or {})}
    resolution = float(cfg["resolution"])
    if resolution <= 0:
        raise ValueError(f"grid_config.resolution must be > 0, got {resolution}")
    rows = round(float(cfg["height"]) / resolution)
    cols = round(float(cfg["width"]) / resolution)
    return (len(cfg["channels"]), rows, cols)


def observation_signature(
    env_overrides: Mapping[str, Any] | None,
    *,
    flatten_keys: Sequence[str] | None = None,
) -> Signature:
    """Compute the observation signature for ``env_overrides`` (Robot SF semantics).

    ``flatten_keys`` (Dreamer's ``env.flatten_keys``) concatenates those keys, flattened, into one ``observation``
    vector in the order given, as Robot SF's flattening wrapper does.
    """
    overrides = dict(env_overrides or {})
    sim = overrides.get("sim_config") or {}
    stack = int(sim.get("stack_steps", DEFAULT_STACK_STEPS))
    if overrides.get("observation_mode", "default_gym") == "socnav_struct":
        signature = _socnav_signature(overrides, sim)
    else:
        lidar = {**DEFAULT_LIDAR_CONFIG, **(overrides.get("lidar_config") or {})}
        signature = {
            "drive_state": ((stack, DRIVE_STATE_WIDTH), "float32"),
            "rays": ((stack, int(lidar["num_rays"])), "float32"),
        }
    if flatten_keys:
        signature = flatten_signature(signature, flatten_keys)
    return dict(sorted(signature.items()))


def flatten_signature(signature: Signature, keys: Sequence[str]) -> Signature:
    """Replace ``keys`` by one float32 vector ``observation`` holding them flattened in order."""
    missing = [k for k in keys if k not in signature]
    if missing:
        raise ValueError(f"flatten_keys names {missing}, not in the observation (keys: {sorted(signature)})")
    size = 0
    for key in keys:
        shape, _ = signature[key]
        n = 1
        for d in shape:
            n *= d
        size += n
    rest = {k: v for k, v in signature.items() if k not in keys}
    if rest:
        rest["observation"] = ((size,), "float32")
        return rest
    return {"observation": ((size,), "float32")}


def signature_to_json(signature: Signature) -> dict[str, dict[str, Any]]:
    """JSON form used in resolved.json and policy manifests: {key: {"shape": [...], "dtype": "..."}}."""
    return {k: {"shape": list(shape), "dtype": dtype} for k, (shape, dtype) in sorted(signature.items())}


def _grid_in_observation(overrides: Mapping[str, Any]) -> bool:
    return bool(overrides.get("use_occupancy_grid", False)) and bool(
        overrides.get("include_grid_in_observation", False)
    )


def _socnav_signature(overrides: Mapping[str, Any], sim: Mapping[str, Any]) -> Signature:
    n_peds = int(sim.get("max_total_pedestrians") or DEFAULT_MAX_PEDESTRIANS)
    f32 = "float32"
    signature: Signature = {
        "goal_current": ((2,), f32),
        "goal_next": ((2,), f32),
        "map_size": ((2,), f32),
        "pedestrians_count": ((1,), f32),
        "pedestrians_positions": ((n_peds, 2), f32),
        "pedestrians_radius": ((1,), f32),
        "pedestrians_velocities": ((n_peds, 2), f32),
        "robot_heading": ((1,), f32),
        "robot_position": ((2,), f32),
        "robot_radius": ((1,), f32),
        "robot_speed": ((2,), f32),
        "sim_timestep": ((1,), f32),
    }
    if overrides.get("socnav_key_set", "legacy") == "extended":
        signature["robot_velocity_xy"] = ((2,), f32)
        signature["robot_angular_velocity"] = ((1,), f32)
    if _grid_in_observation(overrides):
        signature.update(
            {
                "occupancy_grid": (grid_shape(overrides.get("grid_config")), f32),
                "occupancy_grid_meta_center_on_robot": ((1,), f32),
                "occupancy_grid_meta_channel_indices": ((len(GRID_CHANNEL_ORDER),), "int32"),
                "occupancy_grid_meta_origin": ((2,), f32),
                "occupancy_grid_meta_resolution": ((1,), f32),
                "occupancy_grid_meta_robot_pose": ((3,), f32),
                "occupancy_grid_meta_size": ((2,), f32),
                "occupancy_grid_meta_use_ego_frame": ((1,), f32),
            }
        )
    return signature
