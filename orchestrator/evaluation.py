"""``orch eval`` and ``orch bench``: light dispatch to a trainer's evaluation and benchmark code.

This module imports nothing heavy: the trainer's functions are named as ``"module:function"`` strings and imported
only when a command runs (torch loads then, never for ``orch validate``/``status``/``archive``).
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

from orchestrator.errors import LaunchError, StatusError
from orchestrator.runref import resolve_run

__all__ = ["BENCHMARKS", "EVALUATORS", "bench_trainer", "evaluate_run"]

EVALUATORS: dict[str, str] = {"dreamerv3": "trainers.dreamerv3.evaluate:evaluate_run"}
BENCHMARKS: dict[str, str] = {"dreamerv3": "trainers.dreamerv3.bench:cli_benchmark"}
SIZES = ("XS", "S", "M", "L", "XL")


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def evaluate_run(root: Path, ref: str, *, episodes: int = 10, stochastic: bool = False) -> dict[str, Any]:
    """Evaluate run ``ref`` (id, prefix or directory): episodes played, trajectories and summary written."""
    if episodes < 1:
        raise LaunchError(f"--episodes must be >= 1, got {episodes}")
    run_dir = resolve_run(root, ref)
    resolved_path = run_dir / "resolved.json"
    if not resolved_path.is_file():
        raise StatusError(f"{run_dir} has no resolved.json; only runs started by orch can be evaluated")
    trainer = str(json.loads(resolved_path.read_text(encoding="utf-8")).get("trainer"))
    if trainer not in EVALUATORS:
        raise StatusError(f"orch eval supports {', '.join(EVALUATORS)} runs; {run_dir.name} is a {trainer} run")
    try:
        return _load(EVALUATORS[trainer])(run_dir, episodes=episodes, stochastic=stochastic)
    except FileNotFoundError as exc:
        raise StatusError(str(exc)) from None


def bench_trainer(trainer: str, *, size: str | None = None, updates: int = 3, threads: int = 2) -> dict[str, Any]:
    """Run a trainer's speed benchmark and return its JSON result."""
    if trainer not in BENCHMARKS:
        raise LaunchError(f"no benchmark for trainer {trainer!r}; available: {', '.join(BENCHMARKS)}")
    if size is not None and size.upper() not in SIZES:
        raise LaunchError(f"--size must be one of {', '.join(SIZES)}, got {size!r}")
    if updates < 1:
        raise LaunchError(f"--updates must be >= 1, got {updates}")
    if threads < 1:
        raise LaunchError(f"--threads must be >= 1, got {threads}")
    # Sleeping (not spinning) OpenMP waits: effective when torch is not loaded yet, as in a fresh `orch bench`.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return _load(BENCHMARKS[trainer])(size=size, updates=updates, threads=threads)
