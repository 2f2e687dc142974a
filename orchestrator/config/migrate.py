"""Recognising what a config is for, and migrating Robot SF's old names to orch's, each with a warning.

Detection: a ``trainer:`` key decides; otherwise the shape does (a Robot SF PPO expert config has ``policy_id`` +
``scenario_config`` + ``total_timesteps``; a Robot SF RLlib Dreamer config has ``experiment`` + ``algorithm.training``;
a cluster profile has keys such as ``backend``, ``partition``, ``cpus_per_task``), and the answer says which it took.

Migrations (each leaves a warning; contradicting values are errors):

* ``peds_have_obstacle_forces`` (in env_overrides or the env factory kwargs) -> ``peds_have_static_obstacle_forces``.
* ``peds_have_robot_repulsion`` mirrored into ``sim_config.prf_config.is_active`` (its only effective form).
* ``evaluation.frequency_episodes`` dropped (ignored upstream too).
* Robot SF RLlib Dreamer: ``algorithm.training`` renamed to orch's names, ``experiment`` mapped (train_iterations and
  checkpoint_every from RLlib iterations to env steps, seed -> seeds, run_id -> name), and ``ray``,
  ``algorithm.{framework, env_runners, resources, learners, api_stack}``, ``experiment.{output_root, log_level}`` and
  ``tracking.wandb.dir`` reported as not applicable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.config.load import KeyPath, LoadedConfig, format_path
from orchestrator.errors import ConfigIssue

__all__ = [
    "STUDY_KIND",
    "STUDY_MARKERS",
    "TRAINER_KINDS",
    "Detection",
    "MigrationResult",
    "detect_kind",
    "detect_study",
    "migrate",
]

TRAINER_KINDS = ("ppo_expert", "dreamerv3")
CLUSTER_KIND = "cluster"
MATRIX_KIND = "scenario_matrix"
STUDY_KIND = "study"
# Keys only a hyperparameter study file has (Robot SF's launcher keys and orch's own): such a file is a study of the
# trainer config it is merged over (``orchestrator.study.config``), whatever that config's own keys say.
STUDY_MARKERS = (
    "trials",
    "objective_mode",
    "objective_window",
    "study_name",
    "trial_timesteps",
    "search_space",
    "pruner",
    "sampler",
    "parallel",
    "enqueue",
    "constraint_handling",
    "constraint_collision_rate_max",
    "constraint_comfort_exposure_max",
    "disable_wandb",
)
_MATRIX_MARKERS = ("scenarios", "includes", "include", "scenario_files")

_PPO_SHAPE = ("policy_id", "scenario_config", "total_timesteps")
_PPO_MARKERS = {
    *_PPO_SHAPE,
    "ppo_hyperparams",
    "feature_extractor",
    "env_overrides",
    "env_factory_kwargs",
    "worker_mode",
    "policy_net_arch",
    "evaluation",
    "feature_extractor_kwargs",
    "best_checkpoint_metric",
}
_DREAMER_MARKERS = {
    "experiment",
    "algorithm",
    "ray",
    "model_size",
    "train_ratio",
    "batch_length",
    "horizon",
    "world_model_lr",
    "total_env_steps",
    "replay_capacity",
    "mode",
    "eval_every",
}
_CLUSTER_MARKERS = (
    "cluster",
    "executor",
    "backend",
    "partition",
    "cpus_per_task",
    "time_min",
    "mem_gb",
    "gres",
    "max_array_size",
    "array_parallelism",
    "signal_delay_s",
    "max_requeues",
    "scheduler_options",
)

# RLlib DreamerV3 training names -> orch's.
RLLIB_TRAINING_NAMES = {
    "model_size": "model_size",
    "training_ratio": "train_ratio",
    "batch_size_B": "batch_size",
    "batch_length_T": "batch_length",
    "horizon_H": "horizon",
    "world_model_lr": "world_model_lr",
    "actor_lr": "actor_lr",
    "critic_lr": "critic_lr",
}
RLLIB_NOT_APPLICABLE = ("framework", "env_runners", "resources", "learners", "api_stack")
RLLIB_DEFAULT_FRAGMENT = 1  # RLlib's "auto" fragment length for DreamerV3 samples one step per env per iteration


@dataclass(frozen=True)
class Detection:
    """What a config was taken for and why (``how`` is shown to the user)."""

    kind: str
    how: str
    robot_sf_rllib: bool = False


@dataclass
class MigrationResult:
    """Warnings (located like errors), not-applicable reports and errors of one migration pass."""

    warnings: list[ConfigIssue] = field(default_factory=list)
    not_applicable: list[str] = field(default_factory=list)
    issues: list[ConfigIssue] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)


def detect_study(data: Mapping[str, Any]) -> Detection | None:
    """A hyperparameter study file (it has a study key), whatever its trainer config's keys say; else None."""
    found = [k for k in STUDY_MARKERS if k in data]
    return Detection(STUDY_KIND, f"study (by keys: {', '.join(found[:3])})") if found else None


