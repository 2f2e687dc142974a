"""Light spec of the DreamerV3 trainer: schema name, defaults, model sizes, ``resolve()`` and the observation signature.

Stdlib only (plus ``trainers.envs.contracts``), so ``orch validate`` can resolve a Dreamer config without torch.
The trainer (``trainers.dreamerv3.train``) reads ``resolved["settings"]``, which is :func:`resolve`'s output: every key
of :data:`DEFAULTS` present, ``num_envs`` an integer, ``model`` the full dimensions of ``model_size`` with the config's
``model`` overrides applied.

Settings (``schemas/dreamerv3.schema.json`` is the shape; ``docs/config.md`` explains each key):

* ``mode``: ``full`` (train) or ``standing_still`` (the policy outputs zero actions; a baseline / pipeline check).
* ``env``: ``id`` (``crowdnav`` or a Gymnasium id such as ``CartPole-v1``), ``backend`` (``embedded`` | ``robot_sf``),
  ``scenario_config`` (absolute path or None), ``scenario_id``, ``flatten_observation``, ``flatten_keys``,
  ``normalize_actions``, ``factory_kwargs``, ``config`` (env_overrides, Robot SF semantics).
* world model / behaviour: ``model_size``, ``model``, ``train_ratio``, ``batch_size``, ``batch_length``, ``horizon``,
  ``world_model_lr``, ``actor_lr``, ``critic_lr``.
* loop: ``total_env_steps``, ``num_envs``, ``checkpoint_every``, ``eval_every``, ``eval_episodes`` (steps are
  environment steps summed over all envs), ``replay_capacity``, ``replay_on_device``, ``prefill`` (random-action
  steps before training), ``log_every`` (env steps per metrics line),
  ``vector_env`` (``sync`` | ``async``: envs in subprocesses; absent = ``sync``) and ``check_every`` (absent =
  ``auto``); these two are left out of the defaults so existing config hashes stay unchanged, and so are
  ``actor_grad`` (``auto``), ``repval`` (false), ``repval_scale`` (0.3), ``keep_last`` (2), ``cuda_graph`` (false),
  ``pinned_staging`` (false) and ``overlap_collection`` (false), whose defaults live in ``config.DreamerConfig``.
* hardware: ``device`` (``auto`` | ``cpu`` | ``cuda``), ``precision`` (``fp32`` | ``bf16``), ``compile``.
* ``deterministic``, ``tracking`` ({tensorboard, wandb{...}}).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import trainers.envs.contracts as contracts

__all__ = [
    "CROWDNAV_ENV_ID",
    "DEFAULTS",
    "EVAL_METRICS",
    "GYM_SIGNATURES",
    "MODEL_SIZES",
    "SCHEMA_NAME",
    "SHARES_PROCESS",
    "auto_num_envs",
    "model_dims",
    "observation_signature",
    "resolve",
]

SCHEMA_NAME = "dreamerv3"
# Several runs may share one process (a cluster profile's ``runs_per_job``): a run's random draws after it is built
# come from its own generators (collector, learner, replay), and building (global seeding, weight init) is
# serialised across the threads of a process (``train.DreamerTrainer``).
SHARES_PROCESS = True
CROWDNAV_ENV_ID = "crowdnav"

# Network dimensions per size preset (DreamerV3 paper, table of model sizes): recurrent state ``deter``, categorical
# latent ``stoch`` x ``classes``, MLP ``units`` x ``layers``, CNN base ``depth``.
MODEL_SIZES: dict[str, dict[str, int]] = {
    "XS": {"deter": 256, "stoch": 32, "classes": 32, "units": 256, "layers": 1, "depth": 24},
    "S": {"deter": 512, "stoch": 32, "classes": 32, "units": 512, "layers": 2, "depth": 32},
    "M": {"deter": 1024, "stoch": 32, "classes": 32, "units": 640, "layers": 3, "depth": 48},
    "L": {"deter": 2048, "stoch": 32, "classes": 32, "units": 768, "layers": 4, "depth": 64},
    "XL": {"deter": 4096, "stoch": 32, "classes": 32, "units": 1024, "layers": 5, "depth": 96},
}

# What every evaluation reports (the mean return of its episodes); the study objective's metrics.
EVAL_METRICS = ("eval_return",)

DEFAULTS: dict[str, Any] = {
    "mode": "full",
    "env": {
        "id": CROWDNAV_ENV_ID,
        "backend": "embedded",
        "scenario_config": None,
        "scenario_id": None,
        "flatten_observation": True,
        "flatten_keys": ["drive_state", "rays"],
        "normalize_actions": True,
        "factory_kwargs": {},
        "config": {},
    },
    "model_size": "S",
    "model": {},
    "train_ratio": 512,
    "batch_size": 16,
    "batch_length": 64,
    "horizon": 15,
    "world_model_lr": 1e-4,
    "actor_lr": 3e-5,
    "critic_lr": 3e-5,
    "total_env_steps": 1_000_000,
    "num_envs": "auto",
    "checkpoint_every": 50_000,
    "eval_every": 50_000,
    "eval_episodes": 5,
    "device": "auto",
    "precision": "fp32",
    "compile": False,
    "replay_capacity": 1_000_000,
    "replay_on_device": False,
    "prefill": 1024,
    "log_every": 1000,
    "deterministic": False,
    "tracking": {
        "tensorboard": True,
        "wandb": {
            "enabled": False,
            "project": "orch",
            "entity": None,
            "group": None,
            "job_type": "train",
            "name": None,
            "notes": None,
            "tags": [],
            "mode": "offline",
        },
    },
}

# Observation shapes of the Gymnasium ids the smoke tests use (no gymnasium import here: this module is light).
GYM_SIGNATURES: dict[str, dict[str, tuple[tuple[int, ...], str]]] = {
    "CartPole-v1": {"observation": ((4,), "float32")},
    "Pendulum-v1": {"observation": ((3,), "float32")},
    "Acrobot-v1": {"observation": ((6,), "float32")},
    "MountainCar-v0": {"observation": ((2,), "float32")},
    "MountainCarContinuous-v0": {"observation": ((2,), "float32")},
    "LunarLander-v3": {"observation": ((8,), "float32")},
    "LunarLanderContinuous-v3": {"observation": ((8,), "float32")},
}

MAX_AUTO_ENVS = 16  # Dreamer's env stepping is cheap next to its learner; more envs only dilute the train ratio.


def auto_num_envs(cpus: int, mem_gb: float | None = None) -> int:
    """``num_envs: auto`` for Dreamer: one CPU kept for the learner, at most :data:`MAX_AUTO_ENVS`, >= 1."""
    envs = max(1, int(cpus) - 1)
    if mem_gb is not None:
        envs = min(envs, max(1, int(float(mem_gb) // 2)))  # ~2 GB per env process incl. its share of replay
    return max(1, min(envs, MAX_AUTO_ENVS))


def model_dims(model_size: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The network dimensions of ``model_size`` with ``overrides`` (the config's ``model`` dict) applied."""
    return {**MODEL_SIZES[model_size], **dict(overrides or {})}


