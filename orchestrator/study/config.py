"""A study file: Robot SF's Optuna launcher keys over a trainer config, checked and frozen as a definition.

A study file is loaded like any config (``base_config`` merged, every key's line kept); its study keys
(``schemas/study.schema.json``) are split from the rest, which is the trainer config each trial runs. The study's
runtime keys are written into that trainer config as the trainer's own keys (``trial_timesteps`` -> PPO
``total_timesteps`` / Dreamer ``total_env_steps``, ``eval_every`` -> the evaluation schedule, ``eval_episodes``,
``disable_wandb``, the best checkpoint picked by the study's metric), so a problem there is reported at the study
key's line. Then the trainer config goes through the whole trainer pipeline (``orchestrator.config.check_loaded``),
and the search space is checked against the trainer's schema: every key path must exist, every bound and choice
must be a valid value for its key. ``orch validate`` shows all of it; ``orch study`` freezes the result into the
study's manifest, from which every worker builds its trials.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.config.load import KeyPath, LoadedConfig, Mark, Marks
from orchestrator.config.migrate import STUDY_KIND, TRAINER_KINDS, detect_kind
from orchestrator.config.resolve import ConfigReport, check_loaded
from orchestrator.config.validate import load_schema, validate_loaded
from orchestrator.errors import ConfigError, ConfigIssue
from orchestrator.study.objective import CONSTRAINT_KEYS, default_direction, trainer_metrics
from orchestrator.study.space import DEFAULT_SPACES, Parameter, parse_space, schema_node
from trainers import registry

__all__ = ["STUDY_SCHEMA", "StudyDefinition", "check_study", "load_study", "study_keys", "trial_document"]

STUDY_SCHEMA = "study"
DEFAULT_METRIC = {"ppo_expert": "eval_episode_return", "dreamerv3": "eval_return"}
DEFAULT_PRUNER: dict[str, Any] = {"type": "median"}
DEFAULT_SAMPLER: dict[str, Any] = {"type": "tpe"}
DEFAULTS: dict[str, Any] = {
    "trials": 10,
    "objective_mode": "last_n_mean",
    "objective_window": 3,
    "seed": 123,
    "log_level": "WARNING",
    "constraint_handling": "penalize",
    "disable_wandb": False,
}
# The settings each pruner / sampler type takes (anything else in its block is an error naming the type).
PRUNER_KEYS = {
    "median": {"n_startup_trials", "n_warmup_steps", "interval_steps", "n_min_trials"},
    "percentile": {"percentile", "n_startup_trials", "n_warmup_steps", "interval_steps", "n_min_trials"},
    "successive_halving": {"min_resource", "reduction_factor", "min_early_stopping_rate", "bootstrap_count"},
    "hyperband": {"min_resource", "max_resource", "reduction_factor", "bootstrap_count"},
    "none": set(),
}
SAMPLER_KEYS = {"tpe": {"seed", "n_startup_trials", "multivariate", "constant_liar"}, "random": {"seed"}}
# Their study keys -> each trainer's own key path.
RUNTIME_KEYS: dict[str, dict[str, KeyPath]] = {
    "ppo_expert": {
        "trial_timesteps": ("total_timesteps",),
        "eval_every": ("evaluation", "step_schedule"),
        "eval_episodes": ("evaluation", "evaluation_episodes"),
    },
    "dreamerv3": {
        "trial_timesteps": ("total_env_steps",),
        "eval_every": ("eval_every",),
        "eval_episodes": ("eval_episodes",),
    },
}


def study_keys() -> frozenset[str]:
    """The keys of a study file that belong to the study (the rest is its trainer config)."""
    return frozenset(load_schema(STUDY_SCHEMA)["properties"])


@dataclass(frozen=True)
class StudyDefinition:
    """A checked study: what it optimises, over which space, how, and the trainer config every trial starts from.

    ``trainer_config`` is the merged trainer document (migrated, absolute paths, runtime keys applied); a trial is
    it with the trial's parameters set. ``parallel`` None means auto (as many as the cluster profile runs at once).
    """

    name: str
    trainer: str
    trials: int
    metric: str
    direction: str
    objective_mode: str
    objective_window: int
    seed: int
    log_level: str
    parallel: int | None
    pruner: Mapping[str, Any]
    sampler: Mapping[str, Any]
    space: tuple[Parameter, ...]
    constraints: Mapping[str, float]
    constraint_handling: str
    enqueue: tuple[Mapping[str, Any], ...]
    max_failed_trials: int
    disable_wandb: bool
    trainer_config: Mapping[str, Any]
    config_path: str
    files: tuple[str, ...] = ()
    trial_name: str = "trial"
    notes: tuple[str, ...] = field(default=())

    def definition_hash(self) -> str:
        """What a continued study must share with the one it continues: trainer config, metric, direction,
        objective, constraints and space. Trials, parallel, pruner and sampler may change between submissions."""
        payload = {
            "trainer": self.trainer,
            "metric": self.metric,
            "direction": self.direction,
            "objective": [self.objective_mode, self.objective_window],
            "constraints": dict(self.constraints),
            "constraint_handling": self.constraint_handling,
            "space": [p.to_json() for p in self.space],
            "trainer_config": self.trainer_config,
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def trial_steps(self) -> int | None:
        """Environment steps each trial trains for (its trainer's own key), None when the config has none."""
        node: Any = self.trainer_config
        for key in RUNTIME_KEYS[self.trainer]["trial_timesteps"]:
            node = node.get(str(key)) if isinstance(node, Mapping) else None
        return int(node) if isinstance(node, int | float) else None

    def workers(self, throttle: int | None) -> int:
        """Workers to run: ``parallel``, or with auto the profile's jobs at once (``throttle``); at most ``trials``."""
        wanted = self.parallel if self.parallel is not None else (throttle or 1)
        return max(1, min(int(wanted), self.trials))

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["space"] = [p.to_json() for p in self.space]
        out["definition_hash"] = self.definition_hash()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StudyDefinition:
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        values["space"] = tuple(Parameter.from_json(p) for p in data.get("space") or ())
        values["enqueue"] = tuple(data.get("enqueue") or ())
        values["files"] = tuple(data.get("files") or ())
        values["notes"] = tuple(data.get("notes") or ())
        return cls(**values)


def load_study(
    path: str | os.PathLike[str],
    *,
    overrides: Iterable[str] = (),
    strict: bool = False,
    cpus: int | None = None,
    mem_gb: float | None = None,
) -> tuple[StudyDefinition, list[str]]:
    """Check a study file and return its definition and warnings; :class:`ConfigError` lists every issue."""
    from orchestrator.config import check_config

    report = check_config(path, overrides=overrides, strict=strict, cpus=cpus, mem_gb=mem_gb)
    if report.issues:
        raise ConfigError(report.issues)
    if report.kind != STUDY_KIND or report.study is None:
        what = report.kind or "config"
        raise ConfigError(
            ConfigIssue(str(path), 1, "", f"a {what} file, not a study", "a study file has trials:, metric:, ...")
        )
    return report.study, report.warnings


def check_study(
    loaded: LoadedConfig, report: ConfigReport, *, cpus: int | None = None, mem_gb: float | None = None
) -> None:
    """Every issue of a study file into ``report``; on success ``report.study`` is its :class:`StudyDefinition`
    and ``report.resolved`` the resolved trainer config a trial starts from (before its parameters)."""
    keys = study_keys()
    study = {k: v for k, v in loaded.data.items() if k in keys}
    trainer_doc = {k: copy.deepcopy(v) for k, v in loaded.data.items() if k not in keys}
    report.issues.extend(validate_loaded(LoadedConfig(loaded.path, study, loaded.marks, loaded.files), STUDY_SCHEMA))
    _warn_not_used(loaded, study, report)
    trainer = _trainer_of(loaded, trainer_doc, report)
    if trainer is None:
        return
    shown = [k for k in study if k != "base_config"]
    report.detected_as = f"study of {trainer} (by keys: {', '.join(shown[:3])}{', ...' if len(shown) > 3 else ''})"
    settings = {**DEFAULTS, **study}
    metric = str(settings.get("metric") or DEFAULT_METRIC[trainer])
    report.issues.extend(_metric_issues(loaded, trainer, metric, study))
    trainer_loaded = LoadedConfig(loaded.path, trainer_doc, loaded.marks, loaded.files)
    if not report.issues:
        _apply_runtime(trainer_loaded, trainer, settings, metric)
    sub = check_loaded(trainer_loaded, cpus=cpus, mem_gb=mem_gb)
    report.issues.extend(sub.issues)
    report.warning_issues.extend(sub.warning_issues)
    report.not_applicable.extend(n for n in sub.not_applicable if n not in report.not_applicable)
    report.resolved = sub.resolved
    space, space_issues = _check_space(loaded, trainer, study)
    report.issues.extend(space_issues)
    report.issues.extend(_block_issues(loaded, study))
    report.issues.extend(_enqueue_issues(loaded, study, space))
    if report.issues or sub.resolved is None:
        return
    report.study = _definition(loaded, trainer_loaded, trainer, settings, metric, space)


def _warn_not_used(loaded: LoadedConfig, study: Mapping[str, Any], report: ConfigReport) -> None:
    """Their keys that orch reads but does not follow: ``storage`` (orch's journal instead), ``episodic_snqi``."""
    if "storage" in study:
        report.not_applicable.append("storage")
        report.warning_issues.append(
            loaded.marks.issue(
                ("storage",),
                "not used: orch keeps the study in <artifact_root>/studies/<study_name>/journal.log "
                "(Optuna's journal file, safe on a cluster filesystem where SQLite is not)",
            )
        )
    if study.get("objective_mode") == "episodic_snqi":
        metric = study.get("metric") or "the metric"
        window = study.get("objective_window", DEFAULTS["objective_window"])
        report.warning_issues.append(
            loaded.marks.issue(
                ("objective_mode",),
                f"orch's evaluation computes no SNQI: episodic_snqi averages {metric} over the episodes of the last "
                f"{window} evaluations (the same as last_n_mean)",
            )
        )


def _trainer_of(loaded: LoadedConfig, trainer_doc: Mapping[str, Any], report: ConfigReport) -> str | None:
    """The trainer the study's trainer config is for; None (and the issue in ``report``) when there is none."""
    detection = detect_kind(trainer_doc)
    if detection is not None and detection.kind in TRAINER_KINDS:
        return detection.kind
    key: KeyPath = ("base_config",) if "base_config" in loaded.data else ()
    report.issues.append(
        loaded.marks.issue(
            key,
            "no trainer config to study",
            "set base_config: to a PPO expert or DreamerV3 config (or write its keys in this file)",
        )
    )
    return None


def _metric_issues(loaded: LoadedConfig, trainer: str, metric: str, study: Mapping[str, Any]) -> list[ConfigIssue]:
    known = trainer_metrics(trainer)
    issues = []
    if metric not in known:
        hint = f"{trainer} evaluations report {', '.join(known)}"
        if metric == "snqi":
            hint = f"orch's evaluation computes no SNQI; {hint}"
        issues.append(loaded.marks.issue(("metric",), f"{metric!r} is not an evaluation metric of {trainer}", hint))
    for key, constrained in CONSTRAINT_KEYS.items():
        if key in study and constrained not in known:
            issues.append(
                loaded.marks.issue((key,), f"{trainer} evaluations do not report {constrained}", f"they report {known}")
            )
    return issues


def _put(loaded: LoadedConfig, target: KeyPath, value: Any, source: KeyPath | None) -> None:
    """Set ``target`` in the trainer document; its errors are then reported at ``source`` (the study key)."""
    node: dict[str, Any] = loaded.data
    for key in target[:-1]:
        if not isinstance(node.get(str(key)), dict):
            node[str(key)] = {}
        node = node[str(key)]
    node[str(target[-1])] = copy.deepcopy(value)
    if source is None:
        return
    for stale in [p for p in loaded.marks.by_path if p[: len(target)] == target]:
        del loaded.marks.by_path[stale]
    mark = loaded.marks.find(source)
    if mark is not None:
        loaded.marks.by_path[target] = mark
    loaded.marks.renamed[target] = source


def _apply_runtime(loaded: LoadedConfig, trainer: str, settings: Mapping[str, Any], metric: str) -> None:
    """The study's runtime keys written as the trainer's own keys (what every trial runs with)."""
    for key, target in RUNTIME_KEYS[trainer].items():
        if key not in settings:
            continue
        value = settings[key]
        if trainer == "ppo_expert" and key == "eval_every":
            value = [{"every_steps": int(value)}]
        _put(loaded, target, value, (key,))
    if trainer == "ppo_expert":
        _put(loaded, ("best_checkpoint_metric",), metric, ("metric",) if "metric" in settings else None)
        if loaded.data.get("deterministic"):
            _put(loaded, ("randomize_seeds",), False, ("deterministic",))
    wandb_source: KeyPath | None = ("disable_wandb",) if "disable_wandb" in settings else None
    _put(loaded, ("tracking", "wandb", "enabled"), not settings["disable_wandb"], wandb_source)


def _check_space(
    loaded: LoadedConfig, trainer: str, study: Mapping[str, Any]
) -> tuple[tuple[Parameter, ...], list[ConfigIssue]]:
    """The space (explicit, or the trainer's default) and, for each key, what makes it unusable."""
    import jsonschema

    explicit = study.get("search_space")
    raw = explicit if isinstance(explicit, Mapping) else DEFAULT_SPACES[trainer]
    params, problems = parse_space(raw)
    issues: list[ConfigIssue] = []
    where: KeyPath = ("search_space",)
    for path, messages in problems.items():
        for message in messages:
            issues.append(loaded.marks.issue((*where, path) if explicit else where, message))
    schema = load_schema(registry.get_trainer(trainer).schema)
    for param in params:
        at: KeyPath = (*where, param.path) if explicit else where
        node = schema_node(schema, param.keys)
        if node is None:
            issues.append(
                loaded.marks.issue(at, f"{param.path} is not a key of a {trainer} config", _near(schema, param))
            )
            continue
        if node.get("type") == "object" or "properties" in node:
            issues.append(loaded.marks.issue(at, f"{param.path} is a section of the config, not a value"))
            continue
        validator = jsonschema.Draft202012Validator({**node, "$defs": schema.get("$defs", {})})
        for value in param.values_to_check():
            error = jsonschema.exceptions.best_match(validator.iter_errors(value))
            if error is not None:
                issues.append(loaded.marks.issue(at, f"{value!r} is not a valid {param.path}: {error.message}"))
    return tuple(params), issues


def _near(schema: Mapping[str, Any], param: Parameter) -> str | None:
    """``did you mean 'ppo_hyperparams.n_steps'?`` for a key path one typo away from a real one."""
    import difflib

    *parents, last = param.keys
    parent = schema_node(schema, parents) if parents else schema
    keys = sorted((parent or {}).get("properties") or {})
    close = difflib.get_close_matches(last, keys, n=1, cutoff=0.6)
    return f"did you mean '{'.'.join([*parents, close[0]])}'?" if close else None


def _block_issues(loaded: LoadedConfig, study: Mapping[str, Any]) -> list[ConfigIssue]:
    """Settings of the pruner and the sampler that their type does not take."""
    issues = []
    for key, table in (("pruner", PRUNER_KEYS), ("sampler", SAMPLER_KEYS)):
        block = study.get(key)
        if not isinstance(block, Mapping) or block.get("type") not in table:
            continue
        for extra in sorted(set(block) - {"type"} - table[block["type"]]):
            allowed = ", ".join(sorted(table[block["type"]])) or "no settings"
            issues.append(
                loaded.marks.issue(
                    (key, extra), f"the {block['type']} {key} does not take {extra}", f"it takes {allowed}"
                )
            )
    return issues


def _enqueue_issues(loaded: LoadedConfig, study: Mapping[str, Any], space: tuple[Parameter, ...]) -> list[ConfigIssue]:
    by_path = {p.path: p for p in space}
    issues = []
    for index, entry in enumerate(study.get("enqueue") or ()):
        if not isinstance(entry, Mapping):
            continue
        for path, value in entry.items():
            param = by_path.get(str(path))
            if param is None:
                issues.append(
                    loaded.marks.issue(
                        ("enqueue", index, path), f"{path} is not searched", f"searched: {', '.join(by_path)}"
                    )
                )
            elif not param.contains(value):
                issues.append(loaded.marks.issue(("enqueue", index, path), f"{value!r} is outside {param.describe()}"))
    return issues


def _definition(
    loaded: LoadedConfig,
    trainer_loaded: LoadedConfig,
    trainer: str,
    settings: Mapping[str, Any],
    metric: str,
    space: tuple[Parameter, ...],
) -> StudyDefinition:
    data = trainer_loaded.data
    base_name = str(data.get("name") or data.get("policy_id") or loaded.path.stem)
    parallel = settings.get("parallel", "auto")
    sampler = dict(settings.get("sampler") or DEFAULT_SAMPLER)
    sampler.setdefault("seed", int(settings["seed"]))
    return StudyDefinition(
        name=str(settings.get("study_name") or loaded.path.stem),
        trainer=trainer,
        trials=int(settings["trials"]),
        metric=metric,
        direction=str(settings.get("direction") or default_direction(metric)),
        objective_mode=str(settings["objective_mode"]),
        objective_window=int(settings["objective_window"]),
        seed=int(settings["seed"]),
        log_level=str(settings["log_level"]),
        parallel=None if parallel == "auto" else int(parallel),
        pruner=dict(settings.get("pruner") or DEFAULT_PRUNER),
        sampler=sampler,
        space=space,
        constraints={m: float(settings[k]) for k, m in CONSTRAINT_KEYS.items() if settings.get(k) is not None},
        constraint_handling=str(settings["constraint_handling"]),
        enqueue=tuple(dict(e) for e in settings.get("enqueue") or ()),
        max_failed_trials=int(settings.get("max_failed_trials", settings["trials"])),
        disable_wandb=bool(settings["disable_wandb"]),
        trainer_config={k: v for k, v in data.items() if k != "base_config"},
        config_path=str(loaded.path),
        files=tuple(str(p) for p in loaded.files),
        trial_name=f"{base_name}_optuna",
    )


def trial_document(definition: StudyDefinition, number: int, values: Mapping[str, Any]) -> LoadedConfig:
    """The trainer config of trial ``number``: the study's trainer config with the trial's values set, named after
    the trial (Robot SF's ``<policy_id>_optuna_<NNN>``), as a loaded config whose issues cite the study file."""
    from orchestrator.study.space import apply_params

    document = apply_params(dict(definition.trainer_config), values)
    name = f"{definition.trial_name}_{number:03d}"
    document["name"] = name
    if definition.trainer == "ppo_expert":
        document["policy_id"] = name
    if not definition.disable_wandb and definition.trainer in ("ppo_expert", "dreamerv3"):
        wandb = document.setdefault("tracking", {}).setdefault("wandb", {})
        wandb.setdefault("group", definition.name)
        wandb.setdefault("tags", ["optuna", f"study:{definition.name}", f"trial:{number}"])
    root = Mark(definition.config_path, 1, 1)
    return LoadedConfig(Path(definition.config_path), document, Marks(root=root), [Path(f) for f in definition.files])
