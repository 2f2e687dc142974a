"""Collection overlapped with learning (``overlap_collection: true``): the vector env steps in a worker thread while
the learner runs the updates due at that step.

The loop chooses the actions on the main thread (the agent and its generator stay there), hands the env step to
:class:`EnvSteps`, runs the due updates, then records the step into the replay. The updates of a step therefore see
the replay without that step (one step staler than without overlap); everything else (the number of updates, the
order of random draws) is unchanged, so a run stays deterministic and resumes exactly (checkpoints are taken after
the step is recorded). The overlap is real where the env step releases the GIL: async vector envs (subprocesses),
envs that sleep or wait on I/O or on numpy kernels, and CUDA updates whose kernels run while Python waits.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

__all__ = ["EnvSteps"]


class EnvSteps:
    """One vector env step at a time in one worker thread: :meth:`start` it, :meth:`result` waits for it."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dreamer-env-steps")
        self.pending: Future[tuple[Any, ...]] | None = None

    def start(self, envs: Any, env_action: np.ndarray) -> None:
        if self.pending is not None:
            raise RuntimeError("the previous env step was not collected: call result() first")
        self.pending = self.pool.submit(envs.step, env_action)

    def result(self) -> tuple[Any, ...]:
        """The step's (obs, reward, terminated, truncated, info); an exception in the env is raised here."""
        if self.pending is None:
            raise RuntimeError("no env step in flight")
        pending, self.pending = self.pending, None
        return pending.result()

    def close(self) -> None:
        """Wait for a step still in flight (its envs are closed next) and stop the worker; idempotent."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.exception()  # wait; the run is ending for another reason already
        self.pool.shutdown(wait=True)
