"""Paths shared by the study tests (imported as ``study_helpers``: pytest puts this folder on sys.path)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
PPO_SMOKE = REPO_ROOT / "configs" / "ppo_expert" / "grid_socnav_smoke.yaml"
DREAMER_SMOKE = REPO_ROOT / "configs" / "dreamerv3" / "drive_state_rays_smoke.yaml"
REFERENCE_STUDY = Path("configs/training/ppo_imitation/optuna_expert_ppo.yaml")
