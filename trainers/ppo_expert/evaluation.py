"""Deterministic evaluation of a policy on the hold-out scenarios, and the per-episode metrics.

Each evaluation plays ``evaluation_episodes`` episodes on a separate environment (never the training envs), cycling
through the evaluation scenarios in order with a fixed seed per episode, so every evaluation step sees the same
episodes and steps compare. An episode record has the reference's fields (episode, eval_step, scenario_id, seed,
steps, metrics) plus ``split``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from trainers.ppo_expert.spec import EVAL_METRICS
from trainers.ppo_expert.stats import summarize_episodes

__all__ = [
    "EVAL_METRICS",
    "EpisodeAccumulator",
    "EvalResult",
    "Evaluator",
    "metric_means",
]

_SUCCESS_KEYS = ("is_success", "success", "reached_goal", "goal_reached")
_COLLISION_KEYS = ("collision", "is_collision", "collided")
_COMFORT_KEYS = ("comfort_violation", "personal_space_violation")


class Predictor(Protocol):
    def predict(self, observation: Any, deterministic: bool = False) -> Any: ...


def _flag(info: Mapping[str, Any], keys: Sequence[str]) -> bool | None:
    for key in keys:
        if key in info:
            return bool(info[key])
    return None


def _vec(obs: Any, info: Mapping[str, Any], key: str) -> np.ndarray | None:
    if key in info:
        return np.asarray(info[key], dtype=np.float64).reshape(-1)[:2]
    if isinstance(obs, Mapping) and key in obs:
        return np.asarray(obs[key], dtype=np.float64).reshape(-1)[:2]
    return None


@dataclass
class EpisodeAccumulator:
    """Collects one episode step by step and turns it into the six evaluation metrics."""

    steps: int = 0
    total_reward: float = 0.0
    collided: bool = False
    succeeded: bool = False
    comfort_steps: int = 0
    traveled: float = 0.0
    start: np.ndarray | None = None
    goal: np.ndarray | None = None
    last: np.ndarray | None = None
    last_info: dict[str, Any] = field(default_factory=dict)

    def begin(self, obs: Any, info: Mapping[str, Any]) -> None:
        self.start = _vec(obs, info, "robot_position")
        self.goal = _vec(obs, info, "goal_current")
        self.last = self.start

    def step(self, obs: Any, reward: float, info: Mapping[str, Any]) -> None:
        self.steps += 1
        self.total_reward += float(reward)
        self.collided = self.collided or bool(_flag(info, _COLLISION_KEYS))
        success = _flag(info, _SUCCESS_KEYS)
        if success is not None:
            self.succeeded = success
        if _flag(info, _COMFORT_KEYS):
            self.comfort_steps += 1
        position = _vec(obs, info, "robot_position")
        if position is not None and self.last is not None:
            self.traveled += float(np.linalg.norm(position - self.last))
        self.last = position
        self.last_info = dict(info)

    def metrics(self) -> dict[str, float]:
        """Per-episode values; rates are 0/1 so their mean over episodes is the rate."""
        efficiency = 0.0
        if self.start is not None and self.goal is not None and self.last is not None:
            # straight line / (path driven + what is left to the goal): 1 for a straight drive to the goal,
            # lower for detours and for stopping short, never above 1 (triangle inequality).
            direct = float(np.linalg.norm(self.goal - self.start))
            driven = self.traveled + float(np.linalg.norm(self.goal - self.last))
            efficiency = min(1.0, direct / driven) if driven > 1e-9 else 0.0
        steps = max(self.steps, 1)
        # The simulator's own episode figures win where it reports them (its shortest path knows the map).
        efficiency = float(self.last_info.get("path_efficiency", efficiency))
        comfort = float(self.last_info.get("comfort_exposure", self.comfort_steps / steps))
        return {
            "success_rate": 1.0 if self.succeeded and not self.collided else 0.0,
            "collision_rate": 1.0 if self.collided else 0.0,
            "path_efficiency": efficiency,
            "comfort_exposure": comfort,
            "eval_episode_return": self.total_reward,
            "eval_avg_step_reward": self.total_reward / steps,
        }


@dataclass
class EvalResult:
    """One evaluation step: its episode records, the mean of each metric, and mean/median/p95/CI95 summaries."""

    eval_step: int
    env_steps: int
    episodes: list[dict[str, Any]]
    means: dict[str, float]
    summary: dict[str, dict[str, Any]]
    wall_sec: float

    def relabel(self, eval_step: int) -> EvalResult:
        """The same evaluation recorded under another scheduled step (two steps inside one rollout)."""
        if eval_step == self.eval_step:
            return self
        episodes = [{**r, "eval_step": int(eval_step)} for r in self.episodes]
        return EvalResult(int(eval_step), self.env_steps, episodes, self.means, self.summary, self.wall_sec)

    def timeline_row(self) -> dict[str, Any]:
        return {"eval_step": self.eval_step, "env_steps": self.env_steps, **self.means, "eval_wall_sec": self.wall_sec}


def metric_means(episode_metrics: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Mean of every evaluation metric (NaN-free: an empty list gives 0.0)."""
    out: dict[str, float] = {}
    for name in EVAL_METRICS:
        values = [m[name] for m in episode_metrics if name in m and math.isfinite(m[name])]
        out[name] = float(np.mean(values)) if values else 0.0
    return out


