"""Light entry points of the env tools, named as strings (stdlib only), for the CLI in ``orchestrator``.

``orch env check`` and ``orch env preview`` must not import gymnasium when the module is loaded, so they reach the
heavy code through :func:`load_tool`, the way ``trainers.registry`` reaches trainers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["CONTRACTS", "TOOLS", "load_tool"]

CONTRACTS = ("socnav_grid", "drive_state_rays")
TOOLS = {
    "check": "trainers.envs.tools:check_matrix",
    "preview": "trainers.envs.tools:preview_scenario",
}


def load_tool(name: str) -> Callable[..., Any]:
    """Import and return the env tool ``name`` (check or preview)."""
    module, _, attr = TOOLS[name].partition(":")
    return getattr(importlib.import_module(module), attr)
