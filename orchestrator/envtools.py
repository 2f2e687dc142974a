"""Domain side of ``orch env check`` and ``orch env preview``: errors become :class:`EnvError`, results are data.

Light at import time: the simulator is reached through ``trainers.envs.spec.load_tool`` inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trainers.envs.spec as env_spec
from orchestrator.errors import EnvError
from orchestrator.extras import require_extra

__all__ = ["check_scenarios", "preview"]


def _known_errors() -> tuple[type[BaseException], ...]:
    return (ValueError, FileNotFoundError, ImportError)  # ScenarioError, MapError: ValueErrors; RobotSFNotInstalled


def _check_backend(backend: str) -> None:
    problem = env_spec.backend_unavailable(backend)
    if problem:
        raise EnvError(f"--backend {backend}: {problem}")


def check_scenarios(path: Path, *, steps: int, contract: str, backend: str = "embedded") -> list[Any]:
    """Run every scenario of ``path``; a matrix that cannot be read at all is an :class:`EnvError`."""
    if contract not in env_spec.CONTRACTS:
        raise EnvError(f"--contract {contract!r} is not one of {', '.join(env_spec.CONTRACTS)}")
    if steps < 1:
        raise EnvError("--steps must be at least 1")
    require_extra("train", "orch env check")
    _check_backend(backend)
    try:
        return env_spec.load_tool("check")(path, steps=steps, contract=contract, backend=backend)
    except _known_errors() as exc:
        raise EnvError(str(exc)) from None


def preview(path: Path, out: Path, *, scenario: str | None, backend: str = "embedded") -> Path:
    """Write the preview PNG of one scenario."""
    require_extra("train", "orch env preview")
    require_extra("plot", "orch env preview")
    _check_backend(backend)
    try:
        return env_spec.load_tool("preview")(path, out, scenario=scenario, backend=backend)
    except _known_errors() as exc:
        raise EnvError(str(exc)) from None
