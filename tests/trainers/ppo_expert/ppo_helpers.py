"""Helpers for the PPO trainer tests: a resolved document for the toy env, and reading a run directory."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ppo_toy_env import TOY_OVERRIDES, toy_signature

from trainers.ppo_expert import spec


def toy_resolved(seed: int = 3, **overrides: Any) -> dict[str, Any]:
    """A resolved.json document as orchestrator.config would produce it, for the toy env."""
    raw: dict[str, Any] = {
        "policy_id": "toy_policy",
        "scenario_config": None,
        "total_timesteps": 512,
        "num_envs": 2,
        "worker_mode": "dummy",
        "device": "cpu",
        "feature_extractor": "grid_socnav",
        "feature_extractor_kwargs": {"grid_channels": [4], "grid_kernel_sizes": [3], "socnav_hidden_dims": [16]},
        "policy_net_arch": [16],
        "ppo_hyperparams": {"n_steps": 64, "batch_size": 64, "n_epochs": 1, "learning_rate": 3e-4},
        "env_overrides": copy.deepcopy(TOY_OVERRIDES),
        "evaluation": {
            "evaluation_episodes": 2,
            "hold_out_scenarios": ["toy_holdout"],
            "step_schedule": [{"every_steps": 200}],
        },
        "tracking": {"tensorboard": True, "wandb": {"enabled": True, "mode": "offline", "project": "orch-tests"}},
    }
    for key, value in overrides.items():
        raw[key] = value
    settings = spec.resolve(raw, cpus=2)
    return {
        "schema_version": 1,
        "trainer": "ppo_expert",
        "name": "toy",
        "source": {"path": "/dev/null", "detected_as": "test"},
        "seeds": [seed],
        "seed": seed,
        "deterministic": False,
        "settings": settings,
        "observation_signature": toy_signature(),
        "config_hash": "0" * 64,
        "warnings": [],
        "not_applicable": [],
    }


def run_dir_of(root: Path, name: str = "20260101T000000Z-toy-abc123-s3") -> Path:
    path = root / "runs" / name
    path.mkdir(parents=True)
    return path
