"""ScenarioSwitchingEnv: a new scenario of a matrix at every reset, random (seeded) or in cycle order.

Hold-out scenarios are excluded before construction (``exclude``), every scenario must yield the same observation
space (a mismatch is an error naming both scenarios), and ``coverage`` counts the episodes of each scenario.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from trainers.envs.contracts import observation_signature
from trainers.envs.crowdnav.env import CrowdNavEnv
from trainers.envs.crowdnav.settings import merged_overrides
from trainers.envs.scenarios import Scenario, ScenarioError, select_scenarios

__all__ = ["ScenarioSwitchingEnv"]


class ScenarioSwitchingEnv(gym.Env):
    """One env over many scenarios: picks the scenario of each episode at ``reset``."""

    metadata = CrowdNavEnv.metadata

    def __init__(
        self,
        scenarios: Sequence[Scenario],
        env_overrides: Mapping[str, Any] | None = None,
        *,
        exclude: Iterable[str] = (),
        mode: str = "random",
        seed: int | None = None,
        reward_name: str | None = None,
        reward_kwargs: Mapping[str, Any] | None = None,
        render_mode: str | None = None,
    ) -> None:
        super().__init__()
        if mode not in ("random", "cycle"):
            raise ValueError(f"switching mode {mode!r} is not one of random, cycle")
        self.scenarios = select_scenarios(scenarios, exclude=exclude)
        self.held_out = sorted(set(exclude))
        self.mode = mode
        overrides = dict(env_overrides or {})
        first = self.scenarios[0]
        reference = observation_signature(merged_overrides(overrides, first.as_overrides()))
        for other in self.scenarios[1:]:
            sig = observation_signature(merged_overrides(overrides, other.as_overrides()))
            if sig != reference:
                diff = sorted(k for k in set(sig) | set(reference) if sig.get(k) != reference.get(k))
                raise ScenarioError(
                    f"scenarios {first.name!r} and {other.name!r} give different observation spaces (keys {diff}); "
                    "remove the observation-shaping keys (stack_steps, max_total_pedestrians) from their "
                    "simulation_config or train on them separately"
                )
        self.env = CrowdNavEnv(
            first, overrides, reward_name=reward_name, reward_kwargs=reward_kwargs, render_mode=render_mode
        )
        self.observation_space = self.env.observation_space
        self.action_space = self.env.action_space
        self.render_mode = render_mode
        self.coverage: dict[str, int] = {s.name: 0 for s in self.scenarios}
        self._picker = np.random.default_rng(seed)
        self._cursor = 0
        self._pending_seed = seed

    @property
    def current_scenario(self) -> Scenario:
        return self.env.scenario

    def _next_scenario(self) -> Scenario:
        if self.mode == "cycle":
            scenario = self.scenarios[self._cursor % len(self.scenarios)]
            self._cursor += 1
            return scenario
        return self.scenarios[int(self._picker.integers(len(self.scenarios)))]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if seed is None and self._pending_seed is not None:
            seed, self._pending_seed = self._pending_seed, None
        super().reset(seed=seed)
        if seed is not None:
            self._picker = np.random.default_rng(seed)
            self._cursor = 0
        scenario = self._next_scenario()
        if scenario is not self.env.scenario:
            self.env.load_scenario(scenario)
        self.coverage[scenario.name] += 1
        episode_seed = int(self.np_random.integers(2**31 - 1))
        return self.env.reset(seed=episode_seed, options=options)

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        return self.env.step(action)

    def render(self) -> np.ndarray:  # type: ignore[override,unused-ignore]  # rgb_array only (gymnasium >= 1.2 types it so)
        return self.env.render()

    def close(self) -> None:
        self.env.close()
