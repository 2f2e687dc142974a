"""The search space: which trainer-config keys a study varies, over which values, and how a trial's values are set.

A parameter is named by its key path in the trainer config (``ppo_hyperparams.learning_rate``); that path is also its
Optuna name, so a trial's parameters map back to a config without a table. A ``search_space:`` entry is a list
(categorical choices) or a mapping (``low``/``high`` with ``log`` or ``step``, or ``choices``). Without one, a PPO
study searches Robot SF's launcher space and a Dreamer study its learning rates and train ratio.

Optuna is imported only where a trial is asked for (:func:`suggest`); parsing and checking a space is stdlib.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_SPACES",
    "Parameter",
    "apply_params",
    "cap_batch_size",
    "parse_parameter",
    "parse_space",
    "schema_node",
    "suggest",
]

# Robot SF's Optuna launcher space for the PPO expert (batch_size is capped at the rollout size, see cap_batch_size).
PPO_SPACE: dict[str, Any] = {
    "ppo_hyperparams.learning_rate": {"low": 1e-5, "high": 3e-4, "log": True},
    "ppo_hyperparams.n_steps": [512, 1024, 2048, 4096],
    "ppo_hyperparams.batch_size": [128, 256, 512],
    "ppo_hyperparams.n_epochs": [2, 4, 8],
    "ppo_hyperparams.ent_coef": {"low": 1e-4, "high": 0.02, "log": True},
    "ppo_hyperparams.clip_range": {"low": 0.1, "high": 0.3},
    "ppo_hyperparams.target_kl": {"low": 0.01, "high": 0.03},
    "ppo_hyperparams.gamma": [0.98, 0.99, 0.995],
    "ppo_hyperparams.gae_lambda": [0.9, 0.95, 0.98],
}
# DreamerV3: its three learning rates around the paper's values, and the replay ratio.
DREAMER_SPACE: dict[str, Any] = {
    "world_model_lr": {"low": 3e-5, "high": 3e-4, "log": True},
    "actor_lr": {"low": 1e-5, "high": 1e-4, "log": True},
    "critic_lr": {"low": 1e-5, "high": 1e-4, "log": True},
    "train_ratio": [128, 256, 512],
}
DEFAULT_SPACES: dict[str, dict[str, Any]] = {"ppo_expert": PPO_SPACE, "dreamerv3": DREAMER_SPACE}
KINDS = ("float", "int", "categorical")


@dataclass(frozen=True)
class Parameter:
    """One searched key: a float or int range (``log`` scale or a ``step``) or categorical ``choices``."""

    path: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.path.split("."))

    def values_to_check(self) -> list[Any]:
        """The values a trial can get at the edges (bounds, every choice): each must be valid for its key."""
        if self.kind == "categorical":
            return list(self.choices)
        assert self.low is not None and self.high is not None  # a range always has both (parse_parameter)
        if self.kind == "int":
            return [int(self.low), int(self.high)]
        return [float(self.low), float(self.high)]

    def contains(self, value: Any) -> bool:
        """Whether ``value`` (an enqueued trial's) lies in this parameter's range or choices."""
        if self.kind == "categorical":
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        assert self.low is not None and self.high is not None
        return self.low <= value <= self.high and (self.kind != "int" or float(value).is_integer())

    def describe(self) -> str:
        """``float 1e-05..0.0003 (log)`` / ``int 2..8 step 2`` / ``one of 512, 1024``."""
        if self.kind == "categorical":
            return "one of " + ", ".join(repr(c) if isinstance(c, str) else f"{c}" for c in self.choices)
        extra = " (log)" if self.log else (f" step {self.step:g}" if self.step else "")
        return f"{self.kind} {self.low:g}..{self.high:g}{extra}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "type": self.kind}
        if self.kind == "categorical":
            out["choices"] = list(self.choices)
        else:
            out.update(low=self.low, high=self.high, log=self.log, step=self.step)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Parameter:
        return cls(
            path=str(data["path"]),
            kind=str(data["type"]),
            low=data.get("low"),
            high=data.get("high"),
            log=bool(data.get("log", False)),
            step=data.get("step"),
            choices=tuple(data.get("choices") or ()),
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_parameter(path: str, raw: Any) -> tuple[Parameter | None, list[str]]:
    """A schema-valid ``search_space`` entry as a :class:`Parameter`, or None and what is wrong with it."""
    if isinstance(raw, list):
        return (Parameter(path, "categorical", choices=tuple(raw)), []) if raw else (None, ["no choices"])
    if not isinstance(raw, Mapping):
        return None, ["expected a list of choices or a mapping (low, high, log, step, choices)"]
    kind = _kind_of(raw)
    if kind == "categorical":
        return _categorical(path, raw)
    return _range(path, kind, raw)


def _kind_of(raw: Mapping[str, Any]) -> str:
    """The declared ``type``; else choices: categorical, whole-number bounds: int, otherwise float."""
    if raw.get("type") is not None:
        return str(raw["type"])
    if "choices" in raw:
        return "categorical"
    return "int" if _is_int(raw.get("low")) and _is_int(raw.get("high")) else "float"


def _categorical(path: str, raw: Mapping[str, Any]) -> tuple[Parameter | None, list[str]]:
    problems: list[str] = []
    extra = sorted(set(raw) - {"type", "choices"})
    if extra:
        problems.append(f"a categorical parameter takes only choices, not {', '.join(extra)}")
    if not raw.get("choices"):
        problems.append("a categorical parameter needs choices: [...]")
    return (None, problems) if problems else (Parameter(path, "categorical", choices=tuple(raw["choices"])), [])


def _range_problems(kind: str, raw: Mapping[str, Any]) -> list[str]:
    """What makes a float or int range unusable (Optuna would refuse it, or it could not mean anything)."""
    problems: list[str] = []
    if "choices" in raw:
        problems.append(f"a {kind} parameter takes low and high, not choices")
    low, high, step, log = raw.get("low"), raw.get("high"), raw.get("step"), bool(raw.get("log", False))
    if low is None or high is None:
        problems.append(f"a {kind} parameter needs low and high")
    elif low > high:
        problems.append(f"low {low} is above high {high}")
    if log and step is not None:
        problems.append("log and step do not go together (Optuna samples one or the other)")
    if log and low is not None and low <= 0:
        problems.append(f"a log scale needs low > 0, got {low}")
    if kind == "int" and any(v is not None and not float(v).is_integer() for v in (low, high, step)):
        problems.append("an int parameter needs whole-number low, high and step")
    return problems


def _range(path: str, kind: str, raw: Mapping[str, Any]) -> tuple[Parameter | None, list[str]]:
    problems = _range_problems(kind, raw)
    if problems:
        return None, problems
    low, high, step, log = raw["low"], raw["high"], raw.get("step"), bool(raw.get("log", False))
    number = int if kind == "int" else float
    return Parameter(path, kind, number(low), number(high), log, number(step) if step is not None else None), []


def parse_space(raw: Mapping[str, Any]) -> tuple[list[Parameter], dict[str, list[str]]]:
    """Every parameter of a space, and per key path what is wrong with its entry."""
    params: list[Parameter] = []
    problems: dict[str, list[str]] = {}
    for path, entry in raw.items():
        param, issues = parse_parameter(str(path), entry)
        if param is not None:
            params.append(param)
        if issues:
            problems[str(path)] = issues
    return params, problems


def schema_node(schema: Mapping[str, Any], keys: Sequence[str]) -> Mapping[str, Any] | None:
    """The JSON Schema of the key at ``keys`` in a trainer schema (``$ref`` followed), or None if none is allowed.
    Below a free-form section (an object whose keys the schema leaves open, such as ``reward_kwargs``) every key is
    allowed: ``{}``; the trial's own resolution checks it."""
    node: Mapping[str, Any] = schema
    for key in keys:
        node = _deref(schema, node)
        props = node.get("properties")
        if props is None and node.get("type") == "object" and node.get("additionalProperties") is not False:
            return {}
        if key not in (props or {}):
            return None
        node = (props or {})[key]
    return _deref(schema, node)


def _deref(root: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return root["$defs"][ref.split("/")[-1]]
    return node


def suggest(trial: Any, params: Sequence[Parameter]) -> dict[str, Any]:
    """Ask an Optuna trial for a value of every parameter (fixed values of an enqueued trial come back as given)."""
    values: dict[str, Any] = {}
    for p in params:
        if p.kind == "categorical":
            values[p.path] = trial.suggest_categorical(p.path, list(p.choices))
        elif p.kind == "int":
            step = int(p.step) if p.step else 1
            values[p.path] = trial.suggest_int(p.path, int(p.low or 0), int(p.high or 0), step=step, log=p.log)
        else:
            values[p.path] = trial.suggest_float(
                p.path, float(p.low or 0.0), float(p.high or 0.0), step=p.step, log=p.log
            )
    return values


def apply_params(document: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``document`` with each key path set to its value (missing mappings created)."""
    out = copy.deepcopy(document)
    for path, value in values.items():
        node = out
        *parents, last = path.split(".")
        for key in parents:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[last] = copy.deepcopy(value)
    return out


def cap_batch_size(document: dict[str, Any], num_envs: int) -> int | None:
    """PPO: a minibatch cannot exceed the rollout (``n_steps x num_envs``), so a sampled ``batch_size`` above it is
    capped there, as Robot SF's launcher caps it. Returns the capped value, or None when nothing changed."""
    hyper = document.get("ppo_hyperparams")
    if not isinstance(hyper, dict):
        return None
    batch, n_steps = hyper.get("batch_size"), hyper.get("n_steps")
    if not (isinstance(batch, int) and isinstance(n_steps, int)):
        return None
    rollout = n_steps * max(1, int(num_envs))
    if batch <= rollout:
        return None
    hyper["batch_size"] = rollout
    return rollout
