"""Trainer registry: the one door from the orchestrator into the trainers.

A trainer is registered under a name with its parts named as ``"module:function"`` strings (Gymnasium's ``register``
with "module:Class" strings): the light spec module (schema name, defaults, ``resolve()``), the heavy training entry
point, and optional parts that some trainers have (evaluation of a finished run, a speed benchmark, the probes the
GPU gate runs in a child process). Nothing heavy is imported until a part is loaded (``pkgutil.resolve_name``, the
one loader orch uses for such strings), so ``orch validate`` and ``orch status`` can ask about a trainer without
paying for torch.

The contract a launcher hands to a trainer is re-exported here as well, so that the orchestrator imports nothing of
``trainers`` but this module and the spec modules (``../shared/DESIGN.md``): :class:`TrainJob` (what a trainer is
given), the stop request of a job about to end (:func:`request_stop`, :func:`clear_stop`,
:class:`TrainingStopped`), a study's hold on a trial (:func:`reporting_to` hears each evaluation and may stop
the trial with :class:`TrialPruned`), :func:`limit_torch_threads` and :func:`own_cuda_stream` (a run's CUDA stream
when several share a process). All of it is stdlib only at import time.
"""

from __future__ import annotations

import pkgutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from trainers.common.job import WANDB_OFFLINE_ON_NODE as WANDB_OFFLINE_ON_NODE
from trainers.common.job import TrainJob as TrainJob
from trainers.common.job import limit_torch_threads as limit_torch_threads
from trainers.common.job import own_cuda_stream as own_cuda_stream
from trainers.common.signals import TrainingStopped as TrainingStopped
from trainers.common.signals import clear_stop as clear_stop
from trainers.common.signals import request_stop as request_stop
from trainers.common.trial import TrialPruned as TrialPruned
from trainers.common.trial import reporting_to as reporting_to

__all__ = [
    "WANDB_OFFLINE_ON_NODE",
    "TrainJob",
    "TrainerEntry",
    "TrainingStopped",
    "TrialPruned",
    "clear_stop",
    "get_trainer",
    "limit_torch_threads",
    "load_entry_point",
    "load_part",
    "load_spec",
    "own_cuda_stream",
    "probe_command",
    "register",
    "reporting_to",
    "request_stop",
    "shares_process",
    "trainer_names",
    "trainers_with",
]

# The optional parts a trainer may register, each a "module:function" (probes: a module run with ``python -m``).
PARTS = ("evaluate", "bench", "probes")


@dataclass(frozen=True)
class TrainerEntry:
    """Where a trainer's parts live. ``entry_point`` is ``"module:function"``, called with a :class:`TrainJob`.

    ``evaluate`` is called as ``(run_dir, episodes=, stochastic=)`` and returns the summary of ``orch eval``;
    ``bench`` as ``(size=, updates=, threads=)`` and returns the one JSON object of ``orch bench``; ``probes`` is a
    module the GPU gate runs as ``python -m PROBES NAME --device DEVICE``, which prints one JSON object.
    """

    name: str
    spec_module: str
    entry_point: str
    schema: str
    evaluate: str | None = None
    bench: str | None = None
    probes: str | None = None


_REGISTRY: dict[str, TrainerEntry] = {}


def register(
    name: str,
    *,
    spec_module: str,
    entry_point: str,
    schema: str | None = None,
    evaluate: str | None = None,
    bench: str | None = None,
    probes: str | None = None,
) -> None:
    """Register a trainer. Re-registering a name replaces it (tests register throwaway trainers)."""
    _REGISTRY[name] = TrainerEntry(
        name=name,
        spec_module=spec_module,
        entry_point=entry_point,
        schema=schema or name,
        evaluate=evaluate,
        bench=bench,
        probes=probes,
    )


def trainer_names() -> list[str]:
    """Registered trainer names, sorted."""
    return sorted(_REGISTRY)


def trainers_with(part: str) -> list[str]:
    """The trainers that registered ``part`` (one of :data:`PARTS`), sorted."""
    if part not in PARTS:
        raise ValueError(f"unknown trainer part {part!r}; parts: {', '.join(PARTS)}")
    return [name for name in trainer_names() if getattr(_REGISTRY[name], part)]


def get_trainer(name: str) -> TrainerEntry:
    """The entry for ``name``; an unknown name raises ``KeyError`` listing the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown trainer {name!r}; known trainers: {', '.join(trainer_names())}") from None


def load_spec(name: str) -> ModuleType:
    """Import the light spec module of ``name`` (stdlib, numpy, yaml only)."""
    module: ModuleType = pkgutil.resolve_name(get_trainer(name).spec_module)
    return module


def load_entry_point(name: str) -> Callable[..., Any]:
    """Import and return the heavy training function of ``name``."""
    function: Callable[..., Any] = pkgutil.resolve_name(get_trainer(name).entry_point)
    return function


def load_part(name: str, part: str) -> Callable[..., Any]:
    """Import and return the optional ``part`` (``evaluate`` or ``bench``) of trainer ``name``; a trainer without
    it raises ``KeyError`` naming the trainers that have one."""
    target = getattr(get_trainer(name), part) if part in PARTS else None
    if not target:
        having = trainers_with(part) if part in PARTS else []
        raise KeyError(f"trainer {name!r} has no {part} part; trainers with one: {', '.join(having) or 'none'}")
    function: Callable[..., Any] = pkgutil.resolve_name(target)
    return function


def shares_process(name: str) -> bool:
    """Whether runs of trainer ``name`` may train side by side in one process (``runs_per_job`` > 1): its light spec
    says so with ``SHARES_PROCESS = True``, which a trainer may claim only when no run draws from process-wide
    random state (numpy's, Python's or torch's global generator) once it is built."""
    return bool(getattr(load_spec(name), "SHARES_PROCESS", False))


def probe_command(name: str, probe: str, *, device: str) -> list[str]:
    """The command line that runs GPU-gate probe ``probe`` of trainer ``name`` in a child process."""
    module = get_trainer(name).probes
    if not module:
        raise KeyError(f"trainer {name!r} has no probes for the GPU gate")
    return [sys.executable, "-m", module, probe, "--device", device]


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
    evaluate="trainers.dreamerv3.evaluate:evaluate_run",
    bench="trainers.dreamerv3.bench:cli_benchmark",
    probes="trainers.dreamerv3.probes",
)
