"""The update as a captured CUDA graph (``cuda_graph: true``): one launch per update instead of thousands.

An update at fixed shapes launches the same kernels on the same memory every time once its batch lives in static
tensors (``staging.StaticBatches``) and everything it keeps between updates is updated in place: parameters,
optimiser states (fused Adam with ``capturable``: its step counts on the device), the slow critic, the return
normaliser's EMAs, the deferred non-finite flags and the device-side update counter (``learner.py``). It reads
nothing back to the host (deferred checks; ``orch gate gpu`` profiles one update for copies in either direction),
and its random draws come from the learner's generator on the device, registered with the graph so that every
replay draws new numbers.

:class:`GraphedUpdate` runs ``warmup`` updates eagerly on a side stream (lazy initialisation, autograd's stream
state, the optimisers' first steps), then captures one update and replays it for every later one. How an update is
captured and replayed is :class:`CudaGraphCapture` on CUDA; on any other device :class:`EagerReplay` runs the update
again each time (the same bookkeeping, no graph), which is what the CPU tests exercise.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import torch
from torch import Tensor

from trainers.dreamerv3.learner import Learner

__all__ = ["CudaGraphCapture", "EagerReplay", "GraphedUpdate"]

Update = Callable[[], dict[str, Tensor]]


class Replayable(Protocol):
    """Runs one update now and every time :meth:`replay` is called."""

    def replay(self) -> dict[str, Tensor]: ...


class EagerReplay:
    """No graph: :meth:`replay` runs the update again (devices without CUDA graphs)."""

    def __init__(self, update: Update):
        self.update = update

    def replay(self) -> dict[str, Tensor]:
        return self.update()


class CudaGraphCapture:
    """One update captured into a ``torch.cuda.CUDAGraph``; :meth:`replay` launches it and keeps the learner's host
    counters in step (the capture ran the update's Python once, without training)."""

    def __init__(self, learner: Learner, update: Update):
        self.learner = learner
        graph = torch.cuda.CUDAGraph()
        graph.register_generator_state(learner.generator)  # replays draw fresh numbers from the learner's generator
        counters = learner.host_counters()
        with torch.cuda.graph(graph):
            self.metrics = update()  # static outputs: each replay overwrites them
        learner.restore_host_counters(counters)
        self.graph = graph

    def replay(self) -> dict[str, Tensor]:
        self.graph.replay()
        self.learner.count_replayed_update()
        return self.metrics


class GraphedUpdate:
    """Deferred-check updates on one static batch: ``warmup`` eager ones on a side stream, then a captured one
    replayed (module docstring). Call it after each new batch has been written into ``static``."""

    def __init__(self, learner: Learner, static: Mapping[str, Any], *, warmup: int = 3):
        if warmup < 1:
            raise ValueError("a captured update needs at least one eager warm-up update")
        self.learner, self.static, self.warmup = learner, static, warmup
        self.cuda = learner.device.type == "cuda"
        self.warmed = 0
        self.captured: Replayable | None = None

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        if batch is not self.static:
            raise ValueError("GraphedUpdate replays on its static batch: sample into it (staging.StaticBatches)")
        if self.captured is not None:
            return self.captured.replay()
        with self._side_stream():
            metrics: dict[str, Tensor] = self._update()
        self.warmed += 1
        if self.warmed >= self.warmup:
            self.captured = self._capture()
        return metrics

    def _update(self) -> dict[str, Tensor]:
        metrics = self.learner.train_step(self.static, sync=False)
        assert isinstance(metrics, dict)
        return metrics

    def _capture(self) -> Replayable:
        if not self.cuda:
            return EagerReplay(self._update)
        self.learner.prepare_capture()
        torch.cuda.synchronize(self.learner.device)
        return CudaGraphCapture(self.learner, self._update)

    @contextlib.contextmanager
    def _side_stream(self) -> Iterator[None]:
        """CUDA: warm-up updates run on a side stream (as graph capture requires), ordered after the batch copy."""
        if not self.cuda:
            yield
            return
        side = torch.cuda.Stream(self.learner.device)
        side.wait_stream(torch.cuda.current_stream(self.learner.device))
        with torch.cuda.stream(side):
            yield
        torch.cuda.current_stream(self.learner.device).wait_stream(side)
