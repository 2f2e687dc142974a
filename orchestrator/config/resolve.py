"""Resolution: a config file becomes one explicit, immutable :class:`ResolvedConfig`, the thing that will run.

The pipeline is load (line marks, base_config, --set) -> detect -> migrate -> validate (JSON Schema) -> referenced files
-> the trainer spec's ``resolve()`` (defaults, num_envs, worker_mode, schedules) -> observation signature -> hash.
:func:`check_config` runs it and returns a :class:`ConfigReport` with every issue (what ``orch validate`` prints);
:func:`resolve_config` raises :class:`~orchestrator.errors.ConfigError` instead (what ``orch run`` uses).
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from manifests.io import sha256_file
from manifests.provenance import allocated_cpus, allocated_memory_gb
from orchestrator.config.load import KeyPath, LoadedConfig, load_config
from orchestrator.config.migrate import (
    CLUSTER_KIND,
    MATRIX_KIND,
    STUDY_KIND,
    TRAINER_KINDS,
    Detection,
    detect_kind,
    detect_study,
    migrate,
)
from orchestrator.config.validate import schema_exists, validate_loaded
from orchestrator.errors import ConfigError, ConfigIssue
from trainers import registry
from trainers.envs import spec as env_spec
from trainers.envs.spec import contract_name, signature_to_json

if TYPE_CHECKING:
    from trainers.envs.spec import EnvProblem

__all__ = [
    "RESOLVED_SCHEMA_VERSION",
    "ConfigReport",
    "ResolvedConfig",
    "check_config",
    "check_loaded",
    "resolve_config",
]

RESOLVED_SCHEMA_VERSION = 1
# Top-level keys that are not trainer settings (they become fields of the resolved document).
_TOP_LEVEL = ("trainer", "name", "seeds", "$schema")
_DEFAULT_SEEDS = (0,)


@dataclass(frozen=True)
class ResolvedConfig:
    """What will run: the trainer's settings with every default filled, seeds, signature and a stable hash."""

    trainer: str
    name: str
    seeds: tuple[int, ...]
    deterministic: bool
    settings: Mapping[str, Any]
    observation_signature: Mapping[str, Mapping[str, Any]]
    config_hash: str
    source: Mapping[str, Any]
    warnings: tuple[str, ...] = ()
    not_applicable: tuple[str, ...] = ()
    randomize_seeds: bool = False

    def run_seeds(self) -> tuple[int, ...]:
        """The seed of each run: the listed seeds, or with ``randomize_seeds`` one freshly drawn seed per run (one
        per listed seed, one when none are listed). The launcher records a drawn seed in the run's ``resolved.json``
        and ``run.json``, so ``--seed`` repeats the run."""
        if not self.randomize_seeds:
            return self.seeds
        return tuple(secrets.randbelow(2**31) for _ in range(max(1, len(self.seeds))))

    def to_json(self) -> dict[str, Any]:
        """The resolved document (``resolved.json`` shape) with ``seed`` null: the config, not one run of it."""
        return {
            "schema_version": RESOLVED_SCHEMA_VERSION,
            "trainer": self.trainer,
            "name": self.name,
            "source": copy.deepcopy(dict(self.source)),
            "seeds": list(self.seeds),
            "seed": None,
            "deterministic": self.deterministic,
            "settings": copy.deepcopy(dict(self.settings)),
            "observation_signature": copy.deepcopy(dict(self.observation_signature)),
            "config_hash": self.config_hash,
            "warnings": list(self.warnings),
            "not_applicable": list(self.not_applicable),
            "randomize_seeds": self.randomize_seeds,
        }

    def for_seed(self, seed: int) -> dict[str, Any]:
        """The resolved document of the one run with ``seed`` (the launcher writes it as ``resolved.json``)."""
        document = self.to_json()
        document["seed"] = int(seed)
        return document


@dataclass
class ConfigReport:
    """Everything ``orch validate`` says about one file."""

    path: Path
    kind: str | None = None
    detected_as: str | None = None
    issues: list[ConfigIssue] = field(default_factory=list)
    warning_issues: list[ConfigIssue] = field(default_factory=list)
    not_applicable: list[str] = field(default_factory=list)
    resolved: ResolvedConfig | None = None
    study: Any = None  # a study file: its StudyDefinition (orchestrator.study.config); resolved is its trial config

    @property
    def warnings(self) -> list[str]:
        """Warnings as ``file:line: key.path: message`` lines."""
        return [w.format() for w in self.warning_issues]

    @property
    def valid(self) -> bool:
        return not self.issues