class Evaluator:
    """Plays deterministic episodes with a policy on envs built by ``make_env(scenario_id)`` (one per scenario).

    ``scenario_ids`` are the hold-out scenarios; ``[None]`` means "the env's own scenario sampling" (no hold-outs).
    Episode ``i`` uses scenario ``scenario_ids[i % n]`` and seed ``seed + i``.
    """

    def __init__(
        self,
        make_env: Callable[[str | None], Any],
        scenario_ids: Sequence[str | None],
        *,
        episodes: int,
        seed: int,
        max_episode_steps: int | None = None,
    ):
        if episodes < 1:
            raise ValueError(f"evaluation_episodes must be >= 1, got {episodes}")
        self._make_env = make_env
        self.scenario_ids = list(scenario_ids) or [None]
        self.episodes = int(episodes)
        self.seed = int(seed)
        self.max_episode_steps = max_episode_steps
        self._envs: dict[str | None, Any] = {}

    def _env(self, scenario_id: str | None) -> Any:
        if scenario_id not in self._envs:
            self._envs[scenario_id] = self._make_env(scenario_id)
        return self._envs[scenario_id]

    def run_episode(self, policy: Predictor, index: int) -> tuple[str | None, int, EpisodeAccumulator]:
        scenario_id = self.scenario_ids[index % len(self.scenario_ids)]
        env = self._env(scenario_id)
        seed = self.seed + index
        obs, info = env.reset(seed=seed)
        acc = EpisodeAccumulator()
        acc.begin(obs, info)
        done = False
        while not done:
            action, _ = policy.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, info = env.step(action)
            acc.step(obs, float(reward), info)
            done = bool(terminated or truncated)
            if self.max_episode_steps and acc.steps >= self.max_episode_steps:
                done = True
        scenario = info.get("scenario_id", scenario_id) if isinstance(info, Mapping) else scenario_id
        return (str(scenario) if scenario is not None else None), seed, acc

    def evaluate(
        self, policy: Predictor, *, eval_step: int, env_steps: int, episodes: int | None = None, split: str = "eval"
    ) -> EvalResult:
        """Play the episodes and return records + summaries (the caller writes them)."""
        import time

        start = time.perf_counter()
        records: list[dict[str, Any]] = []
        per_episode: list[dict[str, float]] = []
        for index in range(episodes or self.episodes):
            scenario, seed, acc = self.run_episode(policy, index)
            metrics = acc.metrics()
            per_episode.append(metrics)
            records.append(
                {
                    "episode": index,
                    "eval_step": int(eval_step),
                    "env_steps": int(env_steps),
                    "scenario_id": scenario,
                    "seed": seed,
                    "steps": acc.steps,
                    "split": split,
                    "metrics": metrics,
                }
            )
        return EvalResult(
            eval_step=int(eval_step),
            env_steps=int(env_steps),
            episodes=records,
            means=metric_means(per_episode),
            summary=summarize_episodes(per_episode, seed=self.seed),
            wall_sec=time.perf_counter() - start,
        )

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs.clear()