def detect_kind(data: Mapping[str, Any]) -> Detection | None:
    """Decide which trainer (or a cluster profile) ``data`` is for; None when nothing fits (the caller reports it)."""
    trainer = data.get("trainer")
    training = data.get("algorithm", {}).get("training") if isinstance(data.get("algorithm"), dict) else None
    rllib = "experiment" in data and isinstance(training, dict)
    if isinstance(trainer, str) and trainer in TRAINER_KINDS:
        return Detection(trainer, f"{trainer} (trainer key)", robot_sf_rllib=rllib and trainer == "dreamerv3")
    if trainer is not None:
        return None
    return _by_shape(data, rllib) or _by_partial_shape(data)


def _by_shape(data: Mapping[str, Any], rllib: bool) -> Detection | None:
    """A file without ``trainer:`` whose keys are those of one kind of file."""
    trainer_keys = set(data) & (_PPO_MARKERS | _DREAMER_MARKERS)
    if any(k in data for k in _CLUSTER_MARKERS) and not trainer_keys:
        shown = ", ".join([k for k in _CLUSTER_MARKERS if k in data][:3])
        return Detection(CLUSTER_KIND, f"cluster profile (by shape: {shown})")
    if any(k in data for k in _MATRIX_MARKERS) and not trainer_keys:
        return Detection(MATRIX_KIND, "scenario matrix (by shape: scenarios/includes)")
    if all(k in data for k in _PPO_SHAPE):
        return Detection(
            "ppo_expert",
            "ppo_expert (by shape: Robot SF PPO expert config: policy_id + scenario_config + total_timesteps)",
        )
    if rllib:
        return Detection(
            "dreamerv3",
            "dreamerv3 (by shape: Robot SF RLlib DreamerV3 config: experiment + algorithm.training)",
            robot_sf_rllib=True,
        )
    return None


def _by_partial_shape(data: Mapping[str, Any]) -> Detection | None:
    """The trainer most of whose keys the file has; None on a tie."""
    ppo, dreamer = set(data) & _PPO_MARKERS, set(data) & _DREAMER_MARKERS
    if len(ppo) > len(dreamer):
        return Detection("ppo_expert", f"ppo_expert (by partial shape: has {', '.join(sorted(ppo))})")
    if len(dreamer) > len(ppo):
        keys = ", ".join(sorted(dreamer))
        return Detection("dreamerv3", f"dreamerv3 (by partial shape: has {keys})", robot_sf_rllib="experiment" in data)
    return None


