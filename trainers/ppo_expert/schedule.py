"""The evaluation schedule: which steps evaluate, and which of them are due now.

The resolved settings carry the expanded list of evaluation steps (``total_timesteps`` always included). SB3 counts
steps in whole rollouts (``n_steps * num_envs``), so a scheduled step is evaluated at the first rollout boundary at
or past it; the evaluation is recorded under the scheduled step, and the actual step is kept beside it. The position
in the schedule is part of the resume state, so a resumed run neither repeats nor skips a step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["EvalSchedule", "evaluation_steps", "expand_step_schedule"]

EXPANDED_KEYS = ("eval_steps", "evaluation_steps", "steps")


def expand_step_schedule(step_schedule: Sequence[Mapping[str, Any]], total_timesteps: int) -> list[int]:
    """``[{until_step, every_steps}, ..., {every_steps}]`` -> sorted steps up to and including ``total_timesteps``."""
    steps: set[int] = set()
    start = 0
    for phase in step_schedule:
        every = int(phase["every_steps"])
        if every <= 0:
            raise ValueError(f"evaluation.step_schedule every_steps must be > 0, got {every}")
        until = int(phase.get("until_step") or total_timesteps)
        step = start + every
        while step <= min(until, total_timesteps):
            steps.add(step)
            step += every
        start = max(start, min(until, total_timesteps))
        if start >= total_timesteps:
            break
    steps.add(int(total_timesteps))
    return sorted(steps)


def evaluation_steps(settings: Mapping[str, Any]) -> list[int]:
    """The expanded list from the resolved settings (spec.py fills it); expanded here for older resolved files."""
    evaluation = dict(settings.get("evaluation") or {})
    total = int(settings["total_timesteps"])
    for key in EXPANDED_KEYS:
        if evaluation.get(key):
            return sorted({int(s) for s in evaluation[key] if int(s) <= total} | {total})
    return expand_step_schedule(evaluation.get("step_schedule") or [], total)


class EvalSchedule:
    """Walks the steps in order; ``next_index`` is saved in checkpoints and restored on resume."""

    def __init__(self, steps: Sequence[int], next_index: int = 0):
        self.steps = [int(s) for s in steps]
        self.next_index = int(next_index)

    def due(self, num_timesteps: int, *, final: bool = False) -> list[int]:
        """Scheduled steps reached at ``num_timesteps`` (all remaining when ``final``), consumed from the schedule."""
        crossed: list[int] = []
        while self.next_index < len(self.steps) and (final or self.steps[self.next_index] <= num_timesteps):
            crossed.append(self.steps[self.next_index])
            self.next_index += 1
        return crossed

    @property
    def remaining(self) -> list[int]:
        return self.steps[self.next_index :]
