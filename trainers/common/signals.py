"""Stopping a trainer cleanly when the scheduler warns that the job will end (time limit, preemption).

The job entry (``orchestrator.launch.entry``) turns the scheduler's warning signal into :func:`request_stop`. A
trainer polls :func:`stop_if_requested` at its step boundaries (PPO: between rollouts; Dreamer: between env steps):
when a stop was requested it writes one complete checkpoint with its usual checkpoint function and raises
:class:`TrainingStopped`; the job entry then requeues the job, and the next attempt resumes from that checkpoint
instead of the last periodic one. A signal handler never writes anything itself: it only sets a flag, so a write it
interrupts is never torn.

Env worker processes must not receive those signals (Slurm signals every process of a job step, and SIGUSR2 kills a
process that has no handler for it): trainers start them inside :func:`workers_ignore_stop_signals`, whose blocked
signal mask the workers inherit through fork and exec.

Stdlib only: ``orch`` imports this module on the submit host.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator

__all__ = [
    "STOP_SIGNALS",
    "TrainingStopped",
    "clear_stop",
    "request_stop",
    "stop_if_requested",
    "stop_requested",
    "workers_ignore_stop_signals",
]

# The scheduler's warning (submitit uses SIGUSR2), SIGUSR1 for sites that use it, and Ctrl-C in a terminal (which
# the trainer turns into a cancel; its workers must not die first with their own tracebacks).
STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)

# The one piece of module state: written by a signal handler, read by the training loop (a dict is set atomically).
_REQUEST: dict[str, str] = {}


class TrainingStopped(BaseException):
    """Raised by a trainer after it wrote a complete checkpoint because a stop was requested.

    A ``BaseException`` like ``KeyboardInterrupt``: the trainers' failure handlers (``except Exception``) must not
    record the run as failed, and their ``finally`` blocks still close envs and trackers.
    """

    def __init__(self, step: int, reason: str) -> None:
        super().__init__(f"stopped at step {step}: {reason}")
        self.step = int(step)
        self.reason = reason


def request_stop(reason: str) -> None:
    """Ask the trainer in this process to save and stop at its next step boundary (called from a signal handler)."""
    _REQUEST.setdefault("reason", reason)


def stop_requested() -> str | None:
    """The reason a stop was requested, or None."""
    return _REQUEST.get("reason")


def clear_stop() -> None:
    """Forget a request (the job entry calls it when an attempt ends)."""
    _REQUEST.clear()


def stop_if_requested(save: Callable[[], object], *, step: int) -> None:
    """At a step boundary: when a stop was requested, ``save()`` a complete checkpoint, then raise
    :class:`TrainingStopped`. Costs one dict lookup otherwise."""
    reason = _REQUEST.get("reason")
    if reason is None:
        return
    save()
    raise TrainingStopped(step, reason)


@contextlib.contextmanager
def workers_ignore_stop_signals() -> Iterator[None]:
    """Start child processes (env workers) inside this block: they inherit a signal mask that blocks
    :data:`STOP_SIGNALS`, kept across fork and exec, so the trainer's stop signal cannot kill them. The trainer's own
    mask is restored on exit, and a signal that arrived meanwhile is delivered to it then."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
