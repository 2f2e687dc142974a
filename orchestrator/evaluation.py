"""``orch eval`` and ``orch bench``: light dispatch to a trainer's evaluation and benchmark parts.

This module imports nothing heavy: the parts are named in ``trainers.registry`` (``evaluate``, ``bench``) and
imported only when a command runs (torch loads then, never for ``orch validate``/``status``/``archive``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from orchestrator.errors import LaunchError, StatusError
from orchestrator.extras import require_extra
from orchestrator.runref import resolve_run
from trainers import registry

__all__ = ["bench_trainer", "evaluate_run"]


def evaluate_run(root: Path, ref: str, *, episodes: int = 10, stochastic: bool = False) -> dict[str, Any]:
    """Evaluate run ``ref`` (id, prefix or directory): episodes played, trajectories and summary written."""
    if episodes < 1:
        raise LaunchError(f"--episodes must be >= 1, got {episodes}")
    require_extra("train", "orch eval")
    run_dir = resolve_run(root, ref)
    resolved_path = run_dir / "resolved.json"
    if not resolved_path.is_file():
        raise StatusError(f"{run_dir} has no resolved.json; only runs started by orch can be evaluated")
    trainer = str(json.loads(resolved_path.read_text(encoding="utf-8")).get("trainer"))
    evaluators = registry.trainers_with("evaluate")
    if trainer not in evaluators:
        raise StatusError(f"orch eval supports {', '.join(evaluators)} runs; {run_dir.name} is a {trainer} run")
    try:
        return registry.load_part(trainer, "evaluate")(run_dir, episodes=episodes, stochastic=stochastic)
    except FileNotFoundError as exc:
        raise StatusError(str(exc)) from None


def bench_trainer(trainer: str, *, size: str | None = None, updates: int = 3, threads: int = 2) -> dict[str, Any]:
    """Run a trainer's speed benchmark and return its JSON result."""
    benchmarks = registry.trainers_with("bench")
    if trainer not in benchmarks:
        raise LaunchError(f"no benchmark for trainer {trainer!r}; available: {', '.join(benchmarks)}")
    sizes = tuple(getattr(registry.load_spec(trainer), "MODEL_SIZES", ()))
    if size is not None and size.upper() not in sizes:
        raise LaunchError(f"--size must be one of {', '.join(sizes)}, got {size!r}")
    if updates < 1:
        raise LaunchError(f"--updates must be >= 1, got {updates}")
    if threads < 1:
        raise LaunchError(f"--threads must be >= 1, got {threads}")
    require_extra("train", "orch bench")
    # Sleeping (not spinning) OpenMP waits: effective when torch is not loaded yet, as in a fresh `orch bench`.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return registry.load_part(trainer, "bench")(size=size, updates=updates, threads=threads)
