"""Search spaces: entries parsed (and refused with reasons), Optuna asked for every parameter, values set and capped."""

from __future__ import annotations

import pytest

from orchestrator.config.validate import load_schema
from orchestrator.study.space import (
    DEFAULT_SPACES,
    apply_params,
    cap_batch_size,
    parse_parameter,
    parse_space,
    schema_node,
    suggest,
)


def test_entries_become_parameters() -> None:
    params, problems = parse_space(
        {
            "a.lr": {"low": 1e-5, "high": 1e-3, "log": True},
            "a.epochs": {"low": 2, "high": 8, "step": 2},
            "a.gamma": [0.98, 0.99],
            "a.mode": {"choices": ["x", "y"]},
        }
    )
    assert not problems
    kinds = {p.path: p.kind for p in params}
    assert kinds == {"a.lr": "float", "a.epochs": "int", "a.gamma": "categorical", "a.mode": "categorical"}
    assert params[0].describe() == "float 1e-05..0.001 (log)" and params[1].describe() == "int 2..8 step 2"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"low": 3, "high": 1}, "low 3 is above high 1"),
        ({"low": 0.1, "high": 1.0, "log": True, "step": 0.1}, "log and step do not go together"),
        ({"low": 0.0, "high": 1.0, "log": True}, "a log scale needs low > 0"),
        ({"type": "int", "low": 0.5, "high": 4}, "whole-number"),
        ({"type": "categorical", "low": 1, "choices": [1]}, "takes only choices"),
        ({"high": 1.0}, "needs low and high"),
    ],
    ids=["low-above-high", "log-and-step", "log-nonpositive", "int-fraction", "categorical-bounds", "no-low"],
)
def test_bad_entries_say_why(raw: dict, message: str) -> None:
    param, problems = parse_parameter("x", raw)
    assert param is None and any(message in p for p in problems), problems


def test_optuna_draws_every_default_parameter_within_its_range() -> None:
    optuna = pytest.importorskip("optuna")
    params, problems = parse_space(DEFAULT_SPACES["ppo_expert"])
    assert not problems and len(params) == 9
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        values = suggest(study.ask(), params)
        assert set(values) == {p.path for p in params}
        for p in params:
            assert p.contains(values[p.path]), (p, values[p.path])
    enqueued = {"ppo_hyperparams.n_steps": 512, "ppo_hyperparams.learning_rate": 2e-5}
    study.enqueue_trial(enqueued)
    values = suggest(study.ask(), params)
    assert {k: values[k] for k in enqueued} == enqueued


def test_values_are_set_by_key_path_and_the_batch_size_is_capped_at_the_rollout() -> None:
    document = {"ppo_hyperparams": {"n_steps": 128}, "other": 1}
    out = apply_params(document, {"ppo_hyperparams.batch_size": 512, "env_factory_kwargs.reward_kwargs.w": 2})
    assert out["env_factory_kwargs"] == {"reward_kwargs": {"w": 2}} and "batch_size" not in document["ppo_hyperparams"]
    assert cap_batch_size(out, num_envs=2) == 256 and out["ppo_hyperparams"]["batch_size"] == 256
    assert cap_batch_size(out, num_envs=2) is None  # within the rollout now: unchanged


def test_schema_paths_open_sections_and_missing_keys() -> None:
    schema = load_schema("ppo_expert")
    assert schema_node(schema, ["ppo_hyperparams", "learning_rate"])["type"] == "number"
    assert schema_node(schema, ["ppo_hyperparams", "nsteps"]) is None
    assert schema_node(schema, ["env_factory_kwargs", "reward_kwargs", "weights", "living"]) == {}
