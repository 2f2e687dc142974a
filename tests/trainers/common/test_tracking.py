from __future__ import annotations

from pathlib import Path

import pytest

from trainers.common.tracking import Tracker, wandb_mode


@pytest.mark.parametrize(
    ("env_mode", "configured", "api_key", "expected"),
    [
        (None, None, None, "offline"),
        (None, "online", "k", "online"),
        ("offline", "online", "k", "offline"),
        (None, "disabled", None, "disabled"),
        (None, "onlnie", "k", "offline"),
    ],
    ids=["no-key-goes-offline", "key-allows-online", "env-wins", "disabled-stays", "typo-goes-offline"],
)
def test_wandb_mode(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    env_mode: str | None,
    configured: str | None,
    api_key: str | None,
    expected: str,
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    for name, value in (("WANDB_MODE", env_mode), ("WANDB_API_KEY", api_key)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert wandb_mode(configured) == expected


def test_wandb_run_gets_the_configured_entity_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = {"enabled": True, "project": "orch-test", "entity": "my-team", "mode": "offline"}
    tracker = Tracker(tmp_path, tensorboard=False, wandb_config=cfg, run_name="entity-check")
    try:
        assert tracker.wandb_mode == "offline" and tracker.wandb_run_id
        assert tracker._wandb_run is not None and tracker._wandb_run.entity == "my-team"
    finally:
        tracker.close()
    assert (tmp_path / "wandb").is_dir()


def test_a_cluster_node_logs_offline_even_with_a_key_unless_disabled(tmp_path: Path, monkeypatch) -> None:
    from trainers.common.job import WANDB_OFFLINE_ON_NODE

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_API_KEY", "k")
    assert wandb_mode("online") == "online"
    monkeypatch.setenv(WANDB_OFFLINE_ON_NODE, "1")
    assert wandb_mode("online") == "offline" and wandb_mode("disabled") == "disabled"
