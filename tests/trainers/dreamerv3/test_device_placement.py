"""CUDA correctness without a GPU: the whole training loop on a device that is not the default (the CPU-backed
stand-in of ``trainers.dreamerv3.standin``), with every tensor and generator it creates checked where it is used."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from dreamer_testing import resolved_doc, tiny_settings

import trainers.dreamerv3.train as train_module
from manifests import load_run_manifest
from trainers.common.job import TrainJob
from trainers.dreamerv3.standin import STANDIN, DeviceMismatch, is_standin, standin_device
from trainers.dreamerv3.train import DreamerTrainer

QUIET = {"tensorboard": False, "wandb": {"enabled": False}}


def _placed_on_device(trainer: DreamerTrainer) -> list[str]:
    """Names of the tensors and generators that should live on the training device but do not."""
    parts = trainer.parts
    wrong = [
        f"agent.{n}" for n, t in [*parts.agent.named_parameters(), *parts.agent.named_buffers()] if not is_standin(t)
    ]
    for opt in (parts.learner.wm_opt, parts.learner.actor_opt, parts.learner.critic_opt):
        for state in opt.state.values():
            wrong += [f"optimiser {k}" for k, v in state.items() if isinstance(v, torch.Tensor) and not is_standin(v)]
    gens = {"learner": parts.learner.generator, "collector policy": parts.collector.policy_generator}
    wrong += [f"{name} generator" for name, gen in gens.items() if not is_standin(gen)]
    state = parts.collector.agent_state or {}
    wrong += [f"collector state {k}" for k, v in state.items() if not is_standin(v)]
    return wrong


@pytest.mark.parametrize(
    "flags",
    [{"check_every": 1}, {"check_every": 4}, {"check_every": 4, "cuda_graph": True}],
    ids=["checks-every-update", "deferred-checks", "captured-update-on-staged-batches"],
)
def test_training_loop_keeps_every_tensor_and_generator_on_its_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: dict
) -> None:
    """Prefill, collection, updates, evaluation, checkpoints and a resume, on the stand-in device. Any op that mixes
    devices or samples with a generator of another device raises :class:`DeviceMismatch` (as CUDA would)."""
    monkeypatch.setattr(train_module, "pick_device", lambda name: STANDIN)
    run_dir = tmp_path / "runs" / "standin"
    settings = tiny_settings(
        **flags,
        tracking=QUIET,
        total_env_steps=60,
        prefill=20,
        train_ratio=4,
        log_every=20,
        checkpoint_every=40,
        eval_every=40,
    )
    with standin_device() as transfers:
        trainer = DreamerTrainer(TrainJob(resolved=resolved_doc(settings), run_dir=run_dir))
        trainer.run()
        assert load_run_manifest(run_dir).status == "completed"
        assert trainer.progress.opt_steps > 0 and not _placed_on_device(trainer)
        assert transfers.host_to_device > 0 and transfers.device_to_host > 0  # observations in, actions out
        # resume from the final checkpoint and go on: weights, optimiser state and generators land on the device
        saved = torch.load(run_dir / "checkpoints" / "final.pt", weights_only=False)["agent"]
        loaded = DreamerTrainer(TrainJob(resolved=resolved_doc(settings), run_dir=run_dir, resume=True))
        assert all(torch.equal(t.cpu(), saved[k]) for k, t in loaded.parts.agent.state_dict().items())
        loaded.close()
        longer = {**settings, "total_env_steps": 80}
        resumed = DreamerTrainer(TrainJob(resolved=resolved_doc(longer), run_dir=run_dir, resume=True))
        resumed.run()
        assert resumed.progress.env_steps == 80 and resumed.progress.opt_steps > trainer.progress.opt_steps
        assert not _placed_on_device(resumed)


def test_the_stand_in_catches_what_cuda_would_refuse() -> None:
    with standin_device():
        on_device = torch.ones(3, device=STANDIN)
        with pytest.raises(DeviceMismatch, match="generator on cpu"):
            torch.rand(3, device=STANDIN, generator=torch.Generator())  # the bug issue 15 found in the collector
        with pytest.raises(DeviceMismatch, match="host tensors"):
            on_device + torch.ones(3)
        with pytest.raises(DeviceMismatch, match="host tensors"):
            torch.stack([on_device[0], torch.tensor(1.0)])  # a host scalar is fine as an argument, not in a list
        assert (on_device * torch.tensor(2.0)).device == STANDIN  # ... as CUDA allows
        gen = torch.Generator(device=STANDIN)
        assert is_standin(torch.rand(2, device=STANDIN, generator=gen)) and is_standin(gen)
