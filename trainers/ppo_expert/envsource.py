"""Where the trainer's environments come from: the embedded crowd-nav simulator, behind a small factory object.

The training loop takes an :class:`EnvSource` (STYLE 16: loops take factories), so tests can hand it a small env
and the real runs get :class:`CrowdNavSource`, built from the resolved settings. A source is picklable: SubprocVecEnv
ships its ``make`` calls to worker processes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["CrowdNavSource", "EnvSource", "split_scenarios"]


class EnvSource(Protocol):
    """Builds single (non-vectorised) Gymnasium envs."""

    def scenario_ids(self) -> list[str]:
        """Every scenario of the matrix (empty when the env has no notion of scenarios)."""
        ...

    def make(self, *, scenario_id: str | None, exclude: Sequence[str], seed: int | None) -> Any:
        """A fresh env on ``scenario_id`` (or sampling per episode over all but ``exclude``)."""
        ...


def split_scenarios(
    all_ids: Sequence[str], *, scenario_id: str | None, hold_out: Sequence[str]
) -> tuple[list[str], list[str]]:
    """(training ids, evaluation ids): hold-outs never train; evaluation uses the hold-outs, else all training ids."""
    unknown = [s for s in [*hold_out, *([scenario_id] if scenario_id else [])] if all_ids and s not in all_ids]
    if unknown:
        raise ValueError(f"scenario ids {unknown} are not in the scenario matrix (known: {', '.join(all_ids)})")
    train = [scenario_id] if scenario_id else [s for s in all_ids if s not in set(hold_out)]
    if all_ids and not train:
        raise ValueError("every scenario is held out: evaluation.hold_out_scenarios leaves nothing to train on")
    evaluation = list(hold_out) or list(train)
    return train, evaluation


@dataclass
class CrowdNavSource:
    """The embedded simulator through ``trainers.envs.make_env`` with the run's env_overrides and reward."""

    env_overrides: Mapping[str, Any]
    scenario_config: str | None
    reward_name: str | None = None
    reward_kwargs: Mapping[str, Any] = field(default_factory=dict)
    backend: str = "embedded"
    extra_kwargs: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> CrowdNavSource:
        factory = dict(settings.get("env_factory_kwargs") or {})
        reward_name = factory.pop("reward_name", None)
        reward_kwargs = dict(factory.pop("reward_kwargs", None) or {})
        return cls(
            env_overrides=dict(settings.get("env_overrides") or {}),
            scenario_config=settings.get("scenario_config"),
            reward_name=reward_name,
            reward_kwargs=reward_kwargs,
            backend=str(dict(settings.get("env") or {}).get("backend") or "embedded"),
        )

    def scenario_ids(self) -> list[str]:
        if not self.scenario_config:
            return []
        from trainers.envs import load_scenario_matrix

        return [s.name for s in load_scenario_matrix(self.scenario_config)]

    def make(self, *, scenario_id: str | None, exclude: Sequence[str], seed: int | None) -> Any:
        from trainers.envs import make_env

        return make_env(
            dict(self.env_overrides),
            scenario_config=self.scenario_config,
            scenario_id=scenario_id,
            exclude_scenarios=tuple(exclude),
            seed=seed,
            reward_name=self.reward_name,
            reward_kwargs=dict(self.reward_kwargs) or None,
            backend=self.backend,
            **dict(self.extra_kwargs),
        )
