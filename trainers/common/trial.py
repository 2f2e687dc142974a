"""A trainer's side of a hyperparameter study: report each evaluation; the study may end the trial there.

A study worker (``orchestrator.study.worker``) runs each trial as an ordinary run in its own process, inside
:func:`reporting_to`. The trainer calls :func:`report_evaluation` after every evaluation (PPO in its evaluation
callback, Dreamer at its evaluation), with the step and the evaluation's mean metrics. Outside a study nothing is
listening and the call costs one list lookup. The listener hands the value to the study's pruner; when the pruner
(or a safety constraint) says stop, it raises :class:`TrialPruned`, which the trainer lets through like
:class:`~trainers.common.signals.TrainingStopped`: envs and trackers close in ``finally`` blocks, and the run is not
recorded as failed.

Stdlib only: the study side (and Optuna) live in the orchestrator; trainers never import it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping

__all__ = ["Reporter", "TrialPruned", "report_evaluation", "reporting_to"]

Reporter = Callable[[int, Mapping[str, float]], None]

# The one piece of module state: the listener of the trial running in this process (a stack, innermost last).
_LISTENERS: list[Reporter] = []


class TrialPruned(BaseException):
    """Raised from :func:`report_evaluation` when the study stops this trial at ``step`` (``reason`` says why).

    A ``BaseException`` like ``KeyboardInterrupt``: the trainers' failure handlers (``except Exception``) must not
    record a pruned trial as a failed run.
    """

    def __init__(self, step: int, reason: str) -> None:
        super().__init__(f"pruned at step {step}: {reason}")
        self.step = int(step)
        self.reason = reason


def report_evaluation(step: int, metrics: Mapping[str, float]) -> None:
    """Tell the study (if this run is a trial) the mean metrics of the evaluation at ``step``; may raise
    :class:`TrialPruned`."""
    if _LISTENERS:
        _LISTENERS[-1](int(step), dict(metrics))


@contextlib.contextmanager
def reporting_to(listener: Reporter) -> Iterator[None]:
    """Send this process's evaluation reports to ``listener`` for the ``with`` block (one trial)."""
    _LISTENERS.append(listener)
    try:
        yield
    finally:
        _LISTENERS.remove(listener)
