"""``recon.npz`` from a real agent (read back by ``orch plot``), and the GPU-gate probes' CPU paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from trainers.dreamerv3 import probes
from trainers.dreamerv3.agent import ActionSpec, DreamerAgent
from trainers.dreamerv3.config import DreamerConfig
from trainers.dreamerv3.recon import save_reconstruction


def test_save_reconstruction_writes_real_and_decoded(tmp_path: Path) -> None:
    cfg = DreamerConfig.from_settings({**probes._SETTINGS, "device": "cpu"})
    agent = DreamerAgent(probes._OBS, ActionSpec(discrete=True, n=3), cfg.model)
    replay = probes._filled_replay(torch.device("cpu"), 256, 2, 60, 3)
    batch = replay.sample(2, 16)
    agent.train()
    path = save_reconstruction(agent, batch, tmp_path / "recon.npz", step=60, max_len=12)
    assert agent.training  # mode restored
    with np.load(path) as data:
        assert data["real"].shape == data["decoded"].shape == (12, 8)
        assert int(data["step"]) == 60
        np.testing.assert_allclose(data["real"], batch["obs"]["observation"][0, :12].numpy())
        assert np.isfinite(data["decoded"]).all()


def test_replay_pointer_probe_passes_on_cpu() -> None:
    result = probes.replay_pointers("cpu")
    assert result["passed"] and result["moved"] == [] and "3 wrap-arounds" in result["reason"]


def test_deferred_update_makes_no_host_transfer() -> None:
    """The GPU hot path (deferred checks, batch sampled from a replay on the device) copies nothing between host and
    device and reads nothing back; on a CPU the probe runs it on the stand-in device, which counts both directions."""
    result = probes.host_transfers("cpu")
    assert result["passed"], result
    assert result["dtoh_copies"] == result["htod_copies"] == 0


def test_the_probe_counts_a_host_tensor_built_inside_the_update(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The return normaliser once built its quantile levels with torch.tensor([...], device=...) in every update:
    a host-to-device copy the older probe (device-to-host only) could not see."""
    from trainers.dreamerv3.maths import ReturnNormalizer

    def update_with_host_levels(self, returns):  # type: ignore[no-untyped-def]
        self.levels = torch.tensor([0.05, 0.95], device=returns.device)
        return real_update(self, returns)

    real_update = ReturnNormalizer.update
    monkeypatch.setattr(ReturnNormalizer, "update", update_with_host_levels)
    result = probes.host_transfers("cpu")
    assert not result["passed"] and result["htod_copies"] >= 1, result


def test_probe_cli_prints_one_json_line(capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    assert probes.main(["replay_pointers", "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["passed"] is True


def test_cuda_graph_probe_matches_plain_updates_on_cpu() -> None:
    """On a CPU the captured path replays eagerly: equal to plain updates, every replay stepping the optimisers."""
    result = probes.cuda_graph("cpu", updates=5)
    assert result["passed"], result["reason"]
    assert result["captured_as"] == "EagerReplay" and result["optimiser_steps"] == [5, 5, 5]
    assert result["relative_loss_gap"] == 0.0 and result["max_weight_gap"] == 0.0
    assert len(set(result["losses"])) == 5  # fresh batches: every update saw new data


def test_cuda_graph_probe_fails_when_replays_do_not_train(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A replay that launches nothing (as a graph captured empty would) is caught."""
    from trainers.dreamerv3 import graphs

    monkeypatch.setattr(graphs.EagerReplay, "replay", lambda self: {"loss_model": torch.ones(())})
    result = probes.cuda_graph("cpu", updates=5)
    assert not result["passed"] and "optimiser steps [3, 3, 3]" in result["reason"], result["reason"]
