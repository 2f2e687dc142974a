"""A tiny goal-reaching env with the socnav_grid observation contract, for trainer tests only (never shipped).

It lets the trainer's machinery (callbacks, checkpoints, resume, manifests) be tested in seconds, independent of the
simulator. Point robot, goal 2-4 m away, an episode ends at the goal (success), outside the arena (collision) or
after ``max_steps``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from trainers.envs.contracts import observation_signature, signature_to_json
from trainers.ppo_expert.spaces import space_from_signature

TOY_OVERRIDES: dict[str, Any] = {
    "observation_mode": "socnav_struct",
    "use_occupancy_grid": True,
    "include_grid_in_observation": True,
    "grid_config": {"resolution": 1.0, "width": 8.0, "height": 8.0, "channels": ["obstacles", "pedestrians"]},
    "sim_config": {"max_total_pedestrians": 4},
}
TOY_SCENARIOS = ["toy_near", "toy_far", "toy_holdout"]


def toy_signature() -> dict[str, dict[str, Any]]:
    return signature_to_json(observation_signature(TOY_OVERRIDES))


class ToyNavEnv(gym.Env):
    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, scenario_id: str | None = None, max_steps: int = 40):
        self.observation_space = space_from_signature(toy_signature())
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.scenario_id = scenario_id
        self.max_steps = max_steps
        self._pos = np.zeros(2)
        self._goal = np.zeros(2)
        self._t = 0

    def _obs(self) -> dict[str, np.ndarray]:
        obs = {k: np.zeros(s.shape, s.dtype) for k, s in self.observation_space.spaces.items()}
        obs["goal_current"][:] = self._goal
        obs["goal_next"][:] = self._goal
        obs["robot_position"][:] = self._pos
        obs["map_size"][:] = 10.0
        obs["sim_timestep"][:] = 0.1
        return obs

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        far = self.scenario_id == "toy_far"
        angle = self.np_random.uniform(0, 2 * np.pi)
        dist = self.np_random.uniform(3.0, 4.0) if far else self.np_random.uniform(1.5, 2.5)
        self._pos = np.zeros(2)
        self._goal = dist * np.array([np.cos(angle), np.sin(angle)])
        self._t = 0
        return self._obs(), {"scenario_id": self.scenario_id}

    def step(self, action):
        self._t += 1
        before = np.linalg.norm(self._goal - self._pos)
        self._pos = self._pos + 0.3 * np.clip(np.asarray(action, dtype=np.float64), -1, 1)
        after = np.linalg.norm(self._goal - self._pos)
        success = after < 0.5
        collision = bool(np.abs(self._pos).max() > 5.0)
        reward = float(before - after) + (1.0 if success else 0.0) - (1.0 if collision else 0.0)
        terminated = success or collision
        truncated = self._t >= self.max_steps and not terminated
        info = {"is_success": success, "collision": collision, "scenario_id": self.scenario_id}
        return self._obs(), reward, terminated, truncated, info


@dataclass
class ToySource:
    """EnvSource over ToyNavEnv: three scenarios; ``None`` samples among the training ones by seed."""

    max_steps: int = 40

    def scenario_ids(self) -> list[str]:
        return list(TOY_SCENARIOS)

    def make(self, *, scenario_id: str | None, exclude: Sequence[str], seed: int | None) -> ToyNavEnv:
        if scenario_id is None:
            choices = [s for s in TOY_SCENARIOS if s not in set(exclude)]
            scenario_id = choices[(seed or 0) % len(choices)]
        return ToyNavEnv(scenario_id, self.max_steps)


class CrashingSource(ToySource):
    """A ToySource whose envs raise after ``crash_after`` steps in total (a run dying mid-training)."""

    def __init__(self, crash_after: int, max_steps: int = 40):
        super().__init__(max_steps)
        self.crash_after = crash_after
        self.count = [0]

    def make(self, *, scenario_id: str | None, exclude: Sequence[str], seed: int | None) -> ToyNavEnv:
        env = super().make(scenario_id=scenario_id, exclude=exclude, seed=seed)
        count, limit, step = self.count, self.crash_after, env.step

        def crashing_step(action):
            count[0] += 1
            if count[0] > limit:
                raise RuntimeError("simulated crash")
            return step(action)

        env.step = crashing_step  # type: ignore[method-assign]
        return env
