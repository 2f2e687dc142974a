"""Observation spaces against the observation contract: the env's Dict space must match the resolved signature.

A policy trained on one key set cannot load on another (Robot SF README, section 4), so the trainer refuses to start
when the environment it built does not report exactly the signature that ``resolved.json`` promised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["action_space_json", "check_observation_space", "space_from_signature", "space_signature"]


def space_signature(space: gym.Space) -> dict[str, dict[str, Any]]:
    """``{key: {"shape": [...], "dtype": "..."}}`` of a Dict (or single Box, under the key ``observation``) space."""
    spaces = space.spaces if isinstance(space, gym.spaces.Dict) else {"observation": space}
    return {
        k: {"shape": [int(d) for d in (s.shape or ())], "dtype": str(np.dtype(s.dtype))}
        for k, s in sorted(spaces.items())
    }


def check_observation_space(space: gym.Space, expected: Mapping[str, Mapping[str, Any]]) -> None:
    """Raise ``ValueError`` naming every key whose shape or dtype differs from the resolved signature."""
    actual = space_signature(space)
    want = {k: {"shape": [int(d) for d in v["shape"]], "dtype": str(v["dtype"])} for k, v in expected.items()}
    problems = [f"missing key {k} {want[k]}" for k in sorted(set(want) - set(actual))]
    problems += [f"unexpected key {k} {actual[k]}" for k in sorted(set(actual) - set(want))]
    problems += [
        f"{k}: env gives {actual[k]}, contract says {want[k]}"
        for k in sorted(set(want) & set(actual))
        if actual[k] != want[k]
    ]
    if problems:
        raise ValueError(
            "the environment's observation space does not match the resolved observation_signature: "
            + "; ".join(problems)
            + " (check env_overrides, or re-resolve the config with this version of orch)"
        )


def space_from_signature(signature: Mapping[str, Mapping[str, Any]]) -> gym.spaces.Dict:
    """An unbounded Dict space with the signature's shapes and dtypes (tests, and loading a policy without an env)."""
    spaces: dict[str, gym.Space] = {}
    for key, spec in sorted(signature.items()):
        dtype = np.dtype(spec["dtype"])
        shape = tuple(int(d) for d in spec["shape"])
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            spaces[key] = gym.spaces.Box(low=info.min, high=info.max, shape=shape, dtype=dtype)
        else:
            spaces[key] = gym.spaces.Box(low=-np.inf, high=np.inf, shape=shape, dtype=dtype)
    return gym.spaces.Dict(spaces)


def action_space_json(space: gym.Space) -> dict[str, Any]:
    """The action space for the policy manifest: type, shape, dtype and bounds."""
    out: dict[str, Any] = {"type": type(space).__name__, "shape": [int(d) for d in (space.shape or ())]}
    if isinstance(space, gym.spaces.Box):
        out.update(dtype=str(space.dtype), low=space.low.tolist(), high=space.high.tolist())
    elif isinstance(space, gym.spaces.Discrete):
        out.update(n=int(space.n))
    return out
