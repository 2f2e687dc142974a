"""Run directories written by hand, shaped like the trainers' real output (DESIGN.md run directory).

The numbers follow the curves real runs show: Dreamer's reconstruction loss falling fast then flattening, KL terms
pinned near the free-bits floor, returns rising with noise; PPO evaluations every N steps with per-episode success and
collision flags. Seeds change the noise, ``scale`` arguments inject a regression.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np


def _jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")


def write_run(
    root: Path,
    name: str,
    *,
    trainer: str,
    seed: int,
    config_hash: str,
    metrics: list[dict[str, Any]],
    episodes: list[dict[str, Any]] | None = None,
    mode: str | None = None,
    status: str = "completed",
    error: str | None = None,
) -> Path:
    """One run directory ``root/runs/<run_id>`` with run.json, resolved.json, metrics.jsonl (and episodes.jsonl)."""
    run_id = f"20261122T030000Z-{name}-{config_hash[:7]}-s{seed}"
    run_dir = root / "runs" / run_id
    run_dir.mkdir(parents=True)
    manifest = {
        "run_id": run_id,
        "trainer": trainer,
        "name": name,
        "status": status,
        "seed": seed,
        "config_hash": config_hash,
        "code": {"git_commit": "8205e59" + "0" * 33, "git_dirty": False, "diff_file": None},
        "error": error,
    }
    (run_dir / "run.json").write_text(json.dumps(manifest), encoding="utf-8")
    settings: dict[str, Any] = {"mode": mode} if mode else {}
    resolved = {"schema_version": 1, "trainer": trainer, "name": name, "seed": seed, "settings": settings}
    (run_dir / "resolved.json").write_text(json.dumps({**resolved, "config_hash": config_hash}), encoding="utf-8")
    _jsonl(run_dir / "metrics.jsonl", metrics)
    if episodes is not None:
        _jsonl(run_dir / "episodes.jsonl", episodes)
    return run_dir


def standing_still_run(
    root: Path, seed: int, *, name: str = "ss", config_hash: str = "c0ffee" * 4, **scales: Any
) -> Path:
    """One run of a DreamerV3 standing-still config, its metrics from :func:`standing_still_metrics` (``scales``)."""
    metrics = standing_still_metrics(seed, **scales)
    return write_run(
        root, name, trainer="dreamerv3", mode="standing_still", seed=seed, config_hash=config_hash, metrics=metrics
    )


def full_run(root: Path, seed: int, *, name: str = "full", config_hash: str = "beef" * 6, **scales: Any) -> Path:
    """One run of a DreamerV3 full config, its metrics from :func:`full_metrics` (``scales``)."""
    metrics = full_metrics(seed, **scales)
    return write_run(root, name, trainer="dreamerv3", mode="full", seed=seed, config_hash=config_hash, metrics=metrics)


def standing_still_metrics(
    seed: int, *, updates: int = 40, obs_scale: float = 1.0, kl_scale: float = 1.0, nan_at: int | None = None
) -> list[dict[str, Any]]:
    """Dreamer world-model-only lines: obs_nll falls from ~300 to ~90, KL sits near free bits, entropies converge."""
    rng = np.random.default_rng(seed)
    out = []
    for u in range(1, updates + 1):
        decay = math.exp(-u / 10)
        noise = 1 + 0.02 * rng.standard_normal()
        kl = (1.0 + 2.0 * decay) * kl_scale * (1 + 0.02 * rng.standard_normal())
        record = {
            "env_steps": 1000 + 16 * u,
            "opt_steps": u,
            "sps": 120.0 + rng.standard_normal(),
            "obs_nll": (90 + 210 * decay) * obs_scale * noise,
            "reward_nll": (0.5 + 4.5 * decay) * noise,
            "continue_nll": 0.05 + 0.6 * decay,
            "kl_dyn": kl,
            "kl_rep": kl,
            "kl_total": 0.6 * kl,
            "prior_entropy": 40 + 60 * decay,
            "posterior_entropy": 38 + 55 * decay,
            "loss_model": 95 + 220 * decay,
            "time": 1_763_780_000.0 + 2.5 * u,
        }
        if nan_at is not None and u >= nan_at:
            record["loss_model"] = None
            record["obs_nll"] = None
        out.append(record)
    return out


def full_metrics(seed: int, *, lines: int = 60, return_scale: float = 1.0) -> list[dict[str, Any]]:
    """Dreamer full-mode lines every 500 env steps: losses plus an episode return rising from ~20 to ~400."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(1, lines + 1):
        env_steps = 500 * i
        progress = 1 - math.exp(-i / 20)
        out.append(
            {
                "env_steps": env_steps,
                "opt_steps": i * 8,
                "loss_model": 50 * (1 - progress) + 5,
                "loss_actor": 0.1 * rng.standard_normal(),
                "loss_critic": 1.0 + 0.1 * rng.standard_normal(),
                "obs_nll": 20 * (1 - progress) + 2,
                "kl_dyn": 1.2,
                "kl_rep": 1.2,
                "episode_return": (20 + 380 * progress) * return_scale * (1 + 0.05 * rng.standard_normal()),
                "episode_length": 20 + 380 * progress,
                "time": 1_763_780_000.0 + 4.0 * i,
            }
        )
    return out


def ppo_run_records(
    seed: int, *, evals: int = 8, every: int = 4096, success_scale: float = 1.0, collision_add: float = 0.0
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """PPO rollout lines (as trainers/ppo_expert/callbacks.py writes them) and 10 evaluation episodes every
    ``every`` steps (as trainers/ppo_expert/evaluation.py writes them)."""
    rng = np.random.default_rng(seed)
    metrics = []
    for t in range(1, evals * 4 + 1):
        metrics.append(
            {
                "iteration": t,
                "step": t * every // 4,
                "env_steps": t * every // 4,
                "total_steps": evals * every,
                "fps": 900 + rng.standard_normal() * 10,
                "wall_time": 1.2 * t,
                "loss": 0.3 / t,
                "policy_gradient_loss": -0.01,
                "value_loss": 0.5 / t,
                "entropy_loss": -1.2,
                "entropy": 1.2,
                "approx_kl": 0.01,
                "ep_return_mean": -5 + 10 * (1 - math.exp(-t / 10)),
                "ep_length_mean": 200.0,
                "time": 1_763_780_000.0 + t,
            }
        )
    episodes = []
    for e in range(1, evals + 1):
        p_success = min(1.0, (0.2 + 0.7 * (1 - math.exp(-e / 3))) * success_scale)
        p_collision = min(1.0, 0.3 * math.exp(-e / 3) + collision_add)
        for k in range(10):
            success = float(rng.random() < p_success)
            collision = float(rng.random() < p_collision) if not success else 0.0
            episodes.append(
                {
                    "episode": k,
                    "eval_step": e * every,
                    "env_steps": e * every + 16,
                    "scenario_id": f"holdout_{k % 2}",
                    "seed": 1000 + k,
                    "steps": 200,
                    "split": "eval",
                    "metrics": {
                        "success_rate": success,
                        "collision_rate": collision,
                        "path_efficiency": 0.8,
                        "eval_episode_return": 10 * success - 5 * collision,
                    },
                }
            )
    return metrics, episodes
