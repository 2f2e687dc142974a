"""Paths and the tiny PPO config shared by the study tests (imported as ``study_helpers``: pytest puts this folder
on sys.path)."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
PPO_SMOKE = REPO_ROOT / "configs" / "ppo_expert" / "grid_socnav_smoke.yaml"
DREAMER_SMOKE = REPO_ROOT / "configs" / "dreamerv3" / "drive_state_rays_smoke.yaml"
REFERENCE_STUDY = Path("configs/training/ppo_imitation/optuna_expert_ppo.yaml")


def write_tiny_ppo(path: Path) -> Path:
    """The PPO smoke config made tinier at ``path``: one env on the small open room, 128-step rollouts, one evaluation
    episode (a trial of 512 steps trains in seconds)."""
    tiny = {
        "base_config": str(PPO_SMOKE),
        "scenario_id": "easy_open_low",
        "num_envs": 1,
        "worker_mode": "dummy",
        "ppo_hyperparams": {"n_steps": 128, "batch_size": 64, "n_epochs": 2},
        "evaluation": {"evaluation_episodes": 1},
        "tracking": {"tensorboard": False},
    }
    path.write_text(yaml.safe_dump(tiny), encoding="utf-8")
    return path
