"""Light face of the environments for the orchestrator: observation contracts, ``orch validate``'s env checks, and
the env tools named as strings.

What ``orch validate`` needs comes from here: the observation contracts (``trainers.envs.contracts``, stdlib) and,
loaded on first use, the env checks (``trainers.envs.validation``, which runs the env's own loaders with yaml, numpy
and svgelements; never gymnasium), so a config that fails to load never pays for numpy. ``orch env check`` and
``orch env preview`` reach the heavy code through :func:`load_tool`, the way ``trainers.registry`` reaches trainers.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from trainers.envs.contracts import contract_name as contract_name
from trainers.envs.contracts import signature_to_json as signature_to_json

if TYPE_CHECKING:
    from trainers.envs.validation import EnvKeys as EnvKeys
    from trainers.envs.validation import EnvProblem as EnvProblem
    from trainers.envs.validation import check_env as check_env

_VALIDATION = ("EnvKeys", "EnvProblem", "check_env")  # from trainers.envs.validation, on first use

__all__ = [
    "BACKENDS",
    "CONTRACTS",
    "TOOLS",
    "EnvKeys",
    "EnvProblem",
    "backend_unavailable",
    "check_env",
    "contract_name",
    "load_tool",
    "signature_to_json",
]

BACKENDS = ("embedded", "robot_sf")
CONTRACTS = ("socnav_grid", "drive_state_rays")
TOOLS = {
    "check": "trainers.envs.tools:check_matrix",
    "preview": "trainers.envs.tools:preview_scenario",
}


def load_tool(name: str) -> Callable[..., Any]:
    """Import and return the env tool ``name`` (check or preview)."""
    tool: Callable[..., Any] = pkgutil.resolve_name(TOOLS[name])
    return tool


def backend_unavailable(backend: str) -> str | None:
    """Why ``backend`` cannot build envs here (unknown, or Robot SF not installed), or None; imports nothing heavy."""
    if backend not in BACKENDS:
        return f"{backend!r} is not one of {', '.join(BACKENDS)}"
    if backend == "robot_sf":
        from trainers.envs.robot_sf.imports import INSTALL_HINT, robot_sf_available

        if not robot_sf_available():
            return f"Robot SF is not installed; {INSTALL_HINT}"
    return None


def __getattr__(name: str) -> Any:
    if name in _VALIDATION:
        return getattr(pkgutil.resolve_name("trainers.envs.validation"), name)
    raise AttributeError(f"module 'trainers.envs.spec' has no attribute {name!r}")
