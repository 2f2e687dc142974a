"""Spaces built from the observation contract: an env's space always equals ``orch validate``'s signature."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from trainers.envs.contracts import GRID_CHANNEL_ORDER, Signature

__all__ = ["action_space", "signature_of_space", "space_from_signature"]

_UNIT_KEYS = ("rays", "occupancy_grid")
_SIGNED_UNIT_KEYS = ("drive_state",)


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
