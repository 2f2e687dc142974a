"""Scenario matrices read by Robot SF's own loader, and one Robot SF config per scenario.

``load_scenarios`` expands includes and rebases map paths; ``build_robot_config_from_scenario`` turns a scenario's
``simulation_config`` (``max_episode_steps`` into ``sim_time_in_secs``, ``ped_density`` into
``ped_density_by_difficulty[difficulty]``), ``robot_config``, map and ``single_pedestrians`` into a
``RobotSimulationConfig``; :func:`.overrides.apply_env_overrides` then applies the run's ``env_overrides`` on top,
exactly the order of Robot SF's PPO trainer. A scenario whose map Robot SF cannot load is an error here (Robot SF only
logs a warning and would fall back to its default maps).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainers.envs.robot_sf.imports import import_robot_sf
from trainers.envs.robot_sf.overrides import apply_env_overrides

__all__ = ["RobotSFMatrix", "scenario_name", "scenario_names"]


def scenario_name(scenario: Mapping[str, Any], index: int) -> str:
    """A scenario's id as Robot SF's sampler derives it (``name``, else ``scenario_id``)."""
    sampling = import_robot_sf("robot_sf.training.scenario_sampling")
    return str(sampling.scenario_id_from_definition(scenario, index=index))


@dataclass
class RobotSFMatrix:
    """The scenarios of one matrix file as Robot SF loads them."""

    path: Path
    scenarios: list[Mapping[str, Any]]

    @classmethod
    def load(cls, path: str | Path) -> RobotSFMatrix:
        """Every scenario of ``path``, includes expanded (Robot SF's ``load_scenarios``)."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: scenario file not found")
        loader = import_robot_sf("robot_sf.training.scenario_loader")
        try:
            scenarios = list(loader.load_scenarios(path))
        except (ValueError, OSError) as exc:
            raise ValueError(f"{path}: Robot SF cannot load this matrix: {exc}") from None
        return cls(path=path.resolve(), scenarios=scenarios)

    @property
    def names(self) -> list[str]:
        return [scenario_name(s, i) for i, s in enumerate(self.scenarios)]

    def select(self, *, scenario_id: str | None = None, exclude: Iterable[str] = ()) -> list[Mapping[str, Any]]:
        """One scenario by name, or all but ``exclude``; unknown names are errors listing the matrix's names."""
        names = self.names
        exclude = list(exclude)
        unknown = [n for n in [*exclude, *([scenario_id] if scenario_id else [])] if n not in names]
        if unknown:
            raise ValueError(f"unknown scenario name(s) {unknown}; the matrix has {names}")
        if scenario_id:
            if scenario_id in exclude:
                raise ValueError(f"scenario {scenario_id!r} is both selected and held out")
            return [self.scenarios[names.index(scenario_id)]]
        chosen = [s for s, n in zip(self.scenarios, names, strict=True) if n not in set(exclude)]
        if not chosen:
            raise ValueError("every scenario of the matrix is held out; nothing is left to train on")
        return chosen

    def build_config(self, scenario: Mapping[str, Any], env_overrides: Mapping[str, Any] | None) -> Any:
        """Robot SF's config for ``scenario`` with ``env_overrides`` applied as its PPO trainer applies them."""
        loader = import_robot_sf("robot_sf.training.scenario_loader")
        name = str(scenario.get("name") or scenario.get("scenario_id") or "?")
        try:
            config = loader.build_robot_config_from_scenario(scenario, scenario_path=self.path)
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise ValueError(f"{self.path}: scenario {name!r}: Robot SF cannot build it: {exc}") from None
        if scenario.get("map_file") and getattr(config, "map_id", None) is None:
            raise ValueError(
                f"{self.path}: scenario {name!r}: Robot SF cannot load map_file {scenario['map_file']!r} "
                "(relative to the matrix file or its map_search_paths)"
            )
        apply_env_overrides(config, env_overrides)
        return config


def scenario_names(scenarios: Sequence[Mapping[str, Any]]) -> list[str]:
    """Names of ``scenarios`` in order."""
    return [scenario_name(s, i) for i, s in enumerate(scenarios)]
