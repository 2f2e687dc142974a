"""Wrappers that make a Robot SF env behave like an orch env where orch relies on it.

* :class:`RebuildOnSeed`: Robot SF draws its randomness from the global ``random`` and ``numpy.random`` state (its
  factory seeds them) and keeps its crowd from one episode to the next; a seeded ``reset(seed=s)`` therefore builds
  a fresh env with ``make_robot_env(seed=s)`` (what Robot SF's own evaluation does per episode), so the same seed
  gives the same episode, as on the embedded backend. Unseeded resets are Robot SF's own.
* :class:`OrchInfo`: adds ``scenario_id``, ``steps`` and ``num_pedestrians`` to Robot SF's ``info`` (which has
  ``collision``, ``success``, ``is_success`` and ``meta``), the keys ``orch env check`` and the trainers read.
* :func:`normalized_actions`: Robot SF's action space is raw (differential drive: ``Box([0, -w], [v, w])``, a
  change of speed per step); the embedded simulator's is ``Box(-1, 1)`` mapped affinely onto the same raw range,
  so this rescaling is all a policy trained on one needs to drive the other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["OrchInfo", "RebuildOnSeed", "normalized_actions"]


class RebuildOnSeed(gym.Wrapper):
    """``reset(seed=s)`` replaces the wrapped env by ``build(s)``; ``reset()`` without a seed is the env's own."""

    def __init__(self, build: Callable[[int | None], gym.Env], seed: int | None) -> None:
        super().__init__(build(seed))
        self._build = build

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        if seed is not None:
            self.env.close()
            self.env = self._build(seed)
        return self.env.reset(seed=seed, options=options)


class OrchInfo(gym.Wrapper):
    """Robot SF's ``info`` plus ``scenario_id``, ``steps`` (of this episode) and ``num_pedestrians``."""

    def __init__(self, env: gym.Env, scenario_id: str | None = None) -> None:
        super().__init__(env)
        self._scenario_id = scenario_id
        self._steps = 0

    def _extra(self) -> dict[str, Any]:
        inner = self.env.unwrapped
        scenario = self._scenario_id or getattr(inner, "scenario_id", None)
        simulator = getattr(inner, "simulator", None)
        peds = getattr(simulator, "ped_pos", None)
        return {"scenario_id": scenario, "steps": self._steps, "num_pedestrians": 0 if peds is None else len(peds)}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._steps = 0
        return obs, {**dict(info or {}), **self._extra()}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._steps += 1
        return obs, float(reward), bool(terminated), bool(truncated), {**dict(info or {}), **self._extra()}


def normalized_actions(env: gym.Env) -> gym.Env:
    """``env`` seen through ``Box(-1, 1)`` actions (affine onto its own bounds), like the embedded backend."""
    return gym.wrappers.RescaleAction(env, np.float32(-1.0), np.float32(1.0))
