"""Environment construction for DreamerV3: Gymnasium ids or ``crowdnav``, as a synchronous vector env.

Observations become a dict of float32 arrays (a Box observation is called ``observation``), continuous actions are
rescaled to [-1, 1] (the actor's range) and discrete actions are one-hot on the agent's side.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from trainers.dreamerv3.agent import ActionSpec

__all__ = ["DictObservation", "action_spec", "env_from_settings", "make_vector_env", "obs_shapes", "to_env_action"]


class DictObservation(gym.ObservationWrapper):
    """Box -> {"observation": float32}; Dict -> {key: float32} (every key kept, sorted)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        space: gym.Space = env.observation_space
        if isinstance(space, gym.spaces.Dict):
            items = {k: space[k] for k in sorted(space.spaces)}
        elif isinstance(space, gym.spaces.Box):
            items = {"observation": space}
        else:
            raise ValueError(f"DreamerV3 needs Box or Dict observations, got {space}")
        self._keys = list(items)
        self.observation_space = gym.spaces.Dict(
            {k: gym.spaces.Box(-np.inf, np.inf, s.shape, np.float32) for k, s in items.items()}
        )
        self._is_dict = isinstance(space, gym.spaces.Dict)

    def observation(self, observation: Any) -> dict[str, np.ndarray]:
        if self._is_dict:
            return {k: np.asarray(observation[k], dtype=np.float32) for k in self._keys}
        return {"observation": np.asarray(observation, dtype=np.float32)}


def env_from_settings(env_cfg: Mapping[str, Any], seed: int | None = None) -> gym.Env:
    """One env from the ``env`` settings block: ``crowdnav`` through ``trainers.envs.make_env``, else ``gym.make``."""
    env_id = str(env_cfg.get("id", "CartPole-v1"))
    if env_id == "crowdnav":
        make_env = importlib.import_module("trainers.envs").make_env
        keys = env_cfg.get("flatten_keys") if env_cfg.get("flatten_observation", True) else None
        env = make_env(
            dict(env_cfg.get("config") or {}),
            scenario_config=env_cfg.get("scenario_config"),
            scenario_id=env_cfg.get("scenario_id"),
            seed=seed,
            backend=str(env_cfg.get("backend") or "embedded"),
            flatten_keys=keys,
            **dict(env_cfg.get("factory_kwargs") or {}),
        )
    else:
        env = gym.make(env_id)
    if isinstance(env.action_space, gym.spaces.Box):
        low, high = env.action_space.low, env.action_space.high
        if np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and env_cfg.get("normalize_actions", True):
            env = gym.wrappers.RescaleAction(env, np.float32(-1.0), np.float32(1.0))
        env = gym.wrappers.ClipAction(env)
    return DictObservation(env)


def make_vector_env(
    env_cfg: Mapping[str, Any], num_envs: int, seed: int, *, asynchronous: bool = False
) -> gym.vector.VectorEnv:
    """``num_envs`` copies stepped together (next-step autoreset: a finished env resets on the following step);
    ``asynchronous`` runs each in its own subprocess (worth it when the simulator, not the learner, is slow)."""
    cfg = dict(env_cfg)
    fns: list[Callable[[], gym.Env]] = [functools.partial(env_from_settings, cfg, seed + i) for i in range(num_envs)]
    if asynchronous:
        return gym.vector.AsyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP)
    return gym.vector.SyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP)


def obs_shapes(space: gym.Space) -> dict[str, tuple[int, ...]]:
    """{key: shape} of one env's (Dict) observation space."""
    if not isinstance(space, gym.spaces.Dict):
        raise ValueError(f"expected the Dict observation space of DictObservation, got {space}")
    return {k: tuple(int(d) for d in (s.shape or ())) for k, s in space.spaces.items()}


def action_spec(space: gym.Space) -> ActionSpec:
    if isinstance(space, gym.spaces.Discrete):
        return ActionSpec(discrete=True, n=int(space.n))
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return ActionSpec(discrete=False, n=int(space.shape[0]))
    raise ValueError(f"DreamerV3 supports Discrete or 1-D Box actions, got {space}")


def to_env_action(action: np.ndarray, spec: ActionSpec) -> np.ndarray:
    """Agent action (one-hot or [-1, 1] vector, leading env axis) -> what the vector env takes."""
    if spec.discrete:
        return action.argmax(-1).astype(np.int64)
    return np.clip(action, -1.0, 1.0).astype(np.float32)
