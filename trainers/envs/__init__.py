"""Crowd-navigation environments: the embedded simulator, Robot SF's formats and observation contracts.

Public names are loaded on first use, so ``import trainers.envs.contracts`` (what ``orch validate`` needs) does not
import gymnasium. ``make_env`` is the factory trainers call; ``orch/CrowdNav-v0`` is registered with Gymnasium when
``trainers.envs.factory`` is imported (any of the names below imports it).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ENV_ID", "CrowdNavEnv", "Scenario", "ScenarioSwitchingEnv", "load_scenario_matrix", "make_env"]

_LAZY = {
    "ENV_ID": "trainers.envs.factory",
    "make_env": "trainers.envs.factory",
    "CrowdNavEnv": "trainers.envs.crowdnav.env",
    "ScenarioSwitchingEnv": "trainers.envs.switching",
    "Scenario": "trainers.envs.scenarios",
    "load_scenario_matrix": "trainers.envs.scenarios",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        if name != "ENV_ID":
            importlib.import_module("trainers.envs.factory")  # registers orch/CrowdNav-v0
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'trainers.envs' has no attribute {name!r}")
