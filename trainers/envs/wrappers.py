"""Observation wrappers for the crowd-nav envs.

* :class:`FlattenKeys`: concatenate the named Dict keys, flattened and in the given order, into one float32
  ``observation`` vector (Dreamer's ``env.flatten_keys``); matches ``contracts.flatten_signature``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from trainers.envs.contracts import flatten_signature
from trainers.envs.crowdnav.spaces import signature_of_space

__all__ = ["FlattenKeys"]


class FlattenKeys(gym.ObservationWrapper):
    """Dict observation -> Box (or Dict with the rest plus ``observation``) holding ``keys`` flattened in order."""

    def __init__(self, env: gym.Env, keys: Sequence[str]) -> None:
        super().__init__(env)
        self.keys = list(keys)
        inner = env.observation_space
        assert isinstance(inner, spaces.Dict), f"FlattenKeys needs a Dict observation space, got {inner}"
        flatten_signature(signature_of_space(inner), self.keys)  # raises naming missing keys
        boxes = [inner[k] for k in self.keys]
        if not all(isinstance(b, spaces.Box) for b in boxes):
            raise ValueError(f"flatten_keys {self.keys} must all name Box spaces")
        lows = [np.broadcast_to(b.low, b.shape).ravel() for b in boxes if isinstance(b, spaces.Box)]
        highs = [np.broadcast_to(b.high, b.shape).ravel() for b in boxes if isinstance(b, spaces.Box)]
        box = spaces.Box(np.concatenate(lows).astype(np.float32), np.concatenate(highs).astype(np.float32))
        self._rest = [k for k in inner.spaces if k not in self.keys]
        if self._rest:
            self.observation_space = spaces.Dict({**{k: inner[k] for k in self._rest}, "observation": box})
        else:
            self.observation_space = box

    def observation(self, observation: Mapping[str, Any]) -> np.ndarray | dict[str, Any]:
        flat = np.concatenate([np.asarray(observation[k], dtype=np.float32).ravel() for k in self.keys])
        if self._rest:
            return {**{k: observation[k] for k in self._rest}, "observation": flat}
        return flat