def migrate(loaded: LoadedConfig, detection: Detection) -> MigrationResult:
    """Migrate ``loaded.data`` in place to orch's names for ``detection.kind``; marks follow the moved keys."""
    result = MigrationResult()
    data = loaded.data
    if detection.kind == "ppo_expert":
        _migrate_env(loaded, ("env_overrides",), ("env_factory_kwargs",), result)
        _drop_frequency_episodes(loaded, result)
    elif detection.kind == "dreamerv3":
        if detection.robot_sf_rllib or any(k in data for k in ("experiment", "algorithm", "ray")):
            _migrate_rllib(loaded, result)
        _migrate_env(loaded, ("env", "config"), ("env", "factory_kwargs"), result)
        _drop_wandb_dir(loaded, result)
    return result


# ------------------------------------------------------------------------------------------------ helpers
def _get(data: Any, path: KeyPath) -> Any:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _warn(loaded: LoadedConfig, result: MigrationResult, path: KeyPath, message: str) -> None:
    result.warnings.append(loaded.marks.issue(path, message))


def _not_applicable(loaded: LoadedConfig, result: MigrationResult, path: KeyPath, why: str) -> None:
    key = format_path(loaded.marks.original_path(path))
    result.not_applicable.append(f"{key}: {why}")
    _warn(loaded, result, path, f"not applicable to orch's DreamerV3 ({why}); ignored")


def _ensure_dict(data: dict[str, Any], path: KeyPath) -> dict[str, Any]:
    for part in path:
        if not isinstance(data.get(part), dict):  # type: ignore[arg-type]
            data[part] = {}  # type: ignore[index]
        data = data[part]  # type: ignore[index]
    return data


def _set_moved(loaded: LoadedConfig, old: KeyPath, new: KeyPath, value: Any) -> None:
    parent: Any = loaded.data
    for part in new[:-1]:
        if not isinstance(parent.get(part), dict):
            parent[part] = {}
        parent = parent[part]
    parent[new[-1]] = value
    loaded.marks.move(old, new)


# ------------------------------------------------------------------------------------------------ env migrations
def _migrate_env(loaded: LoadedConfig, env_path: KeyPath, factory_path: KeyPath, result: MigrationResult) -> None:
    """Pedestrian force aliases of one env section (``env_overrides`` or Dreamer's ``env.config``)."""
    overrides = _get(loaded.data, env_path)
    factory = _get(loaded.data, factory_path)
    env_parent = _get(loaded.data, env_path[:-1]) if len(env_path) > 1 else loaded.data
    if isinstance(env_parent, dict) and env_path[-1] in env_parent and not isinstance(overrides, dict):
        return  # the schema reports the wrong type (null included)
    static_path = (*env_path, "peds_have_static_obstacle_forces")
    sources: list[tuple[KeyPath, Any]] = []
    if isinstance(overrides, dict) and "peds_have_obstacle_forces" in overrides:
        sources.append(((*env_path, "peds_have_obstacle_forces"), overrides["peds_have_obstacle_forces"]))
    if isinstance(factory, dict) and "peds_have_obstacle_forces" in factory:
        sources.append(((*factory_path, "peds_have_obstacle_forces"), factory["peds_have_obstacle_forces"]))
    current = overrides.get("peds_have_static_obstacle_forces") if isinstance(overrides, dict) else None
    for old, value in sources:
        if current is not None and value != current:
            first = loaded.marks.find(static_path)
            result.issues.append(
                loaded.marks.issue(
                    old,
                    f"contradicts {format_path(static_path)}={current!r} (line "
                    f"{first.line if first else '?'}): {value!r}",
                    "deprecated alias of peds_have_static_obstacle_forces; keep one value",
                )
            )
            continue
        parent = _get(loaded.data, old[:-1])
        del parent[old[-1]]
        if current is None:
            if overrides is None:
                overrides = _ensure_dict(loaded.data, env_path)
            overrides["peds_have_static_obstacle_forces"] = value
            loaded.marks.move(old, static_path)
            current = value
        _warn(loaded, result, old, f"deprecated alias: migrated to {format_path(static_path)}={value!r}")
    if isinstance(overrides, dict):
        _mirror_robot_repulsion(loaded, env_path, overrides, result)


