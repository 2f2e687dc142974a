"""What a trainer is handed: the resolved configuration and the run directory it owns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["WANDB_OFFLINE_ON_NODE", "TrainJob"]

# Set by the job entry on a cluster's compute node: W&B must log offline there (``orch sync`` uploads later).
WANDB_OFFLINE_ON_NODE = "ORCH_WANDB_OFFLINE"


@dataclass(frozen=True)
class TrainJob:
    """One training run, picklable so submitit can ship it to a compute node.

    ``resolved`` is the content of ``resolved.json`` (see ``orchestrator.config.resolve``): ``trainer``, ``name``,
    ``seed``, ``deterministic``, ``settings`` (the trainer's knobs, defaults filled), ``observation_signature``,
    ``config_hash``. Trainers read their knobs from ``resolved["settings"]`` and never read YAML.
    """

    resolved: Mapping[str, Any]
    run_dir: Path
    resume: bool = False
    dry_run: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> Mapping[str, Any]:
        """The trainer's own knobs."""
        return self.resolved["settings"]

    @property
    def seed(self) -> int:
        """The seed of this run (one run per seed)."""
        return int(self.resolved["seed"])