def resolve_config(
    path: str | os.PathLike[str],
    *,
    overrides: Iterable[str] = (),
    strict: bool = False,
    cpus: int | None = None,
    mem_gb: float | None = None,
) -> ResolvedConfig:
    """Resolve a trainer config; raise :class:`ConfigError` listing every issue (warnings too when ``strict``)."""
    report = check_config(path, overrides=overrides, strict=strict, cpus=cpus, mem_gb=mem_gb)
    if report.issues:
        raise ConfigError(report.issues)
    if report.kind == STUDY_KIND:
        raise ConfigError(
            ConfigIssue(str(report.path), 1, "", "a study file, not a trainer config", f"run it with orch study {path}")
        )
    if report.resolved is None:
        raise ConfigError(
            ConfigIssue(
                str(report.path),
                1,
                "",
                f"a {report.kind} file, not a trainer config",
                "pass a PPO expert or DreamerV3 config",
            )
        )
    return report.resolved


def check_config(
    path: str | os.PathLike[str],
    *,
    overrides: Iterable[str] = (),
    strict: bool = False,
    cpus: int | None = None,
    mem_gb: float | None = None,
) -> ConfigReport:
    """Run the whole pipeline on one file and collect every issue instead of stopping at the first."""
    report = ConfigReport(path=Path(path))
    try:
        loaded = load_config(path, overrides=overrides)
    except ConfigError as exc:
        report.issues.extend(exc.issues)
        return report
    detection = _detect(loaded, report)
    if detection is None:
        return report
    report.kind, report.detected_as = detection.kind, detection.how
    if detection.kind == CLUSTER_KIND:
        _check_cluster(loaded, report)
    elif detection.kind == MATRIX_KIND:
        report.issues.extend(_located(loaded, env_spec.check_env(scenario_config=loaded.path)))
    elif detection.kind == STUDY_KIND:
        from orchestrator.study.config import check_study  # a study file holds a trainer config (checked below)

        check_study(loaded, report, cpus=cpus, mem_gb=mem_gb)
    else:
        _check_trainer_config(loaded, detection, report, cpus=cpus, mem_gb=mem_gb)
    return _strict(report, strict)


def check_loaded(
    loaded: LoadedConfig,
    *,
    strict: bool = False,
    cpus: int | None = None,
    mem_gb: float | None = None,
) -> ConfigReport:
    """The pipeline after loading, on a trainer config built in memory (a study's trial: its base config with the
    trial's parameters set), so its issues still cite the files and lines its keys came from."""
    report = ConfigReport(path=loaded.path)
    detection = _detect(loaded, report)
    if detection is None:
        return report
    report.kind, report.detected_as = detection.kind, detection.how
    if detection.kind not in TRAINER_KINDS:
        report.issues.append(loaded.marks.issue((), f"a {detection.kind} document, not a trainer config"))
        return report
    _check_trainer_config(loaded, detection, report, cpus=cpus, mem_gb=mem_gb)
    return _strict(report, strict)


def _strict(report: ConfigReport, strict: bool) -> ConfigReport:
    """Under ``--strict`` every warning is also an error, and nothing resolves."""
    if strict and report.warning_issues:
        report.issues.extend(
            replace(w, message=f"{w.message} (a warning, an error under --strict)") for w in report.warning_issues
        )
        report.resolved = None
        report.study = None
    return report


# ------------------------------------------------------------------------------------------------ steps
def _detect(loaded: LoadedConfig, report: ConfigReport) -> Detection | None:
    detection = detect_study(loaded.data) or detect_kind(loaded.data)
    if detection is not None:
        return detection
    trainer = loaded.data.get("trainer")
    if trainer is not None:
        close = difflib.get_close_matches(str(trainer), TRAINER_KINDS, n=1, cutoff=0.4)
        hint = f"did you mean '{close[0]}'?" if close else f"one of: {', '.join(TRAINER_KINDS)}"
        report.issues.append(loaded.marks.issue(("trainer",), f"unknown trainer {trainer!r}", hint))
    else:
        report.issues.append(
            loaded.marks.issue(
                (), "cannot tell which trainer this config is for", "add `trainer: ppo_expert` or `trainer: dreamerv3`"
            )
        )
    return None


def _check_cluster(loaded: LoadedConfig, report: ConfigReport) -> None:
    if schema_exists("cluster"):
        report.issues.extend(validate_loaded(loaded, "cluster"))
    else:
        report.warning_issues.append(
            loaded.marks.issue((), "no cluster schema is installed; the profile was only parsed")
        )


