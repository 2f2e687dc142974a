"""Helpers shared by the DreamerV3 tests: tiny settings and a resolved document."""

from __future__ import annotations

from typing import Any


def tiny_settings(**changes: Any) -> dict[str, Any]:
    """A CartPole run of ~100 updates on a model of a few thousand parameters."""
    settings: dict[str, Any] = {
        "mode": "full",
        "env": {"id": "CartPole-v1"},
        "model_size": "XS",
        "model": {"deter": 32, "units": 16, "stoch": 4, "classes": 4, "hidden": 16},
        "batch_size": 2,
        "batch_length": 8,
        "horizon": 5,
        "num_envs": 2,
        "replay_capacity": 1000,
        "train_ratio": 16,
        "total_env_steps": 120,
        "prefill": 40,
        "log_every": 40,
        "checkpoint_every": 60,
        "eval_every": 60,
        "eval_episodes": 1,
        "tracking": {"tensorboard": True, "wandb": {"enabled": True, "mode": "offline", "project": "orch-test"}},
    }
    settings.update(changes)
    return settings


def resolved_doc(settings: dict[str, Any], seed: int = 3, name: str = "dv3-test") -> dict[str, Any]:
    return {
        "schema_version": 1,
        "trainer": "dreamerv3",
        "name": name,
        "seed": seed,
        "seeds": [seed],
        "deterministic": True,
        "settings": settings,
        "observation_signature": {"observation": {"shape": [4], "dtype": "float32"}},
        "config_hash": "0" * 64,
    }


def metric_lines(path: Any) -> list[dict[str, Any]]:
    """metrics.jsonl / episodes.jsonl lines without the wall-clock fields (those differ between identical runs)."""
    import json

    skip = {"sps", "train_sps", "time", "wall_s"}
    return [{k: v for k, v in json.loads(line).items() if k not in skip} for line in open(path, encoding="utf-8")]


class PoisonedCartPole:
    """CartPole whose observations turn NaN after ``after`` steps (a broken sensor), for the fail-fast test."""

    def __new__(cls, after: int = 30) -> Any:
        import gymnasium as gym
        import numpy as np

        class _Poison(gym.Wrapper):
            def __init__(self) -> None:
                super().__init__(gym.make("CartPole-v1"))
                self.count = 0

            def step(self, action: Any) -> Any:
                obs, reward, term, trunc, info = self.env.step(action)
                self.count += 1
                if self.count > after:
                    obs = np.full_like(obs, np.nan)
                return obs, reward, term, trunc, info

        return _Poison()
