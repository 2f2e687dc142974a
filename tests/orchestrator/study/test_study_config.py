"""Study files: Robot SF's as written, orch's own keys, every broken one named at its line, the trial configs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from study_helpers import DREAMER_SMOKE, REFERENCE_STUDY, REPO_ROOT

from orchestrator.config import check_config, resolve_config
from orchestrator.errors import ConfigError
from orchestrator.study.config import load_study, trial_document
from orchestrator.study.space import DEFAULT_SPACES, parse_space


def test_their_study_file_validates_as_written(reference_tree: Path, cli: Callable[..., tuple[int, str, str]]) -> None:
    path = reference_tree / REFERENCE_STUDY
    code, out, err = cli("validate", path)
    assert code == 0, err
    assert "valid as study of ppo_expert" in out
    assert "storage: not used: orch keeps the study in" in err  # their sqlite URL: reported, not an error
    definition, _ = load_study(path)
    assert (definition.name, definition.trials, definition.metric) == (
        "weekend_optuna_expert_ppo_last_n_mean",
        8,
        "eval_episode_return",
    )
    assert (definition.direction, definition.objective_mode, definition.objective_window) == (
        "maximize",
        "last_n_mean",
        3,
    )
    assert definition.sampler == {"type": "tpe", "seed": 123} and definition.pruner == {"type": "median"}
    trainer = definition.trainer_config
    assert trainer["total_timesteps"] == 15_000_000 and trainer["evaluation"]["evaluation_episodes"] == 8
    assert trainer["evaluation"]["step_schedule"] == [{"every_steps": 500_000}]
    assert trainer["best_checkpoint_metric"] == "eval_episode_return"
    assert trainer["tracking"]["wandb"]["enabled"] is True  # disable_wandb: false
    # their space is the default: nine PPO hyperparameters, the batch size among its choices
    params, _ = parse_space(DEFAULT_SPACES["ppo_expert"])
    assert list(definition.space) == params
    code, _, err = cli("validate", path, "--strict")
    assert code == 2 and "storage: not used" in err and "an error under --strict" in err


def test_a_study_file_is_not_a_trainer_config(reference_tree: Path) -> None:
    with pytest.raises(ConfigError, match="a study file, not a trainer config"):
        resolve_config(reference_tree / REFERENCE_STUDY)
    report = check_config(reference_tree / REFERENCE_STUDY)
    assert report.kind == "study" and report.resolved is not None and report.resolved.trainer == "ppo_expert"


def test_each_trial_is_the_trainer_config_with_its_values_named_after_it(
    tiny_ppo: Path, write_study: Callable[..., Path]
) -> None:
    path = write_study(tiny_ppo, trials=4, trial_timesteps=512, eval_every=256, eval_episodes=2, disable_wandb=True)
    definition, _ = load_study(path)
    loaded = trial_document(definition, 7, {"ppo_hyperparams.learning_rate": 1e-4, "ppo_hyperparams.gamma": 0.98})
    assert loaded.data["name"] == loaded.data["policy_id"] == "ppo_expert_grid_socnav_smoke_optuna_007"
    assert loaded.data["ppo_hyperparams"]["learning_rate"] == 1e-4 and loaded.data["ppo_hyperparams"]["n_steps"] == 128
    assert loaded.data["total_timesteps"] == 512 and loaded.data["tracking"]["wandb"]["enabled"] is False
    assert loaded.data["evaluation"] == {"evaluation_episodes": 2, "step_schedule": [{"every_steps": 256}]}


def test_a_dreamer_study_searches_dreamer_keys(tmp_path: Path, write_study: Callable[..., Path]) -> None:
    path = write_study(DREAMER_SMOKE, "dreamer_study", trials=3, trial_timesteps=400, eval_every=200, eval_episodes=1)
    definition, _ = load_study(path)
    assert definition.trainer == "dreamerv3" and definition.metric == "eval_return"
    assert {p.path for p in definition.space} == {"world_model_lr", "actor_lr", "critic_lr", "train_ratio"}
    trainer = definition.trainer_config
    assert (trainer["total_env_steps"], trainer["eval_every"], trainer["eval_episodes"]) == (400, 200, 1)
    bad = write_study(DREAMER_SMOKE, "dreamer_bad", constraint_collision_rate_max=0.1, metric="success_rate")
    report = check_config(bad)
    lines = [i.format() for i in report.issues]
    assert any("'success_rate' is not an evaluation metric of dreamerv3" in x for x in lines), lines
    assert any("constraint_collision_rate_max: dreamerv3 evaluations do not report collision_rate" in x for x in lines)


BROKEN = {
    "zero-trials": ({"trials": 0}, "trials: must be >= 1"),
    "their-snqi": ({"metric": "snqi"}, "metric: 'snqi' is not an evaluation metric of ppo_expert"),
    "bad-mode": ({"objective_mode": "median"}, "objective_mode: 'median' is not allowed"),
    "typo-key": ({"search_space": {"ppo_hyperparams.nsteps": [128]}}, "not a key of a ppo_expert config"),
    "low-above-high": ({"search_space": {"ppo_hyperparams.n_epochs": {"low": 8, "high": 2}}}, "low 8 is above high 2"),
    "bad-value": (
        {"search_space": {"ppo_hyperparams.learning_rate": {"low": -1.0, "high": 0.1}}},
        "-1.0 is not a valid ppo_hyperparams.learning_rate",
    ),
    "pruner-setting": ({"pruner": {"type": "median", "percentile": 5}}, "the median pruner does not take percentile"),
    "sampler-type": ({"sampler": {"type": "cmaes"}}, "sampler.type: 'cmaes' is not allowed"),
    "enqueue-outside": (
        {"search_space": {"ppo_hyperparams.n_epochs": [2, 4]}, "enqueue": [{"ppo_hyperparams.n_epochs": 3}]},
        "3 is outside one of 2, 4",
    ),
    "parallel-zero": ({"parallel": 0}, "parallel"),
    "negative-bound": ({"constraint_collision_rate_max": -0.1}, "constraint_collision_rate_max: must be >= 0"),
    "bad-name": ({"study_name": "../x"}, "study_name"),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_a_broken_study_file_is_one_line_at_its_line(
    case: str, tiny_ppo: Path, write_study: Callable[..., Path], cli: Callable[..., tuple[int, str, str]]
) -> None:
    keys, message = BROKEN[case]
    keys = {"study_name": "s", **keys}
    path = write_study(tiny_ppo, "s", trials=2) if "trials" not in keys else write_study(tiny_ppo, "s")
    document = yaml.safe_load(path.read_text())
    document.update(keys)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    code, out, err = cli("validate", path)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and "INVALID" in out and "Traceback" not in err
    assert any(message in line and f"{path}:" in line for line in errors), errors


def test_a_file_of_study_keys_alone_says_what_is_missing(
    tmp_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    path = tmp_path / "alone.yaml"
    path.write_text("trials: 3\nmetric: success_rate\n")
    code, _, err = cli("validate", path)
    assert code == 2 and "no trainer config to study (set base_config:" in err


def test_validating_a_study_imports_neither_torch_nor_optuna(reference_tree: Path) -> None:
    code = (
        "import sys; from orchestrator.config import check_config; "
        f"r = check_config({str(reference_tree / REFERENCE_STUDY)!r}); assert r.valid, r.issues; "
        "print(sorted(m for m in ('torch', 'optuna', 'stable_baselines3', 'gymnasium') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    assert result.stdout.strip() == "[]"


def test_docs_list_every_study_key() -> None:
    import json

    schema = json.loads((REPO_ROOT / "schemas" / "study.schema.json").read_text())
    docs = (REPO_ROOT / "docs" / "study.md").read_text()
    keys = list(schema["properties"]) + list(schema["$defs"]["pruner"]["properties"])
    keys += list(schema["$defs"]["sampler"]["properties"])
    missing = [k for k in keys if f"`{k}`" not in docs]
    assert not missing, f"docs/study.md lacks {missing}"


def test_without_optuna_orch_study_says_how_to_install_it_and_writes_nothing(
    tiny_ppo: Path,
    write_study: Callable[..., Path],
    tmp_path: Path,
    cli: Callable[..., tuple[int, str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # what an install without the study extra looks like
    root = tmp_path / "output"
    code, _, err = cli("study", write_study(tiny_ppo, "no_optuna", trials=2), "--artifact-root", root)
    assert code == 2 and "pip install 'orch[study]'" in err and "Traceback" not in err
    assert not (root / "studies").exists()
