"""Domain side of ``orch env check`` and ``orch env preview``: errors become :class:`EnvError`, results are data.

Light at import time: the simulator is reached through ``trainers.envs.spec.load_tool`` inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trainers.envs.spec as env_spec
from orchestrator.errors import EnvError

__all__ = ["check_scenarios", "preview"]


def _known_errors() -> tuple[type[BaseException], ...]:
    return (ValueError, FileNotFoundError)  # ScenarioError and MapError are ValueErrors


def check_scenarios(path: Path, *, steps: int, contract: str) -> list[Any]:
    """Run every scenario of ``path``; a matrix that cannot be read at all is an :class:`EnvError`."""
    if contract not in env_spec.CONTRACTS:
        raise EnvError(f"--contract {contract!r} is not one of {', '.join(env_spec.CONTRACTS)}")
    if steps < 1:
        raise EnvError("--steps must be at least 1")
    try:
        return env_spec.load_tool("check")(path, steps=steps, contract=contract)
    except _known_errors() as exc:
        raise EnvError(str(exc)) from None


def preview(path: Path, out: Path, *, scenario: str | None) -> Path:
    """Write the preview PNG of one scenario."""
    try:
        return env_spec.load_tool("preview")(path, out, scenario=scenario)
    except _known_errors() as exc:
        raise EnvError(str(exc)) from None
