"""One CPU train step, replay sampling, and the fail-fast path with a poisoned batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from dreamer_testing import tiny_settings

from trainers.dreamerv3.agent import ActionSpec, DreamerAgent
from trainers.dreamerv3.config import DreamerConfig
from trainers.dreamerv3.learner import Learner, NonFiniteError
from trainers.dreamerv3.replay import SequenceReplay


def _parts(seed: int = 0) -> tuple[DreamerAgent, Learner, SequenceReplay]:
    torch.manual_seed(seed)
    cfg = DreamerConfig.from_settings(tiny_settings())
    agent = DreamerAgent({"observation": (4,)}, ActionSpec(True, 2), cfg.model)
    replay = SequenceReplay({"observation": (4,)}, 2, capacity=200, num_envs=2, seed=seed)
    rng = np.random.default_rng(seed)
    for t in range(40):
        replay.add(
            {"observation": rng.normal(size=(2, 4))},
            np.eye(2)[rng.integers(0, 2, 2)],
            np.ones(2),
            np.array([t % 13 == 0] * 2),
            np.array([t % 13 == 12] * 2),
        )
    return agent, Learner(agent, cfg, device=torch.device("cpu"), seed=seed), replay


def test_one_train_step_updates_every_part() -> None:
    agent, learner, replay = _parts()
    before = {n: p.detach().clone() for n, p in agent.named_parameters()}
    metrics = learner.train_step(replay.sample(2, 8))
    for key in (
        "loss_model",
        "obs_nll",
        "reward_nll",
        "continue_nll",
        "kl_dyn",
        "kl_rep",
        "loss_actor",
        "loss_critic",
        "action_entropy",
        "value_mean",
        "adv_std",
        "ret_scale",
        "free_bits_applied",
    ):
        assert np.isfinite(metrics[key]), key
    changed = {n.split(".")[0] for n, p in agent.named_parameters() if not torch.equal(before[n], p)}
    assert {"encoder", "rssm", "decoder", "cont_head", "actor", "critic", "slow_critic"} <= changed
    assert learner.updates == 1


def test_poisoned_batch_fails_fast_before_any_parameter_moves() -> None:
    agent, learner, replay = _parts()
    batch = replay.sample(2, 8)
    batch["obs"]["observation"][1, 3, 2] = float("nan")
    before = [p.detach().clone() for p in agent.parameters()]
    with pytest.raises(NonFiniteError) as err:
        learner.train_step(batch)
    assert "loss_model" in err.value.what
    assert all(torch.equal(a, p) for a, p in zip(before, agent.parameters(), strict=True))


def test_deferred_checks_skip_the_bad_step_on_the_device_and_raise_at_the_next_read() -> None:
    agent, learner, replay = _parts()
    assert learner.can_defer
    clean = replay.sample(2, 8)
    learner.train_step(clean, sync=False)  # update 0: fine
    poisoned = replay.sample(2, 8)
    poisoned["obs"]["observation"][0, 5, 1] = float("inf")
    before = [p.detach().clone() for p in agent.parameters()]
    steps_before = [s["step"].clone() for s in learner.wm_opt.state.values()]
    metrics = learner.train_step(poisoned, sync=False)  # update 1: no raise, no host sync
    assert all(isinstance(v, torch.Tensor) for v in metrics.values())
    assert all(torch.equal(a, p) for a, p in zip(before, agent.parameters(), strict=True))  # the step was skipped
    assert [s["step"] for s in learner.wm_opt.state.values()] == steps_before  # Adam's step count too
    learner.train_step(clean, sync=False)  # update 2: fine again, parameters move
    assert not all(torch.equal(a, p) for a, p in zip(before, agent.parameters(), strict=True))
    with pytest.raises(NonFiniteError) as err:
        learner.raise_pending()
    assert "loss_model" in err.value.what and err.value.update == 1
    learner.raise_pending()  # read once: nothing pending any more


def test_deferred_and_immediate_checks_train_identically() -> None:
    params = []
    for sync in (True, False):
        agent, learner, replay = _parts(seed=4)
        for _ in range(3):
            learner.train_step(replay.sample(2, 8), sync=sync)
        learner.raise_pending()
        params.append([p.detach().clone() for p in agent.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*params, strict=True))


def test_replay_gather_rebuilds_a_sampled_batch() -> None:
    _, _, replay = _parts()
    batch = replay.sample(3, 8)
    again = replay.gather(batch["index"], 8)
    assert torch.equal(again["obs"]["observation"], batch["obs"]["observation"])
    assert torch.equal(again["is_first"], batch["is_first"]) and torch.equal(again["index"], batch["index"])


def test_replay_windows_stay_inside_stored_data_and_capacity() -> None:
    replay = SequenceReplay({"o": (1,)}, 1, capacity=20, num_envs=2, seed=0)
    for t in range(25):  # 25 steps into a 10-per-env ring: wraps, oldest kept is step 15
        replay.add(
            {"o": np.array([[t], [100 + t]])}, np.zeros((2, 1)), np.zeros(2), np.zeros(2, bool), np.zeros(2, bool)
        )
    assert len(replay) == 20 and replay.count == 10
    batch = replay.sample(256, 4)
    seq = batch["obs"]["o"][..., 0]
    assert bool(((seq[:, 1:] - seq[:, :-1]) == 1).all())  # contiguous in time, never across the write head
    base = seq[:, 0] % 100
    assert bool((base >= 15).all()) and bool((base <= 21).all())  # uniform over the 7 valid starts per env
    assert set(base.long().tolist()) == set(range(15, 22))
    assert set((seq[:, 0] >= 100).tolist()) == {True, False}  # both envs sampled, never mixed within a window
    state = replay.state_dict()
    clone = SequenceReplay({"o": (1,)}, 1, capacity=20, num_envs=2, seed=0)
    clone.load_state_dict(state)
    assert torch.equal(clone.sample(8, 4)["obs"]["o"], replay.sample(8, 4)["obs"]["o"])


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_continuous_actions_with_grid_and_vector_observations(precision: str) -> None:
    cfg = DreamerConfig.from_settings(tiny_settings(precision=precision, model={"deter": 32, "units": 16, "depth": 4}))
    shapes = {"observation": (4,), "grid": (2, 16, 16)}
    agent = DreamerAgent(shapes, ActionSpec(False, 2), cfg.model)
    learner = Learner(agent, cfg, device=torch.device("cpu"))
    b, t = 2, 8
    batch = {
        "obs": {"observation": torch.randn(b, t, 4), "grid": torch.rand(b, t, 2, 16, 16)},
        "action": torch.rand(b, t, 2) * 2 - 1,
        "reward": torch.randn(b, t),
        "is_first": torch.zeros(b, t, dtype=torch.bool),
        "is_terminal": torch.zeros(b, t, dtype=torch.bool),
    }
    metrics = learner.train_step(batch)
    assert all(np.isfinite(v) for v in metrics.values())
    assert metrics["obs_nll"] > 0 and metrics["action_entropy"] != 0.0


def test_async_vector_env_matches_sync() -> None:
    from trainers.dreamerv3.collector import Collector
    from trainers.dreamerv3.envs import make_vector_env

    results = []
    for asynchronous in (False, True):
        envs = make_vector_env({"id": "CartPole-v1"}, 2, seed=5, asynchronous=asynchronous)
        replay = SequenceReplay({"observation": (4,)}, 2, capacity=200, num_envs=2)
        collector = Collector(envs, ActionSpec(True, 2), torch.device("cpu"), seed=5)
        collector.reset(replay)
        for _ in range(30):
            collector.step(collector.choose(None), replay)
        envs.close()
        results.append(replay.obs["observation"][:, : replay.count].clone())
    assert torch.equal(results[0], results[1])