def _mirror_robot_repulsion(
    loaded: LoadedConfig, env_path: KeyPath, overrides: dict[str, Any], result: MigrationResult
) -> None:
    repulsion = overrides.get("peds_have_robot_repulsion")
    if repulsion is None or not isinstance(repulsion, bool):
        return
    sim = overrides.get("sim_config")
    prf = sim.get("prf_config") if isinstance(sim, dict) else None
    if ("sim_config" in overrides and not isinstance(sim, dict)) or (
        isinstance(sim, dict) and "prf_config" in sim and not isinstance(prf, dict)
    ):
        return  # wrong types (null included): the schema says so
    active = prf.get("is_active") if isinstance(prf, dict) else None
    prf_path = (*env_path, "sim_config", "prf_config", "is_active")
    rep_path = (*env_path, "peds_have_robot_repulsion")
    if active is None:
        sim = overrides.setdefault("sim_config", {})
        sim.setdefault("prf_config", {})["is_active"] = repulsion
        loaded.marks.by_path.setdefault(prf_path, loaded.marks.find(rep_path))  # type: ignore[arg-type]
        _warn(
            loaded, result, rep_path, f"only effective through {format_path(prf_path)}: mirrored there ({repulsion!r})"
        )
    elif active != repulsion:
        line = loaded.marks.find(prf_path)
        result.issues.append(
            loaded.marks.issue(
                rep_path,
                f"contradicts {format_path(prf_path)}={active!r} (line {line.line if line else '?'}): {repulsion!r}",
                "peds_have_robot_repulsion acts only through prf_config.is_active; make them equal",
            )
        )


def _drop_frequency_episodes(loaded: LoadedConfig, result: MigrationResult) -> None:
    evaluation = loaded.data.get("evaluation")
    if isinstance(evaluation, dict) and "frequency_episodes" in evaluation:
        _warn(
            loaded,
            result,
            ("evaluation", "frequency_episodes"),
            "deprecated and ignored (evaluation follows evaluation.step_schedule): dropped",
        )
        del evaluation["frequency_episodes"]


def _drop_wandb_dir(loaded: LoadedConfig, result: MigrationResult) -> None:
    wandb = _get(loaded.data, ("tracking", "wandb"))
    if isinstance(wandb, dict) and "dir" in wandb:
        _not_applicable(loaded, result, ("tracking", "wandb", "dir"), "W&B files go to <run_dir>/wandb")
        del wandb["dir"]


# ------------------------------------------------------------------------------------------------ RLlib Dreamer
def _migrate_rllib(loaded: LoadedConfig, result: MigrationResult) -> None:
    """Map a Robot SF RLlib DreamerV3 file onto orch's Dreamer names (see the module docstring)."""
    data = loaded.data
    if "ray" in data:
        _not_applicable(loaded, result, ("ray",), "Ray cluster settings; orch runs Dreamer in one process")
        del data["ray"]
    algorithm = data.get("algorithm")
    runners: dict[str, Any] = {}
    if isinstance(algorithm, dict):
        if isinstance(algorithm.get("env_runners"), dict):
            runners = dict(algorithm["env_runners"])
        for key in RLLIB_NOT_APPLICABLE:
            if key in algorithm:
                _not_applicable(loaded, result, ("algorithm", key), "RLlib execution setting")
                del algorithm[key]
        training = algorithm.get("training")
        if isinstance(training, dict):
            _rename_training(loaded, training, result)
            if not training:
                del algorithm["training"]
        if not algorithm:
            del data["algorithm"]
    experiment = data.get("experiment")
    if isinstance(experiment, dict):
        _map_experiment(loaded, experiment, runners, result)
        if not experiment:
            del data["experiment"]