def resolve(raw: Mapping[str, Any], *, cpus: int, mem_gb: float | None = None) -> dict[str, Any]:
    """Fill every default into ``raw`` (already validated, migrated, paths absolute) and decide ``num_envs``."""
    settings = _deep_fill(copy.deepcopy(DEFAULTS), raw)
    if settings["num_envs"] == "auto":
        settings["num_envs"] = auto_num_envs(cpus, mem_gb)
    settings["model"] = model_dims(settings["model_size"], raw.get("model"))
    env = settings["env"]
    if not env["flatten_observation"]:
        env["flatten_keys"] = list(env.get("flatten_keys") or [])
    return settings


def observation_signature(settings: Mapping[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    """{key: (shape, dtype)} the env of ``settings`` yields; {} for a Gymnasium id not in :data:`GYM_SIGNATURES`."""
    env = settings["env"]
    if env["id"] != CROWDNAV_ENV_ID:
        return dict(GYM_SIGNATURES.get(env["id"], {}))
    keys = env["flatten_keys"] if env["flatten_observation"] else None
    return contracts.observation_signature(env.get("config") or {}, flatten_keys=keys)


def _deep_fill(defaults: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``defaults`` updated by ``values``, recursing into dicts that both sides have (values win)."""
    for key, value in values.items():
        if isinstance(value, Mapping) and isinstance(defaults.get(key), dict) and key not in ("model",):
            defaults[key] = _deep_fill(defaults[key], value)
        else:
            defaults[key] = copy.deepcopy(value)
    return defaults
