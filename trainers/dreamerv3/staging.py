"""Replayed batches onto the training device: fresh tensors, or the same static tensors every time.

* :class:`FreshBatches` (default): ``replay.sample`` allocates each batch on the replay's device and copies it to the
  training device if they differ.
* :class:`StaticBatches` (``cuda_graph``, or ``pinned_staging``): every batch lands in one set of device tensors
  allocated once, which a captured CUDA graph reads. A replay on the device gathers straight into them (indices
  drawn there: no copy in either direction). A host replay gathers into page-locked host buffers (two, used in turn)
  and copies them to the device without blocking; an event per buffer keeps the host from refilling a buffer whose
  copy is still in flight. Without CUDA the host buffers are ordinary memory and the copy is synchronous: the same
  code path, which the CPU tests run.

The copy into the static tensors is queued on the stream that then runs the update, so an update never reads a
half-copied batch and the next copy never overwrites a batch an update still reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import torch

from trainers.dreamerv3.replay import SequenceReplay

__all__ = ["BatchSource", "FreshBatches", "StaticBatches"]


class BatchSource(Protocol):
    """Where the trainer's updates take their (batch_size, batch_length) batches from."""

    def sample(self) -> Mapping[str, Any]: ...


class FreshBatches:
    """``replay.sample`` on the training device: a new batch each time."""

    def __init__(self, replay: SequenceReplay, batch: int, length: int, device: torch.device):
        self.replay, self.batch, self.length, self.device = replay, batch, length, device

    def sample(self) -> Mapping[str, Any]:
        return self.replay.sample(self.batch, self.length, self.device)


class StaticBatches:
    """Every batch in the same device tensors (see the module docstring)."""

    def __init__(self, replay: SequenceReplay, batch: int, length: int, device: torch.device):
        self.replay, self.length = replay, length
        self.batch = batch
        self.tensors = replay.empty_batch(batch, length, device)
        self.on_device = replay.device == torch.device(device)
        pin = device.type == "cuda" and not self.on_device
        self.host = [] if self.on_device else [replay.empty_batch(batch, length, pin=pin) for _ in range(2)]
        self.copied: list[torch.cuda.Event | None] = [None] * len(self.host)
        self.turn = 0

    def sample(self) -> Mapping[str, Any]:
        env, start = self.replay.sample_indices(self.batch, self.length)
        index = torch.stack([env, start], 1)
        if self.on_device:
            return self.replay.gather_into(index, self.length, self.tensors)
        turn, self.turn = self.turn, (self.turn + 1) % len(self.host)
        event = self.copied[turn]
        if event is not None:
            event.synchronize()  # the copy out of this buffer (queued two batches ago) is done
        staged = self.replay.gather_into(index, self.length, self.host[turn])
        _copy_tree(self.tensors, staged)
        if self.tensors["reward"].device.type == "cuda":
            event = torch.cuda.Event()
            event.record()
            self.copied[turn] = event
        return self.tensors


def _copy_tree(target: Mapping[str, Any], source: Mapping[str, Any]) -> None:
    for key, value in source.items():
        if isinstance(value, Mapping):
            _copy_tree(target[key], value)
        else:
            target[key].copy_(value, non_blocking=True)
