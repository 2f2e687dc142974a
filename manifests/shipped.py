"""Where the data orch ships beside its code lives, in a checkout and in an installed wheel.

A checkout (or an editable install) has ``configs/`` (cluster profiles, gate configs, scenario matrices, maps) and
``baselines/`` next to the packages. A wheel installs the same files as data files under ``<prefix>/share/orch/``
(pyproject ``[tool.setuptools.data-files]``); a ``--user`` install under the user base. :func:`shipped_path` is the
one lookup every part uses (``orch submit`` for the ``local`` profile, ``orch gate`` for its configs and baselines,
the embedded simulator for its scenarios and maps).
"""

from __future__ import annotations

import site
import sys
from pathlib import Path

__all__ = ["CHECKOUT", "shipped_path", "shipped_roots"]

CHECKOUT = Path(__file__).resolve().parents[1]


def shipped_roots() -> list[Path]:
    """The folders that may hold the shipped data, in the order they are searched."""
    prefixes = [sys.prefix, getattr(site, "USER_BASE", None) or ""]
    return [CHECKOUT] + [Path(p) / "share" / "orch" for p in prefixes if p]


def shipped_path(*parts: str) -> Path:
    """``<root>/<parts...>`` under the first root where it exists; the checkout's path when none has it (so that an
    error message names the place a checkout would have it)."""
    roots = shipped_roots()
    for root in roots:
        candidate = root.joinpath(*parts)
        if candidate.exists():
            return candidate
    return roots[0].joinpath(*parts)
