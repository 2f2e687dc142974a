"""Trainer registry: trainer name -> light spec module + heavy entry point, named as strings.

Nothing heavy is imported until :func:`load_entry_point` is called, so ``orch validate`` and ``orch status`` can ask
the registry about a trainer without paying for torch (Gymnasium's ``register`` with "module:Class" strings).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

__all__ = ["TrainerEntry", "get_trainer", "load_entry_point", "load_spec", "register", "trainer_names"]


@dataclass(frozen=True)
class TrainerEntry:
    """Where a trainer's parts live. ``entry_point`` is ``"module:function"``, called with a ``TrainJob``."""

    name: str
    spec_module: str
    entry_point: str
    schema: str


_REGISTRY: dict[str, TrainerEntry] = {}


def register(name: str, *, spec_module: str, entry_point: str, schema: str | None = None) -> None:
    """Register a trainer. Re-registering a name replaces it (tests register throwaway trainers)."""
    _REGISTRY[name] = TrainerEntry(name=name, spec_module=spec_module, entry_point=entry_point, schema=schema or name)


def trainer_names() -> list[str]:
    """Registered trainer names, sorted."""
    return sorted(_REGISTRY)


def get_trainer(name: str) -> TrainerEntry:
    """The entry for ``name``; an unknown name raises ``KeyError`` listing the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown trainer {name!r}; known trainers: {', '.join(trainer_names())}") from None


def load_spec(name: str) -> ModuleType:
    """Import the light spec module of ``name`` (stdlib, numpy, yaml only)."""
    return importlib.import_module(get_trainer(name).spec_module)


def load_entry_point(name: str) -> Callable[..., Any]:
    """Import and return the heavy training function of ``name``."""
    module_name, _, attr = get_trainer(name).entry_point.partition(":")
    return getattr(importlib.import_module(module_name), attr)


register(
    "ppo_expert",
    spec_module="trainers.ppo_expert.spec",
    entry_point="trainers.ppo_expert.train:train",
    schema="ppo_expert",
)
register(
    "dreamerv3",
    spec_module="trainers.dreamerv3.spec",
    entry_point="trainers.dreamerv3.train:train",
    schema="dreamerv3",
)