def _check_trainer_config(
    loaded: LoadedConfig, detection: Detection, report: ConfigReport, *, cpus: int | None, mem_gb: float | None
) -> None:
    migration = migrate(loaded, detection)
    report.warning_issues.extend(migration.warnings)
    report.not_applicable.extend(migration.not_applicable)
    report.issues.extend(migration.issues)
    schema = registry.get_trainer(detection.kind).schema
    report.issues.extend(validate_loaded(loaded, schema))
    report.issues.extend(_missing_files(loaded, detection.kind))
    if report.issues:
        return
    spec = registry.load_spec(detection.kind)
    raw = {k: v for k, v in loaded.data.items() if k not in _TOP_LEVEL}
    cpus = allocated_cpus() if cpus is None else cpus
    mem_gb = allocated_memory_gb() if mem_gb is None else mem_gb
    try:
        settings = spec.resolve(raw, cpus=cpus, mem_gb=mem_gb)
    except ValueError as exc:  # a spec's own range rule (e.g. too many evaluations)
        key: KeyPath = ("evaluation", "step_schedule") if detection.kind == "ppo_expert" else ()
        report.issues.append(loaded.marks.issue(key, str(exc)))
        return
    report.issues.extend(_semantic_issues(loaded, detection.kind, settings))
    report.issues.extend(_env_issues(loaded, detection.kind, settings))
    if settings.get("randomize_seeds") and loaded.data.get("seeds"):
        count = len(loaded.data["seeds"])
        report.warning_issues.append(
            loaded.marks.issue(
                ("seeds",),
                f"randomize_seeds: true, so these seeds are not used: each of the {count} runs draws its own seed",
                "the drawn seed is recorded in run.json; repeat a run with --seed",
            )
        )
    try:
        signature = signature_to_json(spec.observation_signature(settings))
    except ValueError as exc:
        key = ("env", "flatten_keys") if detection.kind == "dreamerv3" else ("env_overrides",)
        report.issues.append(loaded.marks.issue(key, str(exc)))
        return
    if report.issues:
        return
    report.resolved = _build(loaded, detection, settings, raw, signature, migration.mapping, report, cpus, mem_gb)


def _missing_files(loaded: LoadedConfig, kind: str) -> list[ConfigIssue]:
    """A referenced file that does not exist is an error naming the path tried."""
    key = ("scenario_config",) if kind == "ppo_expert" else ("env", "scenario_config")
    value: Any = loaded.data
    for part in key:
        value = value.get(part) if isinstance(value, dict) else None
    if not isinstance(value, str) or Path(value).is_file():
        return []
    mark = loaded.marks.find(key)
    folder = Path(mark.file).parent if mark and mark.line is not None else Path.cwd()
    return [loaded.marks.issue(key, f"file not found: {value}", f"relative paths are resolved against {folder}")]


def _env_issues(loaded: LoadedConfig, kind: str, settings: Mapping[str, Any]) -> list[ConfigIssue]:
    """Everything that would fail when the run builds its envs (``trainers.envs.spec.check_env``, light)."""
    if kind == "dreamerv3":
        env = settings["env"]
        if env.get("id") != "crowdnav":
            return []
        keys = env_spec.EnvKeys(
            scenario_config=("env", "scenario_config"),
            scenario_id=("env", "scenario_id"),
            hold_outs=("env", "hold_out_scenarios"),
            env_overrides=("env", "config"),
            factory_kwargs=("env", "factory_kwargs"),
        )
        problems = env_spec.check_env(
            scenario_config=env.get("scenario_config"),
            scenario_id=env.get("scenario_id"),
            env_overrides=env.get("config"),
            factory_kwargs=env.get("factory_kwargs"),
            backend=env.get("backend", "embedded"),
            flatten_keys=env["flatten_keys"] if env.get("flatten_observation") else None,
            keys=keys,
        )
    else:
        problems = env_spec.check_env(
            scenario_config=settings.get("scenario_config"),
            scenario_id=settings.get("scenario_id"),
            hold_outs=settings["evaluation"].get("hold_out_scenarios") or (),
            env_overrides=settings.get("env_overrides"),
            factory_kwargs=settings.get("env_factory_kwargs"),
            backend=(settings.get("env") or {}).get("backend", "embedded"),
        )
    return _located(loaded, problems)


def _located(loaded: LoadedConfig, problems: Iterable[EnvProblem]) -> list[ConfigIssue]:
    """Env problems as config issues: at their scenario file's line, or at their key in this config."""
    issues = []
    for problem in problems:
        if problem.file is not None:
            issues.append(ConfigIssue(problem.file, problem.line, problem.file_key, problem.message))
        else:
            issues.append(loaded.marks.issue(problem.config_key, problem.message))
    return issues


