"""`orch validate`: verdicts, exit codes, --json, --resolve, --strict, --set, the shipped and reference configs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from config_helpers import ppo_text

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((REPO / "configs").glob("*/*.yaml"))
TRAINER_EXAMPLES = [p for p in EXAMPLES if p.parent.name in ("ppo_expert", "dreamerv3")]
Cli = Callable[..., tuple[int, str, str]]


def test_the_required_examples_exist() -> None:
    names = {f"{p.parent.name}/{p.name}" for p in EXAMPLES}
    assert {
        "ppo_expert/grid_socnav_smoke.yaml",
        "ppo_expert/grid_socnav_full.yaml",
        "dreamerv3/drive_state_rays_smoke.yaml",
        "dreamerv3/drive_state_rays_auxme_a30.yaml",
    } <= names
    assert any("base_config" in p.read_text() for p in TRAINER_EXAMPLES)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_config_is_valid(path: Path, cli: Cli) -> None:
    code, out, err = cli("validate", path)
    assert code == 0, err
    assert f"{path}: valid" in out


def test_every_shipped_trainer_config_is_valid_under_strict_from_another_folder(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("validate", "--strict", *TRAINER_EXAMPLES)
    assert code == 0, err
    assert out.count(": valid as") == len(TRAINER_EXAMPLES)


def test_smoke_example_is_small(cli: Cli) -> None:
    code, out, _ = cli("validate", "--json", REPO / "configs/ppo_expert/grid_socnav_smoke.yaml")
    assert code == 0
    resolved = json.loads(out)["files"][0]["resolved"]
    assert resolved["settings"]["total_timesteps"] <= 50_000 and resolved["settings"]["num_envs"] == 2
    assert resolved["observation_signature"]["occupancy_grid"]["shape"] == [3, 32, 32]


def test_reference_training_configs(reference_dir: Path, cli: Cli) -> None:
    ppo = reference_dir / "configs/training/ppo_imitation/expert_ppo_issue_403_grid.yaml"
    dreamer = reference_dir / "configs/training/rllib_dreamerv3/drive_state_rays.yaml"
    code, out, err = cli("validate", ppo, dreamer)
    assert code == 2
    tried = reference_dir / "configs/scenarios/classic_interactions_francis2023.yaml"
    assert f"error: {ppo}:5: scenario_config: file not found: {tried}" in err
    assert f"{ppo}: INVALID, 1 error as ppo_expert (by shape: Robot SF PPO expert config" in out
    assert f"{dreamer}: valid as dreamerv3 (by shape: Robot SF RLlib DreamerV3 config" in out
    assert "warning: " in err and "ray: not applicable" in err


def test_every_reference_training_yaml_gets_a_clear_answer(reference_dir: Path, cli: Cli) -> None:
    paths = sorted((reference_dir / "configs/training").rglob("*.yaml"))
    assert paths, "the reference tree has no training configs"
    for path in paths:
        code, out, err = cli("validate", path)
        assert code in (0, 2) and "Traceback" not in err
        assert f"{path}: valid" in out or "file not found" in err


def test_reference_403_validates_with_its_scenario_file(reference_tree: Path, cli: Cli) -> None:
    config = reference_tree / "configs/training/ppo_imitation/expert_ppo_issue_403_grid.yaml"
    code, out, err = cli("validate", "--resolve", config)
    assert code == 0, err
    assert "occupancy_grid " in out and "(3, 160, 160)" in out
    assert "occupancy_grid_meta_channel_indices" in out and "int32" in out


def test_every_reference_config_validates_once_its_matrix_is_there(reference_tree: Path, cli: Cli) -> None:
    configs = sorted((reference_tree / "configs/training").rglob("*.yaml"))
    assert len(configs) >= 5
    for path in configs:
        if path.name.startswith("optuna_"):
            continue  # a study file (issue 17), not a trainer config
        code, out, err = cli("validate", path)
        assert code == 0, f"{path}: {err}"
        assert f"{path}: valid as" in out


def test_json_document(scenario_dir: Path, reference_dir: Path, cli: Cli) -> None:
    good = scenario_dir / "good.yaml"
    good.write_text(ppo_text())
    dreamer = reference_dir / "configs/training/rllib_dreamerv3/drive_state_rays.yaml"
    code, out, err = cli("validate", "--json", good, dreamer)
    assert code == 0, err
    document = json.loads(out)
    assert document["schema_version"] == 1 and document["valid"] is True
    first, second = document["files"]
    assert first["kind"] == "ppo_expert" and first["resolved"]["config_hash"]
    assert "ray: Ray cluster settings; orch runs Dreamer in one process" in second["not_applicable"]
    assert second["resolved"]["not_applicable"] == second["not_applicable"]
    assert second["warnings"] and "warning:" in err  # warnings also on stderr, stdout stays pure JSON


def test_resolve_prints_tables(scenario_dir: Path, cli: Cli) -> None:
    config = scenario_dir / "c.yaml"
    config.write_text("trainer: dreamerv3\nenv:\n  flatten_observation: false\n")
    code, out, _ = cli("validate", "--resolve", config)
    assert code == 0
    for text in ("train_ratio", "512", "observation signature", "drive_state", "(3, 5)", "rays", "(3, 272)"):
        assert text in out


def test_set_overrides_apply(scenario_dir: Path, cli: Cli) -> None:
    config = scenario_dir / "c.yaml"
    config.write_text(ppo_text())
    code, out, _ = cli("validate", "--json", "--set", "total_timesteps=5000", "--set", "seeds=[1, 2]", config)
    resolved = json.loads(out)["files"][0]["resolved"]
    assert code == 0 and resolved["settings"]["total_timesteps"] == 5000 and resolved["seeds"] == [1, 2]


def test_mixed_files_exit_2_with_a_verdict_each(scenario_dir: Path, cli: Cli) -> None:
    good, bad = scenario_dir / "good.yaml", scenario_dir / "bad.yaml"
    good.write_text(ppo_text())
    bad.write_text(ppo_text(l4="total_timesteps: -1"))
    code, out, _ = cli("validate", good, bad, scenario_dir / "absent.yaml")
    assert code == 2
    assert f"{good}: valid" in out and f"{bad}: INVALID, 1 error" in out and "absent.yaml: INVALID" in out


def test_internal_fault_exits_1_with_traceback_file(
    scenario_dir: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import orchestrator.config

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(orchestrator.config, "check_config", boom)
    config = scenario_dir / "c.yaml"
    config.write_text(ppo_text())
    code, _, err = cli("validate", config)
    assert code == 1 and "internal error" in err and "traceback in" in err


def test_validate_imports_no_heavy_module(scenario_dir: Path) -> None:
    config = scenario_dir / "c.yaml"
    config.write_text(ppo_text())
    dreamer = REPO / "configs/dreamerv3/drive_state_rays_smoke.yaml"
    script = (
        "import sys\nfrom orchestrator.cli import main\n"
        f"code = main(['validate', '--resolve', {str(config)!r}, {str(dreamer)!r}])\n"
        "heavy = [m for m in ('torch', 'stable_baselines3', 'gymnasium', 'wandb') if m in sys.modules]\n"
        "print('HEAVY', heavy)\nsys.exit(code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"}
    )
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout


def test_cluster_profile_is_recognised_and_validated(tmp_path: Path, cli: Cli) -> None:
    if not (REPO / "schemas" / "cluster.schema.json").is_file():
        pytest.skip("the cluster schema is not written yet")
    profile = tmp_path / "mycluster.yaml"
    profile.write_text("backend: slurm\npartiton: a30\ncpus_per_task: 4\n")
    code, out, err = cli("validate", profile)
    assert code == 2
    assert "as cluster profile" in out
    assert f"{profile}:2: partiton: unknown key (did you mean 'partition'?)" in err


def test_scenario_matrix_is_recognised(tmp_path: Path, cli: Cli) -> None:
    matrix = tmp_path / "m.yaml"
    matrix.write_text("scenarios:\n  - name: a\n    map_id: easy_open\n")
    code, out, _ = cli("validate", matrix)
    assert code == 0 and "as scenario matrix" in out
    matrix.write_text("scenarios: []\n")
    assert cli("validate", matrix)[0] == 2
    matrix.write_text("scenarios:\n  - name: a\n    map_id: easy_open\n  - name: b\n    map_id: nowhere\n")
    code, _, err = cli("validate", matrix)
    assert code == 2 and f"{matrix}:5: scenarios[1].map_id: " in err and "map_id 'nowhere' not found" in err
