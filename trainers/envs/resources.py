"""Where the shipped scenario matrices and maps live, in a checkout and in an installed wheel.

``manifests.shipped`` finds orch's shipped data (``configs/`` of a checkout, ``<prefix>/share/orch/configs`` of a
wheel); ``$ORCH_CONFIGS_DIR`` overrides it for the scenarios and maps (a folder holding ``scenarios/`` and ``maps/``,
e.g. Robot SF's own configs).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from manifests.shipped import shipped_path

__all__ = ["DEFAULT_MATRIX_NAME", "DEFAULT_SCENARIO", "configs_dir", "default_maps_dir", "default_matrix_path"]

DEFAULT_MATRIX_NAME = "crowdnav_matrix.yaml"
DEFAULT_SCENARIO = "easy_open_low"


@lru_cache(maxsize=1)
def configs_dir() -> Path:
    """The folder holding ``scenarios/`` and ``maps/`` (``$ORCH_CONFIGS_DIR``, else the shipped ``configs/``)."""
    env = os.environ.get("ORCH_CONFIGS_DIR")
    if env:
        return Path(env)
    return shipped_path("configs", "scenarios", DEFAULT_MATRIX_NAME).parents[1]


def default_matrix_path() -> Path:
    """The embedded default matrix (``configs/scenarios/crowdnav_matrix.yaml``)."""
    return configs_dir() / "scenarios" / DEFAULT_MATRIX_NAME


def default_maps_dir() -> Path:
    """Shipped SVG maps, searched last for ``map_id``."""
    return configs_dir() / "maps"
