"""The table of broken configs: each exits 2 naming the right key path and line, never with a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from config_helpers import TINY_MATRIX, ppo_text

DREAMER_RLLIB = """experiment:
  train_iterations: 10
  seed: 1
algorithm:
  env_runners:
    num_env_runners: 1
  training:
    batch_size_b: 16
"""


@dataclass(frozen=True)
class Case:
    id: str
    text: str | bytes
    key: str  # key path in the error line ("<root>" for the whole file)
    line: int | None  # None: no line (a file that cannot be opened, a --set value)
    extra_files: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    in_message: str = ""
    file: str = "config.yaml"  # the file the error is located in


CASES = [
    # typos at every nesting level, each with a "did you mean" hint
    Case(
        "typo-top",
        ppo_text(l4="total_timestep: 1000"),
        "total_timestep",
        4,
        in_message="did you mean 'total_timesteps'",
    ),
    Case(
        "typo-level2",
        ppo_text(l6="  observaton_mode: socnav_struct"),
        "env_overrides.observaton_mode",
        6,
        in_message="did you mean 'observation_mode'",
    ),
    Case(
        "typo-level3",
        ppo_text(l10="    resolutoin: 0.5"),
        "env_overrides.grid_config.resolutoin",
        10,
        in_message="did you mean 'resolution'",
    ),
    Case(
        "typo-level4",
        ppo_text(l15="      is_activ: true"),
        "env_overrides.sim_config.prf_config.is_activ",
        15,
        in_message="did you mean 'is_active'",
    ),
    Case(
        "typo-sim-config",
        ppo_text(l14="    prf_confg:"),
        "env_overrides.sim_config.prf_confg",
        14,
        in_message="did you mean 'prf_config'",
    ),
    Case("typo-in-list-item", ppo_text(l19="    - every_step: 500"), "evaluation.step_schedule[0].every_step", 19),
    Case("typo-wandb", ppo_text(l22="    enabeld: false"), "tracking.wandb.enabeld", 22, in_message="did you mean"),
    Case(
        "key-in-wrong-section",
        ppo_text(l17="  resolution: 2"),
        "evaluation.resolution",
        17,
        in_message="belongs under env_overrides.grid_config",
    ),
    # wrong types and ranges
    Case(
        "wrong-type-int", ppo_text(l4="total_timesteps: lots"), "total_timesteps", 4, in_message="expected an integer"
    ),
    Case("float-for-int", ppo_text(l4="total_timesteps: 1.5"), "total_timesteps", 4),
    Case("wrong-type-bool", ppo_text(l7="  use_occupancy_grid: 3"), "env_overrides.use_occupancy_grid", 7),
    Case("list-for-number", ppo_text(l10="    resolution: [1]"), "env_overrides.grid_config.resolution", 10),
    Case("scalar-for-mapping", ppo_text(l9="  grid_config: 5", l10="", l11="", l12=""), "env_overrides.grid_config", 9),
    Case("negative", ppo_text(l10="    resolution: -1"), "env_overrides.grid_config.resolution", 10),
    Case("below-minimum", ppo_text(l17="  evaluation_episodes: 0"), "evaluation.evaluation_episodes", 17),
    Case("num-envs-word", ppo_text(l20="num_envs: many", l21="", l22=""), "num_envs", 20, in_message="'auto'"),
    Case("seed-negative", ppo_text(l20="seeds: [1, -2]", l21="", l22=""), "seeds[1]", 20),
    # missing required keys
    Case("missing-policy-id", ppo_text(l2="# no policy id"), "<root>", 1, in_message="policy_id"),
    Case(
        "missing-every-steps",
        ppo_text(l19="    - until_step: 500"),
        "evaluation.step_schedule[0]",
        19,
        in_message="every_steps",
    ),
    # bad enum values
    Case(
        "bad-enum",
        ppo_text(l6="  observation_mode: socnav"),
        "env_overrides.observation_mode",
        6,
        in_message="did you mean 'socnav_struct'",
    ),
    Case("bad-trainer", ppo_text(l1="trainer: ppo"), "trainer", 1, in_message="did you mean 'ppo_expert'"),
    Case("bad-channel", ppo_text(l11="    channels: [obstacles, people]"), "env_overrides.grid_config.channels[1]", 11),
    Case("bad-worker-mode", ppo_text(l20="worker_mode: threads", l21="", l22=""), "worker_mode", 20),
    # alias conflicts
    Case(
        "alias-conflict-obstacle-forces",
        ppo_text(l7="  peds_have_static_obstacle_forces: true", l8="  peds_have_obstacle_forces: false"),
        "env_overrides.peds_have_obstacle_forces",
        8,
        in_message="contradicts",
    ),
    Case(
        "alias-conflict-repulsion",
        ppo_text(l8="  peds_have_robot_repulsion: true", l15="      is_active: false"),
        "env_overrides.peds_have_robot_repulsion",
        8,
        in_message="contradicts",
    ),
    Case(
        "dreamer-alias-conflict",
        "trainer: dreamerv3\ntrain_ratio: 512\nalgorithm:\n  training:\n    training_ratio: 64\n",
        "algorithm.training.training_ratio",
        5,
        in_message="conflicts",
    ),
    # files
    Case(
        "base-config-cycle",
        "base_config: b.yaml\npolicy_id: a\n",
        "base_config",
        1,
        extra_files={"b.yaml": "base_config: config.yaml\n"},
        in_message="cycle",
        file="b.yaml",
    ),
    Case("base-config-missing", "base_config: nope.yaml\n", "base_config", 1, in_message="nope.yaml"),
    Case(
        "scenario-missing",
        ppo_text(l3="scenario_config: missing.yaml"),
        "scenario_config",
        3,
        in_message="missing.yaml",
    ),
    Case(
        "error-in-base-file",
        "base_config: base.yaml\npolicy_id: child\n",
        "total_timesteps",
        4,
        extra_files={"base.yaml": ppo_text(l4="total_timesteps: -5")},
        file="base.yaml",
    ),
    # not YAML / not a mapping
    Case("yaml-syntax", ppo_text(l6="  observation_mode: socnav_struct: x"), "<root>", 6, in_message="YAML syntax"),
    Case(
        "duplicate-key",
        ppo_text(l8="  use_occupancy_grid: false"),
        "env_overrides.use_occupancy_grid",
        8,
        in_message="duplicate",
    ),
    Case("empty-file", "", "<root>", 1, in_message="empty"),
    Case("comments-only", "# nothing here\n", "<root>", 1, in_message="empty"),
    Case("list-top-level", "- a\n- b\n", "<root>", 1, in_message="list"),
    Case("scalar-top-level", "just words\n", "<root>", 1, in_message="mapping"),
    Case("binary-garbage", bytes(range(256)) * 8, "<root>", 1, in_message="binary"),
    Case("not-utf8", b"trainer: ppo_expert\npolicy_id: \xff\xfe\n", "<root>", 2, in_message="UTF-8"),
    Case("ten-megabytes", "# " + "x" * (10 * 1024 * 1024) + "\n", "<root>", 1, in_message="MB"),
    Case("unknown-shape", "foo: 1\n", "<root>", 1, in_message="cannot tell"),
    # Dreamer
    Case(
        "dreamer-typo",
        "trainer: dreamerv3\ntotal_env_steps: 100\nmodel_sise: S\n",
        "model_sise",
        3,
        in_message="did you mean 'model_size'",
    ),
    Case(
        "dreamer-typo-env-config",
        "trainer: dreamerv3\nenv:\n  config:\n    lidar_config:\n      num_ray: 10\n",
        "env.config.lidar_config.num_ray",
        5,
        in_message="did you mean 'num_rays'",
    ),
    Case(
        "dreamer-rllib-typo",
        DREAMER_RLLIB,
        "algorithm.training.batch_size_b",
        8,
        in_message="did you mean 'batch_size_B'",
    ),
    Case("dreamer-bad-size", "trainer: dreamerv3\nmodel_size: XXL\n", "model_size", 2, in_message="XL"),
    Case(
        "dreamer-flatten-key",
        "trainer: dreamerv3\nenv:\n  flatten_keys: [drive_state, lidar]\n",
        "env.flatten_keys",
        3,
        in_message="lidar",
    ),
    # command line
    Case("set-without-equals", ppo_text(), "total_timesteps", None, args=("--set", "total_timesteps"), file="--set"),
    Case("set-wrong-type", ppo_text(), "total_timesteps", None, args=("--set", "total_timesteps=abc"), file="--set"),
    Case(
        "strict-warning",
        ppo_text(l20="env_factory_kwargs:", l21="  peds_have_obstacle_forces: true", l22=""),
        "env_factory_kwargs.peds_have_obstacle_forces",
        21,
        args=("--strict",),
        in_message="--strict",
    ),
]


def _write_case(case: Case, folder: Path) -> Path:
    (folder / "scen.yaml").write_text(TINY_MATRIX)
    for name, text in case.extra_files.items():
        (folder / name).write_text(text)
    config = folder / "config.yaml"
    if isinstance(case.text, bytes):
        config.write_bytes(case.text)
    else:
        config.write_text(case.text)
    return config


def _expected_prefix(case: Case, folder: Path) -> str:
    where = case.file if case.file == "--set" else str(folder / case.file)
    return f"{where}:{case.line}: {case.key}:" if case.line is not None else f"{where}: {case.key}:"


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_config_exits_2_naming_key_and_line(
    case: Case, tmp_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    config = _write_case(case, tmp_path)
    code, out, err = cli("validate", *case.args, config)
    assert code == 2, (out, err)
    assert "Traceback" not in out + err
    errors = [line.removeprefix("error: ") for line in err.splitlines() if line.startswith("error: ")]
    prefix = _expected_prefix(case, tmp_path)
    matching = [e for e in errors if e.startswith(prefix)]
    assert matching, f"no error starts with {prefix!r}; got:\n" + "\n".join(errors)
    assert any(case.in_message in e for e in matching), f"{case.in_message!r} not in {matching}"
    assert "INVALID" in out


def test_every_error_of_a_file_is_reported_at_once(
    scenario_dir: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    config = scenario_dir / "config.yaml"
    config.write_text(ppo_text(l4="total_timesteps: lots", l6="  observation_mode: x", l10="    resolutoin: 1"))
    code, out, err = cli("validate", config)
    assert code == 2
    assert "INVALID, 3 errors" in out
    assert {
        f"{config}:4: total_timesteps:",
        f"{config}:6: env_overrides.observation_mode:",
        f"{config}:10: env_overrides.grid_config.resolutoin:",
    } <= {e[7:].split(" ", 2)[0] + " " + e[7:].split(" ", 2)[1] for e in err.splitlines() if e.startswith("error")}


def test_json_errors_carry_key_path_and_line(scenario_dir: Path, cli: Callable[..., tuple[int, str, str]]) -> None:
    config = scenario_dir / "config.yaml"
    config.write_text(ppo_text(l10="    resolutoin: 0.5"))
    code, out, _ = cli("validate", "--json", config)
    assert code == 2
    document = json.loads(out)
    assert document["schema_version"] == 1 and document["valid"] is False
    (error,) = document["files"][0]["errors"]
    assert (error["key_path"], error["line"], error["hint"]) == (
        "env_overrides.grid_config.resolutoin",
        10,
        "did you mean 'resolution'?",
    )


@pytest.mark.parametrize("case_id", ["typo-level3", "binary-garbage"])
def test_broken_config_in_a_real_subprocess(case_id: str, tmp_path: Path) -> None:
    case = next(c for c in CASES if c.id == case_id)
    config = _write_case(case, tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "validate", str(config)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert _expected_prefix(case, tmp_path) in proc.stderr
