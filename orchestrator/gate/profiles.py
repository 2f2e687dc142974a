"""Gate profiles: which metrics a gate looks at, on which step axis, by which rule, with which tolerances.

Three profiles, from the validation plan (issue 8):

- ``dreamer_standing_still``: reconstruction and KL metrics within +-``rtol`` (15%) of the baseline median at matching
  steps (absolute floor ``atol`` for values near zero), no non-finite value anywhere.
- ``dreamer_full``: episode return OR success rate >= ``min_ratio`` (0.6) x the baseline at equal env steps, no
  sustained non-finite values (``sustained_nonfinite`` consecutive lines).
- ``ppo``: success_rate >= ``min_ratio`` (0.6) x and collision_rate <= ``max_ratio`` (1.2) x the baseline (plus
  ``ratio_atol`` so a zero baseline still admits a little noise) at equal steps.

``aggregate`` says how ranges are judged: ``ranges`` (each compared range on its own: the deterministic
standing-still curves) or ``mean`` (the mean over the compared ranges: task metrics from a few evaluation episodes
are too noisy per range). ``min_step_fraction`` keeps only ranges past that fraction of the baseline's span (task
gates judge the second half of training), ``min_coverage`` the share of those ranges a run must have reached.

Tolerances are stored in each baseline (so a baseline can carry its own) and can be overridden at compare time with
``key=value`` (``rtol=0.2``) or ``metric.key=value`` (``kl_dyn.rtol=0.3``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.gate.rundata import GateError, RunData

__all__ = [
    "GATES",
    "Check",
    "GateProfile",
    "apply_overrides",
    "detect_gate",
    "parse_tolerance_overrides",
    "tolerance",
]


@dataclass(frozen=True)
class Check:
    """One metric rule. ``rule`` is ``within`` (relative band), ``at_least`` or ``at_most`` (ratio of baseline).

    ``candidates`` are alternative metric names (trainers spell episode returns differently); the first one the
    runs carry is used. Checks with the same ``any_group`` pass when any one of them passes.
    """

    metric: str
    rule: str
    candidates: tuple[str, ...] = ()
    any_group: str | None = None

    def names(self) -> tuple[str, ...]:
        return (self.metric, *self.candidates)


@dataclass(frozen=True)
class GateProfile:
    """A gate: its step axes (first present wins), its checks, the metrics watched for non-finite values."""

    name: str
    step_keys: tuple[str, ...]
    checks: tuple[Check, ...]
    watch_nonfinite: tuple[str, ...]
    tolerances: dict[str, Any] = field(default_factory=dict)


_LOSSES = (
    "loss_model",
    "loss_actor",
    "loss_critic",
    "obs_nll",
    "reward_nll",
    "continue_nll",
    "kl_dyn",
    "kl_rep",
    "kl_total",
)
# How a learning gate compares: the mean over seeds at each step, a run may not be broken for 3 evaluations in a row,
# half the reference's steps reached, half its evaluation bins covered.
_LEARNING = {
    "aggregate": "mean",
    "nonfinite": "sustained",
    "sustained_nonfinite": 3,
    "min_step_fraction": 0.5,
    "min_coverage": 0.5,
    "bins": 10,
}
_RETURNS = ("return", "ep_return", "eval_return", "eval_episode_return", "ep_return_mean", "ep_rew_mean")

GATES: dict[str, GateProfile] = {
    "dreamer_standing_still": GateProfile(
        name="dreamer_standing_still",
        step_keys=("opt_steps", "env_steps", "step"),
        checks=(
            Check("obs_nll", "within"),
            Check("reward_nll", "within"),
            Check("kl_dyn", "within"),
            Check("kl_rep", "within"),
        ),
        watch_nonfinite=(*_LOSSES, "prior_entropy", "posterior_entropy"),
        tolerances={
            "rtol": 0.15,
            "atol": 1e-3,
            "aggregate": "ranges",
            "nonfinite": "any",
            "min_step_fraction": 0.0,
            "min_coverage": 0.5,
            "bins": 10,
        },
    ),
    "dreamer_full": GateProfile(
        name="dreamer_full",
        step_keys=("env_steps", "step", "opt_steps"),
        checks=(
            Check("episode_return", "at_least", candidates=_RETURNS, any_group="task"),
            Check("success_rate", "at_least", any_group="task"),
        ),
        watch_nonfinite=_LOSSES,
        tolerances={"min_ratio": 0.6, "ratio_atol": 0.0, **_LEARNING},
    ),
    "ppo": GateProfile(
        name="ppo",
        step_keys=("eval_step", "timesteps", "total_timesteps", "step"),
        checks=(Check("success_rate", "at_least"), Check("collision_rate", "at_most")),
        watch_nonfinite=("loss", "policy_gradient_loss", "value_loss", "entropy_loss", "approx_kl"),
        tolerances={"min_ratio": 0.6, "max_ratio": 1.2, "ratio_atol": 0.05, **_LEARNING},
    ),
}


def detect_gate(runs: list[RunData]) -> str:
    """The gate for these runs: ``ppo`` for ppo_expert, ``dreamer_<mode>`` for dreamerv3 (mode from resolved.json)."""
    kinds = set()
    for run in runs:
        if run.trainer == "ppo_expert":
            kinds.add("ppo")
        elif run.trainer == "dreamerv3":
            kinds.add("dreamer_standing_still" if run.mode == "standing_still" else "dreamer_full")
        else:
            raise GateError(f"{run.path}: unknown trainer {run.trainer!r}; pass --gate {'|'.join(GATES)}")
    if len(kinds) != 1:
        raise GateError(f"the runs need different gates ({', '.join(sorted(kinds))}); gate one kind at a time")
    return kinds.pop()


def parse_tolerance_overrides(items: list[str] | None) -> dict[str, Any]:
    """``["rtol=0.2", "kl_dyn.rtol=0.3"]`` -> ``{"rtol": 0.2, "kl_dyn.rtol": 0.3}`` (numbers parsed, else text)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise GateError(f"tolerance {item!r}: expected key=value, e.g. rtol=0.2 or kl_dyn.rtol=0.3")
        try:
            value: Any = int(raw) if raw.strip().lstrip("-").isdigit() else float(raw)
        except ValueError:
            value = raw.strip()
        out[key.strip()] = value
    return out


def apply_overrides(tolerances: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``tolerances`` with ``overrides`` laid over it."""
    return {**tolerances, **overrides}


def tolerance(tolerances: dict[str, Any], metric: str, key: str, default: Any = None) -> Any:
    """``metric.key`` if set, else ``key``, else ``default``."""
    return tolerances.get(f"{metric}.{key}", tolerances.get(key, default))
