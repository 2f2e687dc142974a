"""What ``orch validate`` checks about a config's environment: everything that would fail when its envs are built.

It runs the loaders the env itself runs (scenario matrix with includes, SVG maps, single pedestrians against their
maps, settings of every scenario, reward name and keywords, hold-out and scenario names, one observation space across
the training scenarios), so "valid" means "builds", and it stays light: yaml, numpy and svgelements, never gymnasium,
torch or SB3. Problems come back located either in the trainer config (a key path there) or in a scenario file
(file, line, key path there), for ``file:line`` messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainers.envs.contracts import observation_signature
from trainers.envs.crowdnav.mapdef import MapError
from trainers.envs.crowdnav.rewards import check_reward
from trainers.envs.crowdnav.settings import merged_overrides, settings_problems
from trainers.envs.crowdnav.singles import SinglePedestrianError, resolve_single_pedestrians
from trainers.envs.crowdnav.svgmap import load_svg_map
from trainers.envs.resources import DEFAULT_SCENARIO, default_matrix_path
from trainers.envs.scenarios import Scenario, ScenarioError, load_scenario_matrix

__all__ = ["EnvKeys", "EnvProblem", "check_env"]

KeyPath = tuple[str | int, ...]
FACTORY_KEYWORDS = frozenset(
    {
        "reward_name",
        "reward_kwargs",
        "peds_have_obstacle_forces",
        "debug",
        "recording_enabled",
        "record_video",
        "video_path",
        "video_fps",
        "recording_dir",
        "use_jsonl_recording",
    }
)


@dataclass(frozen=True)
class EnvProblem:
    """One reason the env would not build: in the trainer config (``config_key``) or in a scenario ``file``."""

    message: str
    config_key: KeyPath = ()
    file: str | None = None
    line: int | None = None
    file_key: str = ""


@dataclass(frozen=True)
class EnvKeys:
    """Where the env settings live in a trainer config (the PPO expert's layout by default)."""

    scenario_config: KeyPath = ("scenario_config",)
    scenario_id: KeyPath = ("scenario_id",)
    hold_outs: KeyPath = ("evaluation", "hold_out_scenarios")
    env_overrides: KeyPath = ("env_overrides",)
    factory_kwargs: KeyPath = ("env_factory_kwargs",)


def _config_key(keys: EnvKeys, dotted: str) -> KeyPath:
    """``env_overrides.sim_config.x`` (settings' naming) -> the key path in the trainer config."""
    parts = dotted.split(".")
    if parts[0] == "env_overrides":
        return (*keys.env_overrides, *parts[1:])
    return (*keys.env_overrides, *parts)


def _without_file(message: str, file: str | None) -> str:
    """The message without a leading ``<file>: `` (the location is printed in front of it anyway)."""
    return message[len(file) + 2 :] if file and message.startswith(f"{file}: ") else message


def _scenario_problem(scenario: Scenario, message: str, *keys: str | int) -> EnvProblem:
    index = scenario.line_of()  # the entry's own line; keys below it
    path = scenario.key
    for part in keys:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    where = f"scenario {scenario.name!r}"
    return EnvProblem(
        message=f"{where}: {_without_file(message, str(scenario.source))}",
        file=str(scenario.source),
        line=scenario.line_of(*keys) or index,
        file_key=path,
    )


def _check_scenario(scenario: Scenario, env_overrides: Mapping[str, Any]) -> list[EnvProblem]:
    """Map, settings and single pedestrians of one scenario (the overrides themselves are checked once, before)."""
    problems = []
    scenario_sections = {"simulation_config": scenario.simulation_config, "robot_config": scenario.robot_config}
    for key, message in settings_problems(env_overrides, scenario_sections):
        if not key.startswith("env_overrides"):
            problems.append(_scenario_problem(scenario, message, *key.split(".")))
    try:
        mapdef = load_svg_map(scenario.map_path)
    except MapError as exc:
        key = "map_file" if scenario.line_of("map_file") != scenario.line_of() else "map_id"
        return [*problems, _scenario_problem(scenario, str(exc), key)]
    try:
        resolve_single_pedestrians(mapdef, scenario.single_pedestrians)
    except SinglePedestrianError as exc:
        at: tuple[str | int, ...] = ("single_pedestrians",)
        if exc.index is not None:
            at = (*at, exc.index, *((exc.key,) if exc.key else ()))
        problems.append(_scenario_problem(scenario, str(exc), *at))
    return problems


def _names_problems(
    scenarios: Sequence[Scenario], scenario_id: str | None, hold_outs: Sequence[str], keys: EnvKeys
) -> list[EnvProblem]:
    names = [s.name for s in scenarios]
    problems = []
    import difflib

    def unknown(name: str, key: KeyPath) -> EnvProblem:
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"the matrix has {len(names)}: {', '.join(names[:8])}"
        return EnvProblem(f"no scenario named {name!r} in the scenario matrix ({hint})", config_key=key)

    if scenario_id and scenario_id not in names:
        problems.append(unknown(scenario_id, keys.scenario_id))
    for i, name in enumerate(hold_outs):
        if name not in names:
            problems.append(unknown(str(name), (*keys.hold_outs, i)))
    if scenario_id and scenario_id in hold_outs:
        problems.append(EnvProblem(f"scenario {scenario_id!r} is both trained on and held out", keys.scenario_id))
    if not scenario_id and hold_outs and not set(names) - set(hold_outs):
        problems.append(
            EnvProblem("every scenario of the matrix is held out; nothing is left to train on", keys.hold_outs)
        )
    return problems


def _space_problems(
    training: Sequence[Scenario], env_overrides: Mapping[str, Any], flatten_keys: Sequence[str] | None, keys: EnvKeys
) -> list[EnvProblem]:
    """The scenarios one switching env samples must all give one observation space."""
    signatures: dict[str, list[str]] = {}
    for scenario in training:
        sections = {"simulation_config": scenario.simulation_config, "robot_config": scenario.robot_config}
        try:
            signature = observation_signature(merged_overrides(env_overrides, sections), flatten_keys=flatten_keys)
        except ValueError as exc:
            return [EnvProblem(str(exc), config_key=keys.env_overrides)]
        signatures.setdefault(repr(sorted(signature.items())), []).append(scenario.name)
    if len(signatures) <= 1:
        return []
    groups = "; ".join(", ".join(names[:3]) for names in signatures.values())
    return [EnvProblem(f"the training scenarios give different observation spaces ({groups})", keys.env_overrides)]


def _factory_problems(factory_kwargs: dict[str, Any], backend: str, keys: EnvKeys) -> list[EnvProblem]:
    """Unknown factory keywords, and a reward name or reward keywords the backend does not have."""
    problems = [
        EnvProblem(f"unknown keyword {k!r} (known: {', '.join(sorted(FACTORY_KEYWORDS))})", (*keys.factory_kwargs, k))
        for k in sorted(set(factory_kwargs) - FACTORY_KEYWORDS)
    ]
    try:
        check_reward(factory_kwargs.get("reward_name"), factory_kwargs.get("reward_kwargs"), backend=backend)
    except ValueError as exc:
        at = "reward_kwargs" if "reward_kwargs" in str(exc) else "reward_name"
        problems.append(EnvProblem(str(exc), config_key=(*keys.factory_kwargs, at)))
    return problems


def check_env(
    *,
    scenario_config: str | Path | None,
    scenario_id: str | None = None,
    hold_outs: Sequence[str] = (),
    env_overrides: Mapping[str, Any] | None = None,
    factory_kwargs: Mapping[str, Any] | None = None,
    backend: str = "embedded",
    flatten_keys: Sequence[str] | None = None,
    keys: EnvKeys = EnvKeys(),
) -> list[EnvProblem]:
    """Every problem that would stop this env from being built or stepped; [] when it builds."""
    env_overrides = dict(env_overrides or {})
    problems = _factory_problems(dict(factory_kwargs or {}), backend, keys)
    problems += [EnvProblem(msg, config_key=_config_key(keys, key)) for key, msg in settings_problems(env_overrides)]
    if scenario_config is None:
        scenario_config = default_matrix_path()
        scenario_id = scenario_id or DEFAULT_SCENARIO
    try:
        scenarios = load_scenario_matrix(scenario_config)
    except ScenarioError as exc:
        if exc.file is None:
            return [*problems, EnvProblem(str(exc), config_key=keys.scenario_config)]
        return [
            *problems,
            EnvProblem(_without_file(str(exc), exc.file), file=exc.file, line=exc.line, file_key=exc.key),
        ]
    names_problems = _names_problems(scenarios, scenario_id, hold_outs, keys)
    problems += names_problems
    if not any(p.config_key[: len(keys.env_overrides)] == keys.env_overrides for p in problems):
        for scenario in scenarios:  # every scenario: training ones are sampled, hold-outs are evaluated on
            problems += _check_scenario(scenario, env_overrides)
        if not names_problems:
            training = [s for s in scenarios if (s.name == scenario_id if scenario_id else s.name not in hold_outs)]
            problems += _space_problems(training, env_overrides, flatten_keys, keys)
    return problems
