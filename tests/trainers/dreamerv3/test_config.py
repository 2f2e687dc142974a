"""Settings -> DreamerConfig: paper sizes, overrides, and the users' Robot SF RLlib file as it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainers.dreamerv3 import spec
from trainers.dreamerv3.agent import ActionSpec, DreamerAgent
from trainers.dreamerv3.config import DreamerConfig


@pytest.mark.parametrize(
    ("size", "deter", "units", "layers", "depth"),
    [
        ("XS", 256, 256, 1, 24),
        ("S", 512, 512, 2, 32),
        ("M", 1024, 640, 3, 48),
        ("L", 2048, 768, 4, 64),
        ("XL", 4096, 1024, 5, 96),
    ],
    ids=["XS", "S", "M", "L", "XL"],
)
def test_paper_sizes(size: str, deter: int, units: int, layers: int, depth: int) -> None:
    cfg = DreamerConfig.from_settings(spec.resolve({"model_size": size}, cpus=2))
    m = cfg.model
    assert (m.deter, m.units, m.layers, m.cnn_depth, m.stoch, m.classes) == (deter, units, layers, depth, 32, 32)


def test_overrides_and_errors() -> None:
    cfg = DreamerConfig.from_settings({"model_size": "S", "model": {"hidden": 256, "gru_blocks": 8, "units": 256}})
    assert (cfg.model.hidden_units, cfg.model.gru_blocks, cfg.model.deter) == (256, 8, 512)
    with pytest.raises(ValueError, match="unknown"):
        DreamerConfig.from_settings({"model": {"widht": 3}})
    with pytest.raises(ValueError, match="replay_capacity"):
        DreamerConfig.from_settings({"replay_capacity": 10, "batch_length": 64})


def test_robot_sf_rllib_config_builds_an_agent(reference_dir: Path) -> None:
    from orchestrator.config import resolve_config

    resolved = resolve_config(reference_dir / "configs/training/rllib_dreamerv3/drive_state_rays.yaml")
    cfg = DreamerConfig.from_settings(resolved.settings)
    assert (cfg.model_size, cfg.train_ratio, cfg.batch_size, cfg.batch_length, cfg.horizon) == ("XS", 64, 16, 32, 10)
    assert (cfg.world_model_lr, cfg.actor_lr, cfg.critic_lr) == (1e-4, 3e-5, 3e-5)
    shapes = {k: tuple(v["shape"]) for k, v in resolved.observation_signature.items()}
    assert shapes == {"observation": (831,)}
    agent = DreamerAgent(shapes, ActionSpec(False, 2), cfg.model)
    assert sum(p.numel() for p in agent.parameters()) > 1_000_000
