"""Importing Robot SF lazily, with one clear error where it is not installed."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

__all__ = ["INSTALL_HINT", "RobotSFNotInstalled", "import_robot_sf", "robot_sf_available"]

INSTALL_HINT = (
    "the robot_sf backend needs Robot SF, which is not on PyPI: install it into this environment with "
    "`pip install git+https://github.com/ll7/robot_sf_ll7` (or `pip install -e <checkout>`; in the orch dev "
    "workspace `../shared/vendor/install-robot-sf.sh .venv/bin/python`), "
    "or set env.backend: embedded to use orch's built-in simulator"
)


class RobotSFNotInstalled(ImportError):
    """``robot_sf`` cannot be imported."""


def robot_sf_available() -> bool:
    """True when ``import robot_sf`` would find the package (nothing is imported)."""
    try:
        return importlib.util.find_spec("robot_sf") is not None
    except (ImportError, ValueError):  # a broken or stubbed-out entry in sys.modules
        return False


def import_robot_sf(module: str) -> Any:
    """Import ``module`` (a ``robot_sf.*`` name) or raise :class:`RobotSFNotInstalled` with the install hint."""
    try:
        importlib.import_module("robot_sf")  # first the package: a blocked or missing one fails here, even when
        return importlib.import_module(module)  # a submodule is still cached in sys.modules
    except ImportError as exc:
        raise RobotSFNotInstalled(f"{INSTALL_HINT} (import {module} failed: {exc})") from None
