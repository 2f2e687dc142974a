"""Helpers of the grouped-runs tests (``runs_per_job``): a tiny deterministic DreamerV3 CartPole config, its runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.trainers.dreamerv3.dreamer_testing import tiny_settings


def tiny_dreamer_config(folder: Path, name: str, seeds: list[int], **changes: Any) -> Path:
    """A config file of the tiny CartPole DreamerV3 run the trainer's own tests use, deterministic, W&B offline."""
    path = folder / f"{name}.yaml"
    document = {"trainer": "dreamerv3", "name": name, "seeds": seeds, "deterministic": True, "device": "cpu"}
    document.update(tiny_settings(**changes))
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def planned_run_dirs(config: Path, root: Path) -> list[Path]:
    """One run directory per seed of ``config`` under ``root`` (pending, as ``orch submit`` leaves them)."""
    from orchestrator.launch.rundir import Provenance, create_run_dir
    from orchestrator.launch.submit import plan_runs

    provenance = Provenance.collect()
    specs, _ = plan_runs([config], root=root, provenance=provenance)
    for spec in specs:
        create_run_dir(spec, provenance, scheduler={"backend": "inprocess"})
    return [spec.run_dir for spec in specs]