def _semantic_issues(loaded: LoadedConfig, kind: str, settings: Mapping[str, Any]) -> list[ConfigIssue]:
    """Cross-key rules a schema cannot say."""
    issues: list[ConfigIssue] = []
    if kind == "ppo_expert" and settings["feature_extractor"] == "grid_socnav":
        overrides = settings["env_overrides"]
        if contract_name(overrides) != "socnav_grid":
            issues.append(
                loaded.marks.issue(
                    ("feature_extractor",),
                    "grid_socnav needs the occupancy grid in the observation",
                    "set env_overrides.observation_mode: socnav_struct, use_occupancy_grid: true and "
                    "include_grid_in_observation: true",
                )
            )
    if kind == "ppo_expert":
        for key, message in registry.load_spec(kind).extractor_kwargs_problems(settings).items():
            issues.append(loaded.marks.issue(("feature_extractor_kwargs", key), message))
        ppo = settings["ppo_hyperparams"]
        if ppo["batch_size"] > ppo["n_steps"] * settings["num_envs"]:
            issues.append(
                loaded.marks.issue(
                    ("ppo_hyperparams", "batch_size"),
                    f"batch_size {ppo['batch_size']} > n_steps x num_envs ({ppo['n_steps']} x {settings['num_envs']})",
                    "lower batch_size or raise n_steps",
                )
            )
    if kind == "dreamerv3" and (settings["env"].get("config") or {}).get("use_image_obs"):
        issues.append(
            loaded.marks.issue(
                ("env", "config", "use_image_obs"), "image observations are not supported", "set use_image_obs: false"
            )
        )
    return issues


def _build(
    loaded: LoadedConfig,
    detection: Detection,
    settings: dict[str, Any],
    raw: Mapping[str, Any],
    signature: dict[str, dict[str, Any]],
    mapping: Mapping[str, str],
    report: ConfigReport,
    cpus: int,
    mem_gb: float | None,
) -> ResolvedConfig:
    data = loaded.data
    kind = detection.kind
    name = str(data.get("name") or (settings.get("policy_id") if kind == "ppo_expert" else None) or loaded.path.stem)
    randomize = bool(settings.get("randomize_seeds", False))
    listed = data.get("seeds")
    seeds = tuple(int(s) for s in (listed if listed or randomize else _DEFAULT_SEEDS) or ())
    deterministic = bool(settings.get("deterministic", False))
    auto: dict[str, str] = {}
    if raw.get("num_envs", "auto") == "auto":
        mem = f", {mem_gb:.0f} GB" if mem_gb is not None else ""
        auto["num_envs"] = f"auto: {settings['num_envs']} from {cpus} CPUs{mem}"
    if kind == "ppo_expert" and raw.get("worker_mode", "auto") == "auto":
        auto["worker_mode"] = f"auto: {settings['worker_mode']}"
    source = {
        "path": str(loaded.path),
        "detected_as": detection.how,
        "files": [str(p) for p in loaded.files],
        "auto": auto,
        "migrated": dict(mapping),
    }
    return ResolvedConfig(
        trainer=kind,
        name=name,
        seeds=seeds,
        deterministic=deterministic,
        settings=settings,
        observation_signature=signature,
        config_hash=_content_hash(kind, name, seeds, deterministic, settings, raw, signature),
        source=source,
        warnings=tuple(report.warnings),
        not_applicable=tuple(report.not_applicable),
        randomize_seeds=randomize,
    )


def _content_hash(
    kind: str,
    name: str,
    seeds: tuple[int, ...],
    deterministic: bool,
    settings: Mapping[str, Any],
    raw: Mapping[str, Any],
    signature: Mapping[str, Any],
) -> str:
    """sha256 of the canonical JSON of what runs, without the run's seed. Machine-dependent ``auto`` decisions are
    hashed as written (``auto``) and referenced files by content, so hosts and checkouts agree."""
    hashed = copy.deepcopy(dict(settings))
    for key in ("num_envs", "worker_mode"):
        if key in hashed and raw.get(key, "auto") == "auto":
            hashed[key] = "auto"
    # referenced files count by content, not location: the same config in another checkout hashes the same
    for section in (hashed, hashed.get("env")):
        if isinstance(section, dict) and isinstance(section.get("scenario_config"), str):
            section["scenario_config"] = _file_fingerprint(Path(section["scenario_config"]))
    document = {
        "trainer": kind,
        "name": name,
        "seeds": list(seeds),
        "deterministic": deterministic,
        "settings": hashed,
        "observation_signature": signature,
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _file_fingerprint(path: Path) -> str:
    """``name@sha256:<hex>`` of a referenced file (its path when it cannot be read)."""
    try:
        return f"{path.name}@sha256:{sha256_file(path)}"
    except OSError:
        return str(path)
