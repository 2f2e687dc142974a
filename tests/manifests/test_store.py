from __future__ import annotations

from pathlib import Path

import pytest

from manifests import (
    ManifestError,
    PolicyManifest,
    RunManifest,
    load_policy_manifest,
    load_run_manifest,
    publish_policy_manifest,
    resolve_artifact_root,
    save_policy_manifest,
    save_run_manifest,
    update_run_manifest,
)
from manifests.io import atomic_write_json


def _policy() -> PolicyManifest:
    return PolicyManifest(
        policy_id="ppo_expert_grid_socnav_403",
        version="20260304",
        seeds=[123],
        scenario_profile=["classic_crossing_low"],
        metrics={"success_rate": {"mean": 0.8, "median": 1.0, "p95": 1.0, "ci95": [0.7, 0.9]}},
        checkpoint_path="checkpoints/best.zip",
        config_manifest="config.yaml",
        observation_signature={"rays": {"shape": [3, 272], "dtype": "float32"}},
    )


def test_run_manifest_roundtrip_and_update(tmp_path: Path) -> None:
    save_run_manifest(tmp_path, RunManifest(run_id="r1", trainer="dreamerv3", name="n", seed=3))
    update_run_manifest(tmp_path, lambda m: setattr(m, "status", "running"))
    loaded = load_run_manifest(tmp_path)
    assert (loaded.run_id, loaded.status, loaded.seed) == ("r1", "running", 3)


def test_unknown_fields_of_newer_writers_survive_a_rewrite(tmp_path: Path) -> None:
    doc = RunManifest(run_id="r1", trainer="t", name="n").to_dict()
    doc["future_field"] = {"x": 1}
    atomic_write_json(tmp_path / "run.json", doc)
    update_run_manifest(tmp_path, lambda m: setattr(m, "status", "completed"))
    assert load_run_manifest(tmp_path).to_dict()["future_field"] == {"x": 1}


def test_invalid_status_is_rejected_with_the_field(tmp_path: Path) -> None:
    manifest = RunManifest(run_id="r1", trainer="t", name="n")
    manifest.status = "exploded"  # type: ignore[assignment]
    with pytest.raises(ManifestError, match="status"):
        save_run_manifest(tmp_path, manifest)
    assert not (tmp_path / "run.json").exists()


def test_policy_manifest_carries_upstream_fields(tmp_path: Path) -> None:
    save_policy_manifest(tmp_path, _policy())
    loaded = load_policy_manifest(tmp_path)
    upstream = {
        "policy_id",
        "version",
        "seeds",
        "scenario_profile",
        "metrics",
        "checkpoint_path",
        "config_manifest",
        "validation_state",
        "created_at",
    }
    assert upstream <= set(loaded.to_dict())


def test_publishing_twice_never_overwrites(tmp_path: Path) -> None:
    first = publish_policy_manifest(tmp_path, _policy())
    second = publish_policy_manifest(tmp_path, _policy())
    assert first != second
    assert first.exists() and second.exists()
    assert load_policy_manifest(second).version.endswith(".2")


def test_artifact_root_is_flag_then_env_then_output_and_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cwd = Path.cwd()  # tmp_path with its links resolved, as the OS reports the working directory
    monkeypatch.delenv("ORCH_ARTIFACT_ROOT", raising=False)
    assert resolve_artifact_root() == cwd / "output"
    monkeypatch.setenv("ORCH_ARTIFACT_ROOT", "from-env")
    assert resolve_artifact_root() == cwd / "from-env"
    assert resolve_artifact_root(Path("flag")) == cwd / "flag"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_artifact_root("~/runs-here") == tmp_path / "home" / "runs-here"
