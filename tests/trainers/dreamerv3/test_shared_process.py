"""Runs of one process (a cluster profile's ``runs_per_job``) share torch's process-wide switches: the first run to end
must not switch deterministic algorithms off under a sibling that still trains."""

from __future__ import annotations

from pathlib import Path

import torch
from dreamer_testing import resolved_doc, tiny_settings

from trainers import registry
from trainers.common.job import TrainJob
from trainers.dreamerv3.train import DreamerTrainer


def test_the_last_run_of_a_process_gives_back_the_deterministic_setting(tmp_path: Path) -> None:
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(False)
    try:
        first, second = (
            DreamerTrainer(TrainJob(resolved=resolved_doc(tiny_settings(), seed=s), run_dir=tmp_path / f"s{s}"))
            for s in (1, 2)
        )
        first.close()
        assert torch.are_deterministic_algorithms_enabled()  # the second run still trains deterministically
        second.close()
        assert not torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(before)


def test_dreamer_declares_it_can_share_a_process_and_ppo_does_not() -> None:
    assert registry.shares_process("dreamerv3") and not registry.shares_process("ppo_expert")
