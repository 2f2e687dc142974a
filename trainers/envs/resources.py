"""Where the shipped scenario matrices and maps live, in a checkout and in an installed wheel.

A checkout (or an editable install) has ``configs/`` next to the ``trainers`` package. A wheel installs the same files
as data files under ``<prefix>/share/orch/configs`` (pyproject ``[tool.setuptools.data-files]``); a ``--user`` install
under the user base. ``$ORCH_CONFIGS_DIR`` overrides all of them.
"""

from __future__ import annotations

import os
import site
import sys
from functools import lru_cache
from pathlib import Path

__all__ = ["DEFAULT_MATRIX_NAME", "DEFAULT_SCENARIO", "configs_dir", "default_maps_dir", "default_matrix_path"]

DEFAULT_MATRIX_NAME = "crowdnav_matrix.yaml"
DEFAULT_SCENARIO = "easy_open_low"


def _candidates() -> list[Path]:
    checkout = Path(__file__).resolve().parents[2] / "configs"
    prefixes = [sys.prefix, getattr(site, "USER_BASE", None) or ""]
    return [checkout] + [Path(p) / "share" / "orch" / "configs" for p in prefixes if p]


@lru_cache(maxsize=1)
def configs_dir() -> Path:
    """The folder holding ``scenarios/`` and ``maps/`` (the first candidate that has the default matrix)."""
    env = os.environ.get("ORCH_CONFIGS_DIR")
    if env:
        return Path(env)
    candidates = _candidates()
    for folder in candidates:
        if (folder / "scenarios" / DEFAULT_MATRIX_NAME).is_file():
            return folder
    return candidates[0]


def default_matrix_path() -> Path:
    """The embedded default matrix (``configs/scenarios/crowdnav_matrix.yaml``)."""
    return configs_dir() / "scenarios" / DEFAULT_MATRIX_NAME


def default_maps_dir() -> Path:
    """Shipped SVG maps, searched last for ``map_id``."""
    return configs_dir() / "maps"
