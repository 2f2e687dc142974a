"""Detection by trainer key or shape, and every migration (each leaves a warning)."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import TINY_MATRIX, ppo_text

from orchestrator.config import check_config
from orchestrator.config.migrate import detect_kind


@pytest.mark.parametrize(
    ("data", "kind", "how"),
    [
        ({"trainer": "dreamerv3"}, "dreamerv3", "trainer key"),
        ({"trainer": "ppo_expert", "experiment": {}}, "ppo_expert", "trainer key"),
        ({"policy_id": "p", "scenario_config": "s", "total_timesteps": 1}, "ppo_expert", "Robot SF PPO expert"),
        ({"experiment": {}, "algorithm": {"training": {}}}, "dreamerv3", "Robot SF RLlib DreamerV3"),
        ({"policy_id": "p", "ppo_hyperparams": {}}, "ppo_expert", "partial shape"),
        ({"model_size": "S", "train_ratio": 4}, "dreamerv3", "partial shape"),
        ({"backend": "slurm", "partition": "a30"}, "cluster", "cluster profile"),
    ],
)
def test_detection(data: dict, kind: str, how: str) -> None:
    detection = detect_kind(data)
    assert detection is not None
    assert detection.kind == kind and how in detection.how


def test_nothing_recognisable_is_not_detected() -> None:
    assert detect_kind({"foo": 1}) is None
    assert detect_kind({"trainer": "sac"}) is None


def _ppo(tmp: Path, text: str) -> Path:
    (tmp / "scen.yaml").write_text(TINY_MATRIX)
    path = tmp / "c.yaml"
    path.write_text(text)
    return path


def test_obstacle_force_alias_in_env_overrides_is_renamed(tmp_path: Path) -> None:
    report = check_config(_ppo(tmp_path, ppo_text(l7="  use_occupancy_grid: true\n  peds_have_obstacle_forces: false")))
    assert report.valid, report.issues
    overrides = report.resolved.settings["env_overrides"]
    assert overrides["peds_have_static_obstacle_forces"] is False
    assert "peds_have_obstacle_forces" not in overrides
    assert any("env_overrides.peds_have_obstacle_forces: deprecated alias" in w for w in report.warnings)


def test_obstacle_force_alias_in_factory_kwargs_moves_to_env_overrides(tmp_path: Path) -> None:
    text = ppo_text(l20="env_factory_kwargs:", l21="  peds_have_obstacle_forces: true", l22="")
    report = check_config(_ppo(tmp_path, text))
    assert report.valid, report.issues
    assert report.resolved.settings["env_overrides"]["peds_have_static_obstacle_forces"] is True
    assert "peds_have_obstacle_forces" not in report.resolved.settings["env_factory_kwargs"]
    assert any(":21: env_factory_kwargs.peds_have_obstacle_forces" in w for w in report.warnings)


def test_equal_alias_values_are_merged_with_a_warning(tmp_path: Path) -> None:
    text = ppo_text(l7="  peds_have_static_obstacle_forces: true", l8="  peds_have_obstacle_forces: true")
    text += "env_factory_kwargs:\n  peds_have_obstacle_forces: true\n"
    report = check_config(_ppo(tmp_path, text.replace("socnav_struct", "default_gym")))
    assert report.kind == "ppo_expert"
    assert len([w for w in report.warnings if "deprecated alias" in w]) == 2


def test_robot_repulsion_is_mirrored_into_prf_config(tmp_path: Path) -> None:
    report = check_config(_ppo(tmp_path, ppo_text(l13="  peds_have_robot_repulsion: false", l14="", l15="")))
    assert report.valid, report.issues
    sim = report.resolved.settings["env_overrides"]["sim_config"]
    assert sim["prf_config"]["is_active"] is False
    assert any("mirrored" in w for w in report.warnings)


def test_consistent_repulsion_gives_no_warning(tmp_path: Path) -> None:
    report = check_config(
        _ppo(tmp_path, ppo_text(l8="  include_grid_in_observation: true\n  peds_have_robot_repulsion: true"))
    )
    assert report.valid and not report.warnings


def test_frequency_episodes_is_dropped(tmp_path: Path) -> None:
    report = check_config(_ppo(tmp_path, ppo_text(l17="  evaluation_episodes: 2\n  frequency_episodes: 10")))
    assert report.valid
    assert "frequency_episodes" not in report.resolved.settings["evaluation"]
    assert any("evaluation.frequency_episodes: deprecated and ignored" in w for w in report.warnings)


def test_rllib_dreamer_reference_is_mapped(reference_dir: Path) -> None:
    report = check_config(reference_dir / "configs/training/rllib_dreamerv3/drive_state_rays.yaml")
    assert report.valid, report.issues
    assert report.detected_as.startswith("dreamerv3 (by shape: Robot SF RLlib DreamerV3")
    resolved = report.resolved
    settings = resolved.settings
    assert (settings["model_size"], settings["train_ratio"], settings["batch_size"]) == ("XS", 64, 16)
    assert (settings["batch_length"], settings["horizon"]) == (32, 10)
    assert (settings["world_model_lr"], settings["actor_lr"], settings["critic_lr"]) == (1e-4, 3e-5, 3e-5)
    # 2000 iterations x (16 fragment x 8 runners x 1 env) env steps; checkpoints every 50 iterations
    assert settings["total_env_steps"] == 2000 * 16 * 8
    assert settings["checkpoint_every"] == 50 * 16 * 8
    assert resolved.seeds == (123,)
    assert resolved.name == "dreamerv3_drive_state_rays"
    assert settings["env"]["flatten_keys"] == ["drive_state", "rays"]
    assert settings["env"]["factory_kwargs"] == {"debug": False, "recording_enabled": False}
    na = " ".join(resolved.not_applicable)
    for key in (
        "ray",
        "algorithm.framework",
        "algorithm.env_runners",
        "algorithm.resources",
        "algorithm.learners",
        "experiment.output_root",
        "tracking.wandb.dir",
    ):
        assert key + ":" in na
    assert (
        "total_env_steps = 2000 iterations x 128 = 256000" in resolved.source["migrated"]["experiment.train_iterations"]
    )


def test_rllib_api_stack_is_not_applicable_and_defaults_apply(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(
        "experiment:\n  train_iterations: 10\nalgorithm:\n  api_stack: {enable: true}\n  training:\n    horizon_H: 5\n"
    )
    report = check_config(path)
    assert report.valid, report.issues
    assert any(n.startswith("algorithm.api_stack:") for n in report.not_applicable)
    assert report.resolved.settings["total_env_steps"] == 10  # no env_runners: 1 step per iteration
    assert report.resolved.settings["horizon"] == 5


def test_native_and_rllib_seed_conflict(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text("trainer: dreamerv3\nseeds: [1]\nexperiment:\n  seed: 2\n")
    report = check_config(path)
    assert [i.key_path for i in report.issues] == ["experiment.seed"]
    assert report.issues[0].line == 4
