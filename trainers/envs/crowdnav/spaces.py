"""Spaces built from the observation contract: an env's space always equals ``orch validate``'s signature.

Keys, shapes and dtypes come from the contract; the bounds are Robot SF's, so that an observation space is identical
on both backends: drive_state in ``[low, 1]`` with ``low = [v_min / v_max, -1, 0, -1, -1]``, rays and grids in
[0, 1], SocNav positions and sizes in [0, 50] m, speeds within the robot's top speed, the heading in [-pi, pi],
and the grid's metadata boxes (``robot_sf/sensor/socnav_observation.py``, ``robot_sf/gym_env/env_util.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from trainers.envs.contracts import GRID_CHANNEL_ORDER, Signature

__all__ = [
    "POSITION_CAP",
    "TARGET_DISTANCE_CAP",
    "action_space",
    "observation_space",
    "signature_of_space",
    "socnav_speed_cap",
    "space_from_signature",
]

POSITION_CAP = 50.0  # m, Robot SF's cap on SocNav positions, radii and map size
TARGET_DISTANCE_CAP = 50.0  # m, Robot SF's cap on the drive state's target distance (its normaliser)
_UNIT_KEYS = ("rays", "occupancy_grid")
_SIGNED_UNIT_KEYS = ("drive_state",)
_F32_MAX = float(np.finfo(np.float32).max)


def _bounds(key: str) -> tuple[float, float]:
    if key in _UNIT_KEYS:
        return 0.0, 1.0
    if key in _SIGNED_UNIT_KEYS:
        return -1.0, 1.0
    return -np.inf, np.inf


def space_from_signature(signature: Signature) -> spaces.Dict:
    """A Dict space, one Box per key: rays and grids in [0, 1], drive_state in [-1, 1], channel indices in [-1, 3].

    The other keys are unbounded (positions and velocities depend on the map).
    """
    boxes: dict[str, spaces.Space] = {}
    for key, (shape, dtype) in sorted(signature.items()):
        if dtype == "int32":
            boxes[key] = spaces.Box(-1, len(GRID_CHANNEL_ORDER) - 1, shape=shape, dtype=np.int32)
        else:
            low, high = _bounds(key)
            boxes[key] = spaces.Box(low, high, shape=shape, dtype=np.float32)
    return spaces.Dict(boxes)


def socnav_speed_cap(robot: Any) -> float:
    """Robot SF's bound on SocNav speeds: ``max_linear_speed`` where the robot has one, else 2 m/s."""
    return float(robot.max_linear_speed) if robot.type == "differential_drive" else 2.0


def observation_space(signature: Signature, settings: Any) -> spaces.Dict:
    """The env's Dict space: ``signature``'s keys and shapes with Robot SF's bounds for ``settings``."""
    bounds = _robot_sf_bounds(settings)
    boxes: dict[str, spaces.Space] = {}
    for key, (shape, _dtype) in sorted(signature.items()):
        if key == "occupancy_grid_meta_channel_indices":
            boxes[key] = spaces.Box(-1, np.iinfo(np.int32).max, shape=shape, dtype=np.int32)
            continue
        low, high = bounds.get(key, _bounds(key))
        boxes[key] = spaces.Box(
            np.broadcast_to(np.asarray(low, dtype=np.float32), shape).copy(),
            np.broadcast_to(np.asarray(high, dtype=np.float32), shape).copy(),
            dtype=np.float32,
        )
    return spaces.Dict(boxes)


def _robot_sf_bounds(settings: Any) -> dict[str, tuple[Any, Any]]:
    robot = settings.robot
    speed_low = -1.0 if (robot.allow_backwards or robot.type == "holonomic") else 0.0  # lowest speed / top speed
    cap, speed = POSITION_CAP, socnav_speed_cap(robot)
    n = settings.max_pedestrians
    return {
        "drive_state": ([speed_low, -1.0, 0.0, -1.0, -1.0], 1.0),
        "rays": (0.0, 1.0),
        "goal_current": (0.0, cap),
        "goal_next": (0.0, cap),
        "map_size": (0.0, cap),
        "pedestrians_count": (0.0, float(n)),
        "pedestrians_positions": (0.0, cap),
        "pedestrians_radius": (0.0, cap),
        "pedestrians_velocities": (-speed, speed),
        "robot_heading": (-np.pi, np.pi),
        "robot_position": (0.0, cap),
        "robot_radius": (0.0, cap),
        "robot_speed": (-speed, speed),
        "sim_timestep": (0.0, _F32_MAX),
        "occupancy_grid": (0.0, 1.0),
        "occupancy_grid_meta_origin": (-np.inf, np.inf),
        "occupancy_grid_meta_resolution": (0.0, np.inf),
        "occupancy_grid_meta_size": (0.0, np.inf),
        "occupancy_grid_meta_use_ego_frame": (0.0, 1.0),
        "occupancy_grid_meta_center_on_robot": (0.0, 1.0),
        "occupancy_grid_meta_robot_pose": (-np.inf, np.inf),
    }


def signature_of_space(space: Any) -> Signature:
    """The {key: (shape, dtype)} of a Dict or Box space (a Box is reported as key ``observation``)."""
    if isinstance(space, spaces.Dict):
        return {
            k: (tuple(int(d) for d in v.shape or ()), str(np.dtype(v.dtype))) for k, v in sorted(space.spaces.items())
        }
    return {"observation": (tuple(int(d) for d in space.shape or ()), str(np.dtype(space.dtype)))}


def action_space() -> spaces.Box:
    """Box(2,) in [-1, 1]: the robot model scales it to its own limits."""
    return spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)


def as_mapping(signature: Mapping[str, Any]) -> Signature:
    """Accept the JSON form ({key: {shape, dtype}}) as well as the tuple form."""
    out: Signature = {}
    for key, value in signature.items():
        if isinstance(value, Mapping):
            out[key] = (tuple(value["shape"]), str(value["dtype"]))
        else:
            out[key] = (tuple(value[0]), str(value[1]))
    return out
