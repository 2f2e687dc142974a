"""The working parts of a DreamerV3 run, built together: envs, agent, learner, replay and collector.

:func:`build_parts` returns them complete; the trainer (``train.py``), the benchmarks and the probes build their
runs with it, so a run, a benchmark and a probe are made of the same parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from trainers.common.signals import workers_ignore_stop_signals
from trainers.dreamerv3.agent import ActionSpec, DreamerAgent
from trainers.dreamerv3.collector import Collector
from trainers.dreamerv3.config import DreamerConfig
from trainers.dreamerv3.envs import action_spec, make_vector_env, obs_shapes
from trainers.dreamerv3.learner import Learner
from trainers.dreamerv3.replay import SequenceReplay

__all__ = ["RunParts", "build_parts", "compile_step_cells", "pick_device"]


@dataclass
class RunParts:
    """Everything a run steps and trains. ``envs`` is replaced when a resume restores pickled envs."""

    envs: Any
    shapes: dict[str, tuple[int, ...]]
    spec: ActionSpec
    agent: DreamerAgent
    learner: Learner
    replay: SequenceReplay
    collector: Collector

    @property
    def env_signature(self) -> dict[str, dict[str, Any]]:
        """The observation signature of the env actually built (for the policy manifest)."""
        return {k: {"shape": list(s), "dtype": "float32"} for k, s in sorted(self.shapes.items())}

    def close(self) -> None:
        self.envs.close()


def pick_device(name: str) -> torch.device:
    """``device`` setting -> torch device: ``auto`` takes CUDA when torch sees a GPU; ``cuda`` requires one."""
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("device: cuda requested but torch sees no GPU; use device: auto or cpu")
        return torch.device("cuda")
    return torch.device("cpu")


def build_parts(cfg: DreamerConfig, seed: int, device: torch.device) -> RunParts:
    """Envs (seeded), agent on ``device`` (compiled step cells with ``compile``), learner, replay (on ``device``
    with ``replay_on_device``, else on the host) and collector (a fixed action in ``standing_still`` mode)."""
    with workers_ignore_stop_signals():  # async env workers must outlive the job's stop signal
        envs = make_vector_env(cfg.env, cfg.num_envs, seed, asynchronous=cfg.vector_env == "async")
    try:
        shapes = obs_shapes(envs.single_observation_space)
        spec = action_spec(envs.single_action_space)
        agent = DreamerAgent(shapes, spec, cfg.model).to(device)
        if cfg.compile:
            compile_step_cells(agent)
        learner = Learner(agent, cfg, device=device, seed=seed)
        replay = SequenceReplay(
            shapes,
            spec.n,
            capacity=cfg.replay_capacity,
            num_envs=cfg.num_envs,
            device=device if cfg.replay_on_device else torch.device("cpu"),
            seed=seed,
        )
        collector = Collector(envs, spec, device, seed)
        if cfg.mode == "standing_still":
            collector.fixed_action = _fixed_action(spec, cfg.standing_still_action)
    except BaseException:
        envs.close()
        raise
    return RunParts(envs, shapes, spec, agent, learner, replay, collector)


def _fixed_action(spec: ActionSpec, value: float) -> np.ndarray:
    if spec.discrete:
        return np.eye(spec.n, dtype=np.float32)[0]
    return np.full(spec.n, value, np.float32)


def compile_step_cells(agent: DreamerAgent) -> None:
    """``torch.compile`` the cells called once per time step (the GRU, the imagination step): many small ops each,
    which the compiler fuses. In place (``nn.Module.compile``, a compiled method): parameter names do not change, so
    checkpoints load with and without ``compile``."""
    rssm = agent.rssm
    rssm.gru.compile()
    rssm.img_step_index = torch.compile(rssm.img_step_index)  # type: ignore[method-assign]