def _rename_training(loaded: LoadedConfig, training: dict[str, Any], result: MigrationResult) -> None:
    moved = []
    for old_name, new_name in RLLIB_TRAINING_NAMES.items():
        if old_name not in training:
            continue
        old = ("algorithm", "training", old_name)
        if new_name in loaded.data and loaded.data[new_name] != training[old_name]:
            mine = loaded.marks.find((new_name,))
            result.issues.append(
                loaded.marks.issue(
                    old,
                    f"conflicts with {new_name}={loaded.data[new_name]!r} (line {mine.line if mine else '?'})",
                    f"alias of {new_name}; keep one of the two",
                )
            )
            del training[old_name]
            continue
        _set_moved(loaded, old, (new_name,), training.pop(old_name))
        moved.append(f"{old_name}->{new_name}")
        result.mapping[format_path(old)] = new_name
    if moved:
        _warn(loaded, result, ("algorithm", "training"), f"RLlib names mapped to orch's Dreamer: {', '.join(moved)}")


def _map_experiment(
    loaded: LoadedConfig, experiment: dict[str, Any], runners: Mapping[str, Any], result: MigrationResult
) -> None:
    data = loaded.data
    fragment = runners.get("rollout_fragment_length", RLLIB_DEFAULT_FRAGMENT)
    fragment = RLLIB_DEFAULT_FRAGMENT if fragment == "auto" else fragment
    n_runners = runners.get("num_env_runners", 0)
    per_runner = runners.get("num_envs_per_env_runner", 1)
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (fragment, n_runners, per_runner))
    steps_per_iter = fragment * max(1, n_runners) * per_runner if ints else None
    formula = f"{fragment} x {max(1, n_runners) if ints else n_runners} x {per_runner}"
    for old_name, new_name in (("train_iterations", "total_env_steps"), ("checkpoint_every", "checkpoint_every")):
        value = experiment.get(old_name)
        if value is None or not isinstance(value, int) or isinstance(value, bool) or steps_per_iter is None:
            continue  # the schema reports a wrong type on what is left
        old = ("experiment", old_name)
        steps = value * steps_per_iter
        if new_name in data and data[new_name] != steps:
            result.issues.append(
                loaded.marks.issue(
                    old,
                    f"conflicts with {new_name}={data[new_name]!r}",
                    f"keep one of experiment.{old_name} and {new_name}",
                )
            )
            del experiment[old_name]
            continue
        _set_moved(loaded, old, (new_name,), steps)
        del experiment[old_name]
        result.mapping[format_path(old)] = f"{new_name} = {value} iterations x {steps_per_iter} = {steps}"
        _warn(
            loaded,
            result,
            (new_name,),
            f"RLlib iterations mapped to env steps: {new_name} = {value} x (rollout_fragment_length x "
            f"num_env_runners x num_envs_per_env_runner = {formula}) = {steps}",
        )
    if "seed" in experiment:
        seed = experiment.pop("seed")
        if "seeds" in data and data["seeds"] != [seed]:
            result.issues.append(
                loaded.marks.issue(
                    ("experiment", "seed"),
                    f"conflicts with seeds={data['seeds']!r}",
                    "keep one of experiment.seed and seeds",
                )
            )
        else:
            _set_moved(loaded, ("experiment", "seed"), ("seeds",), [seed])
            loaded.marks.move(("seeds",), ("seeds", 0))
            result.mapping["experiment.seed"] = "seeds"
            _warn(loaded, result, ("seeds",), f"experiment.seed mapped to seeds: [{seed!r}]")
    if "run_id" in experiment:
        run_id = experiment.pop("run_id")
        if "name" not in data:
            _set_moved(loaded, ("experiment", "run_id"), ("name",), run_id)
            result.mapping["experiment.run_id"] = "name"
            _warn(loaded, result, ("name",), f"experiment.run_id mapped to name: {run_id!r}")
    for key, why in (
        ("output_root", "the artifact root is orch's: --artifact-root or $ORCH_ARTIFACT_ROOT"),
        ("log_level", "orch logs to <run_dir>/logs"),
    ):
        if key in experiment:
            _not_applicable(loaded, result, ("experiment", key), why)
            del experiment[key]
