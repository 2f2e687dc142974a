"""Light spec of the PPO expert trainer: schema name, defaults, ``num_envs: auto``, ``resolve()`` and the signature.

Stdlib only (plus ``trainers.envs.contracts``): ``orch validate`` resolves a PPO config without SB3 or torch, and the
launcher calls :func:`auto_num_envs` on the compute node with the CPUs and memory Slurm really gave the job.
``resolve()`` returns the ``settings`` of ``resolved.json``: every key present, ``num_envs`` an integer, ``worker_mode``
``dummy`` or ``subproc``, ``evaluation.eval_steps`` the expanded evaluation schedule (total_timesteps included).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import trainers.envs.contracts as contracts

# What every evaluation reports (trainers/ppo_expert/evaluation.py); here, in the light spec, so that orch validate
# can check a study's objective metric without importing the trainer.
EVAL_METRICS = (
    "success_rate",
    "collision_rate",
    "path_efficiency",
    "comfort_exposure",
    "eval_episode_return",
    "eval_avg_step_reward",
)

__all__ = [
    "DEFAULTS",
    "EVAL_METRICS",
    "MEM_PER_ENV_GB",
    "SCHEMA_NAME",
    "auto_num_envs",
    "canonical_robot_type",
    "expand_step_schedule",
    "extractor_kwargs_problems",
    "observation_signature",
    "resolve",
]

SCHEMA_NAME = "ppo_expert"
MEM_PER_ENV_GB = 1.5  # one subprocess env with a 32 m occupancy grid and SB3 buffers stays well under this
ROBOT_TYPE_ALIASES = {"diff": "differential_drive", "differential": "differential_drive"}

PPO_HYPERPARAMS: dict[str, Any] = {
    "learning_rate": 1e-4,
    "batch_size": 256,
    "n_epochs": 4,
    "ent_coef": 0.01,
    "clip_range": 0.1,
    "target_kl": 0.02,
    "n_steps": 1024,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "vf_coef": 0.5,
    "max_grad_norm": 0.5,
}

DEFAULTS: dict[str, Any] = {
    "policy_id": None,
    "scenario_config": None,
    "scenario_id": None,
    "randomize_seeds": False,
    "total_timesteps": None,
    "num_envs": "auto",
    "worker_mode": "auto",
    "device": "auto",
    "feature_extractor": "default",
    "feature_extractor_kwargs": {},
    "policy_net_arch": [64, 64],
    "ppo_hyperparams": PPO_HYPERPARAMS,
    "best_checkpoint_metric": "success_rate",
    "socnav_orca": {},
    "env": {"backend": "embedded"},
    "env_overrides": {},
    "env_factory_kwargs": {"reward_name": "route_completion_v2", "reward_kwargs": {}},
    "convergence": {"success_rate": 0.9, "collision_rate": 0.05, "plateau_window": 2000},
    "evaluation": {"evaluation_episodes": 10, "hold_out_scenarios": [], "step_schedule": None},
    "tracking": {
        "tensorboard": True,
        "wandb": {
            "enabled": False,
            "project": "orch",
            "entity": None,
            "group": None,
            "job_type": "expert-ppo",
            "name": None,
            "notes": None,
            "tags": [],
            "mode": "offline",
        },
    },
    "deterministic": False,
}

# Robot SF's defaults when a config leaves the extractor out: SB3's CombinedExtractor and a (64, 64) policy net.
EXTRACTOR_KWARGS: dict[str, dict[str, Any]] = {
    "default": {},
    "grid_socnav": {
        "grid_channels": [32, 64, 64],
        "grid_kernel_sizes": [5, 3, 3],
        "socnav_hidden_dims": [128, 128],
        "dropout_rate": 0.1,
        "grid_key": "occupancy_grid",
        "exclude_prefixes": ["occupancy_grid_meta"],
        "include_ego_goal_vector": True,
    },
}
EXTRACTOR_ONLY_KWARGS = {"default": ("cnn_output_dim", "normalized_image")}

DEFAULT_EVAL_FRACTION = 10  # without a step_schedule, evaluate every total_timesteps / 10
MAX_EVALUATIONS = 10_000  # more is a typo in every_steps, and the list would not fit in resolved.json


def auto_num_envs(cpus: int, mem_gb: float | None = None) -> int:
    """``num_envs: auto``: allocated CPUs minus headroom (1 up to 8 CPUs, else 2), capped by memory, >= 1.

    Upstream's "host cores - 1" oversubscribed Slurm jobs; this counts only the allocation (22 envs on 24 CPUs).
    """
    cpus = max(1, int(cpus))
    envs = cpus - (1 if cpus <= 8 else 2)
    if mem_gb is not None:
        envs = min(envs, int(float(mem_gb) // MEM_PER_ENV_GB))
    return max(1, envs)


def expand_step_schedule(schedule: Sequence[Mapping[str, int]] | None, total: int) -> list[int]:
    """Evaluation steps of ``schedule`` up to ``total`` (always included), e.g. every 0.5M until 3M, then every 1M.

    Raises ``ValueError`` past :data:`MAX_EVALUATIONS` evaluations.

    Each rule ``{until_step, every_steps}`` applies from the previous rule's end up to ``until_step`` (the last rule,
    without ``until_step``, up to ``total``).
    """
    rules = list(schedule or [{"every_steps": max(1, total // DEFAULT_EVAL_FRACTION)}])
    count, start = 0, 0
    for rule in rules:
        end = min(int(rule.get("until_step") or total), total)
        count += max(0, end - start) // max(1, int(rule["every_steps"]))
        start = max(start, end)
    if count > MAX_EVALUATIONS:
        raise ValueError(f"the schedule asks for {count} evaluations (at most {MAX_EVALUATIONS}); raise every_steps")
    steps: list[int] = []
    start = 0
    for rule in rules:
        end = min(int(rule.get("until_step") or total), total)
        every = int(rule["every_steps"])
        step = start + every
        while step <= end:
            steps.append(step)
            step += every
        start = max(start, end)
        if start >= total:
            break
    if not steps or steps[-1] != total:
        steps.append(total)
    return sorted(set(steps))


def canonical_robot_type(name: str) -> str:
    """``diff``/``differential`` -> ``differential_drive``; other names unchanged."""
    return ROBOT_TYPE_ALIASES.get(name, name)


def resolve(raw: Mapping[str, Any], *, cpus: int, mem_gb: float | None = None) -> dict[str, Any]:
    """Fill every default into ``raw`` (validated, migrated); decide num_envs, worker_mode and eval_steps."""
    settings = _deep_fill(copy.deepcopy(DEFAULTS), raw)
    extractor = settings["feature_extractor"]
    settings["feature_extractor_kwargs"] = _deep_fill(
        copy.deepcopy(EXTRACTOR_KWARGS.get(extractor, {})), settings["feature_extractor_kwargs"]
    )
    if settings["num_envs"] == "auto":
        settings["num_envs"] = auto_num_envs(cpus, mem_gb)
    if settings["worker_mode"] == "auto":
        settings["worker_mode"] = "subproc" if settings["num_envs"] > 1 else "dummy"
    robot = settings["env_overrides"].get("robot_config")
    if isinstance(robot, dict) and "type" in robot:
        robot["type"] = canonical_robot_type(robot["type"])
    evaluation = settings["evaluation"]
    evaluation["eval_steps"] = expand_step_schedule(evaluation.get("step_schedule"), int(settings["total_timesteps"]))
    return settings


def extractor_kwargs_problems(settings: Mapping[str, Any]) -> dict[str, str]:
    """{kwarg: problem} for keyword arguments the chosen feature extractor does not take."""
    extractor = settings["feature_extractor"]
    own = _kwargs_of(extractor)
    problems = {}
    for key in sorted(set(settings.get("feature_extractor_kwargs") or {}) - own):
        owners = [name for name in EXTRACTOR_KWARGS if key in _kwargs_of(name)]
        where = f"a {owners[0]} setting" if owners else "unknown"
        problems[key] = f"{where}; feature_extractor {extractor} takes {sorted(own) or 'no keywords'}"
    return problems


def _kwargs_of(extractor: str) -> set[str]:
    return set(EXTRACTOR_KWARGS.get(extractor, {})) | set(EXTRACTOR_ONLY_KWARGS.get(extractor, ()))


def observation_signature(settings: Mapping[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    """{key: (shape, dtype)} of the env ``settings["env_overrides"]`` describes."""
    return contracts.observation_signature(settings.get("env_overrides") or {})


def _deep_fill(defaults: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``defaults`` updated by ``values``, recursing into dicts both sides have (values win, lists replace)."""
    for key, value in values.items():
        if isinstance(value, Mapping) and isinstance(defaults.get(key), dict):
            defaults[key] = _deep_fill(defaults[key], value)
        else:
            defaults[key] = copy.deepcopy(value)
    return defaults
