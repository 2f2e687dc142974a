"""What a trainer is handed: the resolved configuration and the run directory it owns."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["WANDB_OFFLINE_ON_NODE", "TrainJob", "limit_torch_threads", "own_cuda_stream"]

# Set by the job entry on a cluster's compute node: W&B must log offline there (``orch sync`` uploads later).
WANDB_OFFLINE_ON_NODE = "ORCH_WANDB_OFFLINE"


@dataclass(frozen=True)
class TrainJob:
    """One training run, picklable so submitit can ship it to a compute node.

    ``resolved`` is the content of ``resolved.json`` (see ``orchestrator.config.resolve``): ``trainer``, ``name``,
    ``seed``, ``deterministic``, ``settings`` (the trainer's knobs, defaults filled), ``observation_signature``,
    ``config_hash``. Trainers read their knobs from ``resolved["settings"]`` and never read YAML.
    """

    resolved: Mapping[str, Any]
    run_dir: Path
    resume: bool = False
    dry_run: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> Mapping[str, Any]:
        """The trainer's own knobs."""
        return self.resolved["settings"]

    @property
    def seed(self) -> int:
        """The seed of this run, the one number every trainer seeds its RNGs and envs from: ``resolved["seed"]``
        (the launcher writes one per run), else the config's first seed (a trainer called directly), else 0."""
        seed = self.resolved.get("seed")
        if seed is None:
            seeds = self.resolved.get("seeds") or [0]
            seed = seeds[0]
        return int(seed)


@contextlib.contextmanager
def limit_torch_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op threads capped at ``threads`` while a trainer runs in this process, restored afterwards
    (None: untouched, and torch is not imported). Tiny models on a busy machine train much faster on one thread than
    on several spinning ones (the gate's 56-update run: 2 s on one thread, 43 s on two)."""
    if not threads:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def own_cuda_stream(device: str | None) -> Iterator[None]:
    """Run the calling thread's CUDA work on a stream of its own while several runs share one process and GPU
    (``runs_per_job``): on the default stream their kernels would queue behind each other; on separate streams they
    overlap. A no-op for ``device: cpu`` or without CUDA (torch is imported only when the device may be a GPU)."""
    if device == "cpu":
        yield
        return
    import torch

    if not torch.cuda.is_available():
        yield
        return
    where = torch.device(device) if device and device.startswith("cuda") else torch.device("cuda")
    stream = torch.cuda.Stream(device=where)
    with torch.cuda.stream(stream):
        yield
    stream.synchronize()  # the run's last kernels finished before its thread reports the run's outcome
