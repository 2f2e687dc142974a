"""Steps the vector env with the agent (or uniform random actions), writes each step to replay, tracks episodes.

Replay record of step t: (obs_t, the action that led to obs_t, reward_t, is_first_t, is_terminal_t). With next-step
autoreset, the step after an episode's last one returns the reset observation; it is stored with ``is_first`` and a
zero action, exactly like the first observation after ``reset``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from trainers.dreamerv3.agent import ActionSpec, DreamerAgent
from trainers.dreamerv3.envs import to_env_action
from trainers.dreamerv3.replay import SequenceReplay

__all__ = ["Collector", "EpisodeResult"]


@dataclass(frozen=True)
class EpisodeResult:
    env_index: int
    episode_return: float
    length: int
    terminated: bool


@dataclass
class Collector:
    """The state of collection: current observations, per-env episode counters and the agent's recurrent state."""

    envs: Any
    spec: ActionSpec
    device: torch.device
    seed: int
    obs: dict[str, np.ndarray] = field(default_factory=dict)
    is_first: np.ndarray | None = None
    returns: np.ndarray | None = None
    lengths: np.ndarray | None = None
    agent_state: dict[str, torch.Tensor] | None = None
    generator: torch.Generator = field(init=False)  # uniform random actions, drawn on the host
    policy_generator: torch.Generator = field(init=False)  # the agent's samples, drawn on ``device``
    fixed_action: np.ndarray | None = None  # standing_still: this action, always
    pending_reset: np.ndarray | None = None  # envs whose episode ended: the next step returns their reset obs

    def __post_init__(self) -> None:
        # Each generator lives where it samples: ``torch.rand(device=cuda, generator=<cpu generator>)`` fails.
        self.generator = torch.Generator()
        self.policy_generator = torch.Generator(device=self.device)

    def reset(self, replay: SequenceReplay | None) -> None:
        """Reset every env (seeded), store the first observations."""
        n = self.envs.num_envs
        obs, _ = self.envs.reset(seed=[self.seed + i for i in range(n)])
        self.obs = dict(obs)
        self.is_first = np.ones(n, bool)
        self.returns = np.zeros(n)
        self.lengths = np.zeros(n, np.int64)
        self.pending_reset = None
        self.agent_state = None
        self.generator.manual_seed(self.seed + 31337)
        self.policy_generator.manual_seed(self.seed + 31337)
        if replay is not None:
            replay.add(self.obs, np.zeros((n, self.spec.n), np.float32), np.zeros(n), self.is_first, np.zeros(n, bool))

    def _random_action(self, n: int) -> np.ndarray:
        if self.spec.discrete:
            idx = torch.randint(0, self.spec.n, (n,), generator=self.generator)
            return torch.nn.functional.one_hot(idx, self.spec.n).float().numpy()
        return (torch.rand(n, self.spec.n, generator=self.generator) * 2 - 1).numpy()

    def choose(self, agent: DreamerAgent | None, *, explore: bool = True) -> np.ndarray:
        """Actions for the current observations: fixed, random (agent None) or from the agent."""
        assert self.is_first is not None
        n = len(self.is_first)
        if self.fixed_action is not None:
            return np.repeat(self.fixed_action[None], n, 0)
        if agent is None:
            return self._random_action(n)
        obs_t = {k: torch.as_tensor(v, device=self.device) for k, v in self.obs.items()}
        first = torch.as_tensor(self.is_first, device=self.device)
        action, self.agent_state = agent.act(
            obs_t, self.agent_state, first, explore=explore, generator=self.policy_generator
        )
        return action.float().cpu().numpy()

    def step(self, action: np.ndarray, replay: SequenceReplay | None) -> list[EpisodeResult]:
        """Step every env once with ``action`` (agent form); returns the episodes that ended on this step."""
        return self.record(action, self.envs.step(to_env_action(action, self.spec)), replay)

    def env_action(self, action: np.ndarray) -> np.ndarray:
        """What the vector env takes for ``action`` (to step it elsewhere, then :meth:`record` the result)."""
        return to_env_action(action, self.spec)

    def record(self, action: np.ndarray, result: tuple[Any, ...], replay: SequenceReplay | None) -> list[EpisodeResult]:
        """Take in the vector env's ``step`` ``result`` for ``action``: replay, episode counters, ended episodes."""
        assert self.is_first is not None and self.returns is not None and self.lengths is not None
        reset_now = self.pending_reset if self.pending_reset is not None else np.zeros(len(action), bool)
        obs, reward, term, trunc, _ = result
        reward = np.where(reset_now, 0.0, reward).astype(np.float32)
        stored_action = np.where(reset_now[:, None], 0.0, action).astype(np.float32)
        term = np.asarray(term, bool) & ~reset_now
        trunc = np.asarray(trunc, bool) & ~reset_now
        self.obs = dict(obs)
        if replay is not None:
            replay.add(self.obs, stored_action, reward, reset_now, term)
        self.returns = np.where(reset_now, 0.0, self.returns + reward)
        self.lengths = np.where(reset_now, 0, self.lengths + 1)
        done = term | trunc
        ended = [
            EpisodeResult(int(i), float(self.returns[i]), int(self.lengths[i]), bool(term[i]))
            for i in np.flatnonzero(done)
        ]
        self.pending_reset = done
        self.is_first = reset_now
        return ended

    def state_dict(self) -> dict[str, Any]:
        return {
            "obs": {k: v.copy() for k, v in self.obs.items()},
            "is_first": None if self.is_first is None else self.is_first.copy(),
            "returns": self.returns,
            "lengths": self.lengths,
            "pending_reset": self.pending_reset,
            "agent_state": None if self.agent_state is None else {k: v.cpu() for k, v in self.agent_state.items()},
            "generator": self.generator.get_state(),
            "policy_generator": self.policy_generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.obs = state["obs"]
        self.is_first = state["is_first"]
        self.returns, self.lengths = state["returns"], state["lengths"]
        self.pending_reset = state.get("pending_reset")
        agent_state = state.get("agent_state")
        self.agent_state = None if agent_state is None else {k: v.to(self.device) for k, v in agent_state.items()}
        self.generator.set_state(state["generator"])
        if "policy_generator" in state:
            self.policy_generator.set_state(state["policy_generator"])
