"""Evaluation episodes of a DreamerV3 agent: used during training and by ``orch eval RUN``.

``orch eval`` loads the run's best (else final, else newest) checkpoint, plays N episodes greedily (or sampling with
``--stochastic``), and writes ``eval/<time>/trajectories.jsonl`` (one line per step) and ``summary.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from manifests import atomic_write_json, utc_now
from trainers.common.checkpoints import list_checkpoints
from trainers.common.metrics_stream import JsonlWriter
from trainers.dreamerv3.agent import DreamerAgent
from trainers.dreamerv3.checkpoints import load_agent_weights
from trainers.dreamerv3.config import DreamerConfig
from trainers.dreamerv3.envs import action_spec, env_from_settings, obs_shapes, to_env_action
from trainers.dreamerv3.outputs import summarize

__all__ = ["evaluate_run", "run_episodes"]


def run_episodes(
    agent: DreamerAgent,
    env_cfg: Mapping[str, Any],
    episodes: int,
    *,
    seed: int,
    device: torch.device,
    stochastic: bool = False,
    trajectories: JsonlWriter | None = None,
    max_steps: int = 100_000,
) -> list[dict[str, Any]]:
    """Play ``episodes`` full episodes with one env; returns one record per episode (return, length, seed)."""
    env = env_from_settings(env_cfg, seed)
    spec = agent.action
    gen = torch.Generator(device=device)
    gen.manual_seed(seed + 4242)
    records = []
    try:
        for ep in range(episodes):
            obs, _ = env.reset(seed=seed + ep)
            state = None
            first = True
            total, length = 0.0, 0
            terminated = False
            while length < max_steps:
                obs_t = {k: torch.as_tensor(v, device=device).unsqueeze(0) for k, v in obs.items()}
                is_first = torch.tensor([first], device=device)
                action, state = agent.act(obs_t, state, is_first, explore=stochastic, generator=gen)
                env_action = to_env_action(action.cpu().numpy(), spec)[0]
                obs, reward, terminated, truncated, _ = env.step(env_action)
                total += float(reward)
                length += 1
                first = False
                if trajectories is not None:
                    trajectories.write(
                        {
                            "episode": ep,
                            "t": length - 1,
                            "action": np.asarray(env_action).tolist(),
                            "reward": float(reward),
                        }
                    )
                if terminated or truncated:
                    break
            records.append(
                {
                    "episode": ep,
                    "seed": seed + ep,
                    "episode_return": total,
                    "length": length,
                    "terminated": bool(terminated),
                }
            )
    finally:
        env.close()
    return records


def _pick_checkpoint(run_dir: Path) -> Any:
    found = [c for c in list_checkpoints(run_dir) if c.kind != "replay"]
    for kind in ("best", "final"):
        chosen = [c for c in found if c.kind == kind]
        if chosen:
            return chosen[-1]
    if not found:
        raise FileNotFoundError(f"{run_dir} has no complete checkpoint; train first or pick another run")
    return found[-1]


def load_agent(run_dir: Path, device: torch.device | str = "cpu") -> tuple[DreamerAgent, dict[str, Any], Any]:
    """Rebuild the agent of a run from its resolved config and best/final checkpoint."""
    run_dir = Path(run_dir)
    resolved = json.loads((run_dir / "resolved.json").read_text())
    cfg = DreamerConfig.from_settings(resolved["settings"])
    ckpt = _pick_checkpoint(run_dir)
    state = torch.load(ckpt.path, map_location=device, weights_only=False)
    env = env_from_settings(cfg.env, 0)
    agent = DreamerAgent(obs_shapes(env.observation_space), action_spec(env.action_space), cfg.model).to(device)
    env.close()
    load_agent_weights(agent, state["agent"])
    agent.eval()
    return agent, resolved, ckpt


def evaluate_run(
    run_dir: str | Path, *, episodes: int = 10, stochastic: bool = False, seed: int = 100_000
) -> dict[str, Any]:
    """Evaluate a finished (or running) run; writes trajectories + summary under ``run_dir/eval/``."""
    run_dir = Path(run_dir)
    device = torch.device("cpu")
    agent, resolved, ckpt = load_agent(run_dir, device)
    out = run_dir / "eval" / utc_now().replace(":", "").replace("-", "").replace("+0000", "Z")
    out.mkdir(parents=True, exist_ok=True)
    with JsonlWriter(out / "trajectories.jsonl") as traj, JsonlWriter(out / "episodes.jsonl") as eps:
        records = run_episodes(
            agent,
            resolved["settings"]["env"],
            episodes,
            seed=seed,
            device=device,
            stochastic=stochastic,
            trajectories=traj,
        )
        for r in records:
            eps.write(r)
    summary = {
        "run_dir": str(run_dir),
        "checkpoint": str(ckpt.path),
        "checkpoint_kind": ckpt.kind,
        "checkpoint_step": ckpt.step,
        "episodes": episodes,
        "stochastic": stochastic,
        "episode_return": summarize([r["episode_return"] for r in records]),
        "episode_length": summarize([r["length"] for r in records]),
        "trajectories": str(out / "trajectories.jsonl"),
        "summary": str(out / "summary.json"),
    }
    atomic_write_json(out / "summary.json", summary)
    return summary
