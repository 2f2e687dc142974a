"""Resolution: defaults, num_envs auto, worker_mode, seeds, schedules, observation signatures and the hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from config_helpers import TINY_MATRIX, ppo_text

from orchestrator.config import ResolvedConfig, resolve_config
from orchestrator.errors import ConfigError
from trainers.dreamerv3 import spec as dreamer_spec
from trainers.ppo_expert import spec as ppo_spec

REFERENCE_PPO = "configs/training/ppo_imitation/expert_ppo_issue_403_grid.yaml"


def _config(tmp: Path, text: str, name: str = "c.yaml") -> Path:
    (tmp / "scen.yaml").write_text(TINY_MATRIX)
    path = tmp / name
    path.write_text(text)
    return path


@pytest.fixture
def reference_ppo(reference_tree: Path) -> Path:
    """The 403 config in a copy of the reference tree where its ../../scenarios/ matrix exists."""
    return reference_tree / REFERENCE_PPO


def test_reference_403_with_a_matrix_lacking_its_hold_outs_is_invalid(reference_ppo: Path) -> None:
    matrix = reference_ppo.parents[2] / "scenarios" / "classic_interactions_francis2023.yaml"
    matrix.write_text("includes: [archetypes/classic_crossing.yaml]\n")
    with pytest.raises(ConfigError) as info:
        resolve_config(reference_ppo)
    missing = [i for i in info.value.issues if "no scenario named" in i.message]
    assert len(missing) == 9 and len(info.value.issues) == 9  # the run would stop there: an error, not a warning
    first = missing[0]
    assert first.key_path == "evaluation.hold_out_scenarios[0]" and first.line == 59
    assert "'classic_bottleneck_low'" in first.message and first.file == str(reference_ppo)


def test_num_envs_auto_follows_slurm_cpus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = _config(tmp_path, ppo_text(l20="num_envs: auto", l21="", l22=""))
    monkeypatch.delenv("SLURM_MEM_PER_NODE", raising=False)
    monkeypatch.delenv("SLURM_MEM_PER_CPU", raising=False)
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "24")
    monkeypatch.setenv("SLURM_MEM_PER_NODE", str(64 * 1024))
    resolved = resolve_config(path)
    assert resolved.settings["num_envs"] == 22  # 24 CPUs - 2 headroom; 64 GB allows 42
    assert resolved.settings["worker_mode"] == "subproc"
    assert "22 from 24 CPUs" in resolved.source["auto"]["num_envs"]
    monkeypatch.setenv("SLURM_MEM_PER_NODE", str(12 * 1024))
    assert resolve_config(path).settings["num_envs"] == 8  # memory caps it: 12 GB / 1.5 GB
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    single = resolve_config(path)
    assert (single.settings["num_envs"], single.settings["worker_mode"]) == (1, "dummy")


@pytest.mark.parametrize(
    ("cpus", "mem", "envs"),
    [(1, None, 1), (2, None, 1), (8, None, 7), (9, None, 7), (24, 64, 22), (64, 16, 10), (4, 0.5, 1)],
)
def test_auto_num_envs(cpus: int, mem: float | None, envs: int) -> None:
    assert ppo_spec.auto_num_envs(cpus, mem) == envs


def test_dreamer_auto_num_envs_is_capped() -> None:
    assert dreamer_spec.auto_num_envs(24, 64) == 16
    assert dreamer_spec.auto_num_envs(2) == 1


def test_explicit_num_envs_and_worker_mode_are_kept(tmp_path: Path) -> None:
    path = _config(tmp_path, ppo_text(l20="num_envs: 3", l21="worker_mode: dummy", l22=""))
    resolved = resolve_config(path, cpus=64, mem_gb=256)
    assert (resolved.settings["num_envs"], resolved.settings["worker_mode"]) == (3, "dummy")
    assert resolved.source["auto"] == {}


def test_defaults_are_filled(tmp_path: Path) -> None:
    resolved = resolve_config(_config(tmp_path, ppo_text()), cpus=2)
    ppo = resolved.settings["ppo_hyperparams"]
    assert (ppo["learning_rate"], ppo["batch_size"], ppo["n_epochs"], ppo["ent_coef"]) == (1e-4, 256, 4, 0.01)
    assert (ppo["clip_range"], ppo["target_kl"]) == (0.1, 0.02)
    assert set(ppo) == set(ppo_spec.PPO_HYPERPARAMS)
    assert resolved.seeds == (0,) and resolved.deterministic is False
    assert resolved.settings["scenario_config"] == str(tmp_path / "scen.yaml")
    assert resolved.name == "p"


def test_step_schedule_expansion() -> None:
    schedule = [{"until_step": 3_000_000, "every_steps": 500_000}, {"every_steps": 1_000_000}]
    steps = ppo_spec.expand_step_schedule(schedule, 10_000_000)
    assert steps == [500_000 * k for k in range(1, 7)] + [1_000_000 * k for k in range(4, 11)]
    assert ppo_spec.expand_step_schedule(schedule, 3_200_000)[-2:] == [3_000_000, 3_200_000]
    assert ppo_spec.expand_step_schedule(None, 1000) == [100 * k for k in range(1, 11)]
    assert ppo_spec.expand_step_schedule([{"every_steps": 300}], 1000) == [300, 600, 900, 1000]


def test_too_many_evaluations_is_an_error_not_a_memory_explosion(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at most 10000"):
        ppo_spec.expand_step_schedule([{"every_steps": 1}], 10**30)
    with pytest.raises(ConfigError, match=r"c.yaml:18: evaluation.step_schedule: the schedule asks for 1000000 "):
        resolve_config(_config(tmp_path, ppo_text(l4="total_timesteps: 1000000", l19="    - every_steps: 1")))


def test_reference_403_resolves_with_its_scenario_file(reference_ppo: Path) -> None:
    resolved = resolve_config(reference_ppo, cpus=24, mem_gb=64)
    signature = resolved.observation_signature
    assert signature["occupancy_grid"] == {"shape": [3, 160, 160], "dtype": "float32"}
    assert signature["occupancy_grid_meta_channel_indices"] == {"shape": [4], "dtype": "int32"}
    assert resolved.seeds == (123, 231, 777, 992, 1337)
    eval_steps = resolved.settings["evaluation"]["eval_steps"]
    assert eval_steps[:7] == [500_000, 1_000_000, 1_500_000, 2_000_000, 2_500_000, 3_000_000, 4_000_000]
    assert eval_steps[-1] == 10_000_000
    assert resolved.settings["env_overrides"]["peds_have_static_obstacle_forces"] is True
    assert len(resolved.warnings) == 2  # the deprecated alias and frequency_episodes


def test_reference_403_is_an_error_under_strict(reference_ppo: Path) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_config(reference_ppo, strict=True)
    assert {i.key_path for i in info.value.issues} == {
        "env_factory_kwargs.peds_have_obstacle_forces",
        "evaluation.frequency_episodes",
    }


def test_drive_state_rays_signature(tmp_path: Path) -> None:
    flat = resolve_config(_config(tmp_path, "trainer: dreamerv3\n"))
    assert flat.observation_signature == {"observation": {"shape": [831], "dtype": "float32"}}
    nested = resolve_config(_config(tmp_path, "trainer: dreamerv3\nenv:\n  flatten_observation: false\n", "n.yaml"))
    assert nested.observation_signature == {
        "drive_state": {"shape": [3, 5], "dtype": "float32"},
        "rays": {"shape": [3, 272], "dtype": "float32"},
    }


def test_gym_env_signature(tmp_path: Path) -> None:
    resolved = resolve_config(_config(tmp_path, "trainer: dreamerv3\nenv:\n  id: CartPole-v1\n"))
    assert resolved.observation_signature == {"observation": {"shape": [4], "dtype": "float32"}}


def test_hash_is_stable_and_sensitive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _config(tmp_path, ppo_text())
    first = resolve_config(path, cpus=2, mem_gb=8)
    # the same config elsewhere, on another machine with more CPUs (num_envs: auto) hashes the same
    assert resolve_config(path, cpus=48, mem_gb=256).config_hash == first.config_hash
    assert resolve_config(path, overrides=["policy_id=p"]).config_hash == first.config_hash
    assert resolve_config(path, overrides=["total_timesteps=2000"]).config_hash != first.config_hash
    assert len(first.config_hash) == 64
    # key order in the file does not matter
    lines = ppo_text().splitlines()
    reordered = "\n".join(lines[15:] + lines[:15]) + "\n"
    assert resolve_config(_config(tmp_path, reordered, "r.yaml"), cpus=2).config_hash == first.config_hash
    # another checkout: same files elsewhere hash the same; another scenario matrix does not
    other = tmp_path / "other checkout"
    other.mkdir()
    assert resolve_config(_config(other, ppo_text())).config_hash == first.config_hash
    (other / "scen.yaml").write_text(TINY_MATRIX.replace("tiny", "changed"))
    assert resolve_config(other / "c.yaml").config_hash != first.config_hash


def test_resolved_document_and_for_seed(tmp_path: Path) -> None:
    resolved = resolve_config(_config(tmp_path, ppo_text(l20="seeds: [3, 4]", l21="deterministic: true", l22="")))
    assert isinstance(resolved, ResolvedConfig)
    document = resolved.for_seed(4)
    assert document["seed"] == 4 and document["seeds"] == [3, 4]
    assert document["deterministic"] is True and document["settings"]["deterministic"] is True
    assert set(document) >= {
        "schema_version",
        "trainer",
        "name",
        "source",
        "seeds",
        "seed",
        "deterministic",
        "settings",
        "observation_signature",
        "config_hash",
        "warnings",
        "not_applicable",
    }
    json.dumps(document)  # JSON-serialisable
    document["settings"]["total_timesteps"] = 1  # a copy: the resolved config is not changed
    assert resolved.settings["total_timesteps"] == 1000
    with pytest.raises(AttributeError):
        resolved.name = "x"  # type: ignore[misc]


def test_dreamer_defaults_and_model_overrides(tmp_path: Path) -> None:
    resolved = resolve_config(_config(tmp_path, "trainer: dreamerv3\nmodel_size: M\nmodel:\n  deter: 999\n"), cpus=2)
    settings = resolved.settings
    assert settings["model"]["deter"] == 999 and settings["model"]["units"] == dreamer_spec.MODEL_SIZES["M"]["units"]
    for key in ("train_ratio", "batch_size", "batch_length", "horizon", "world_model_lr", "actor_lr", "critic_lr"):
        assert settings[key] == dreamer_spec.DEFAULTS[key]
    assert settings["num_envs"] == 1


def test_grid_socnav_needs_the_grid(tmp_path: Path) -> None:
    text = ppo_text(l8="  include_grid_in_observation: false", l20="feature_extractor: grid_socnav", l21="", l22="")
    with pytest.raises(ConfigError, match="grid_socnav needs the occupancy grid"):
        resolve_config(_config(tmp_path, text))


def test_no_feature_extractor_means_robot_sfs_default(tmp_path: Path) -> None:
    resolved = resolve_config(
        _config(tmp_path, "trainer: ppo_expert\npolicy_id: p\nscenario_config: scen.yaml\ntotal_timesteps: 1000\n")
    )
    assert resolved.settings["feature_extractor"] == "default"
    assert resolved.settings["feature_extractor_kwargs"] == {} and resolved.settings["policy_net_arch"] == [64, 64]
    assert "drive_state" in resolved.observation_signature  # the default_gym observation
    grid = resolve_config(_config(tmp_path, ppo_text(l20="feature_extractor: grid_socnav", l21="", l22=""), "g.yaml"))
    assert grid.settings["feature_extractor_kwargs"]["grid_channels"] == [32, 64, 64]  # its defaults, filled in
    with pytest.raises(ConfigError) as info:
        resolve_config(
            _config(tmp_path, ppo_text(l20="feature_extractor_kwargs: {dropout_rate: 0.2}", l21="", l22=""), "b.yaml")
        )
    (issue,) = info.value.issues
    assert issue.key_path == "feature_extractor_kwargs.dropout_rate" and issue.line == 20
    assert "a grid_socnav setting; feature_extractor default takes" in issue.message


def test_randomize_seeds_draws_a_seed_per_run(tmp_path: Path) -> None:
    base = "trainer: ppo_expert\npolicy_id: p\nscenario_config: scen.yaml\ntotal_timesteps: 1000\n"
    empty = resolve_config(_config(tmp_path, base + "seeds: []\nrandomize_seeds: true\n"))
    assert empty.seeds == () and empty.randomize_seeds and not empty.warnings
    drawn = {empty.run_seeds() for _ in range(5)}
    assert all(len(d) == 1 and 0 <= d[0] < 2**31 for d in drawn) and len(drawn) > 1
    listed = resolve_config(_config(tmp_path, base + "seeds: [1, 2, 3]\nrandomize_seeds: true\n", "l.yaml"))
    assert len(listed.run_seeds()) == 3 and "these seeds are not used" in listed.warnings[0]
    fixed = resolve_config(_config(tmp_path, base + "seeds: []\n", "f.yaml"))
    assert fixed.seeds == (0,) and fixed.run_seeds() == (0,)


def test_batch_size_larger_than_rollout_is_an_error(tmp_path: Path) -> None:
    text = ppo_text(l20="num_envs: 1", l21="ppo_hyperparams: {n_steps: 64, batch_size: 128}", l22="")
    with pytest.raises(ConfigError, match="batch_size 128 > n_steps x num_envs"):
        resolve_config(_config(tmp_path, text))


def test_cluster_profile_is_not_a_trainer_config(tmp_path: Path) -> None:
    path = _config(tmp_path, "backend: local\ncpus_per_task: 2\n")
    with pytest.raises(ConfigError, match="not a trainer config"):
        resolve_config(path)
