"""Light entry points of the env tools, named as strings (stdlib only), for the CLI in ``orchestrator``.

``orch env check`` and ``orch env preview`` must not import gymnasium when the module is loaded, so they reach the
heavy code through :func:`load_tool`, the way ``trainers.registry`` reaches trainers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["BACKENDS", "CONTRACTS", "TOOLS", "backend_unavailable", "load_tool"]

BACKENDS = ("embedded", "robot_sf")
CONTRACTS = ("socnav_grid", "drive_state_rays")
TOOLS = {
    "check": "trainers.envs.tools:check_matrix",
    "preview": "trainers.envs.tools:preview_scenario",
}


def load_tool(name: str) -> Callable[..., Any]:
    """Import and return the env tool ``name`` (check or preview)."""
    module, _, attr = TOOLS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def backend_unavailable(backend: str) -> str | None:
    """Why ``backend`` cannot build envs here (unknown, or Robot SF not installed), or None; imports nothing heavy."""
    if backend not in BACKENDS:
        return f"{backend!r} is not one of {', '.join(BACKENDS)}"
    if backend == "robot_sf":
        from trainers.envs.robot_sf.imports import INSTALL_HINT, robot_sf_available

        if not robot_sf_available():
            return f"Robot SF is not installed; {INSTALL_HINT}"
    return None
