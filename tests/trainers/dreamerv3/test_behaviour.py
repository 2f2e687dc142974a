"""Faithfulness of the behaviour learning: both actor gradients, bounded actions, KL metrics, the replay critic loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from dreamer_testing import tiny_settings

from trainers.dreamerv3.agent import ActionSpec, DreamerAgent, behaviour_loss, world_model_loss
from trainers.dreamerv3.config import DreamerConfig
from trainers.dreamerv3.learner import Learner, resolve_actor_grad
from trainers.dreamerv3.maths import bound_action, replay_lambda_return

OBS = {"observation": (4,)}


def _batch(action_n: int, discrete: bool, seed: int = 0, b: int = 2, t: int = 8) -> dict:
    g = torch.Generator().manual_seed(seed)
    if discrete:
        action = torch.nn.functional.one_hot(torch.randint(0, action_n, (b, t), generator=g), action_n).float()
    else:
        action = torch.rand(b, t, action_n, generator=g) * 2 - 1
    first = torch.zeros(b, t, dtype=torch.bool)
    first[:, 0] = True
    first[0, 5] = True
    return {
        "obs": {"observation": torch.randn(b, t, 4, generator=g)},
        "action": action,
        "reward": torch.randn(b, t, generator=g),
        "is_first": first,
        "is_terminal": torch.zeros(b, t, dtype=torch.bool),
    }


def _trained_world_model(discrete: bool, **changes: object) -> tuple[DreamerAgent, Learner, dict]:
    torch.manual_seed(0)
    cfg = DreamerConfig.from_settings(tiny_settings(**changes))
    agent = DreamerAgent(OBS, ActionSpec(discrete, 2), cfg.model)
    learner = Learner(agent, cfg, device=torch.device("cpu"), seed=0)
    batch = _batch(2, discrete)
    for _ in range(3):  # a few updates so the reward head and the critic are no longer all zeros
        learner.train_step(batch)
    return agent, learner, batch


@pytest.mark.parametrize(
    ("discrete", "actor_grad"), [(True, "reinforce"), (False, "reinforce"), (False, "dynamics")], ids=str
)
def test_each_actor_gradient_lowers_its_actor_loss(discrete: bool, actor_grad: str) -> None:
    """One actor step on fixed imagination noise lowers the actor loss recomputed with the same noise: the gradient
    each path takes is a descent direction of the loss it reports."""
    agent, learner, batch = _trained_world_model(discrete, actor_grad=actor_grad)
    learner.actor_grad = resolve_actor_grad(actor_grad, discrete)
    with torch.no_grad():
        _, _, starts = world_model_loss(agent, batch, torch.Generator().manual_seed(1))
    opt = torch.optim.SGD(agent.actor.parameters(), lr=0.05)
    retnorm = agent.retnorm.snapshot()

    def actor_loss() -> torch.Tensor:
        agent.retnorm.restore(retnorm)  # the same return scale for both evaluations
        loss, critic, _ = behaviour_loss(agent, starts, 5, torch.Generator().manual_seed(2), actor_grad=actor_grad)
        learner._behaviour_backward(loss, critic)
        return loss.detach()

    before = actor_loss()
    opt.step()
    opt.zero_grad()
    assert float(actor_loss()) < float(before)
    agent.zero_grad()
    actor_loss()
    grads = {n.split(".")[0]: p.grad for n, p in agent.named_parameters() if p.grad is not None}
    assert set(grads) == {"actor", "critic"}, "the actor's loss must not train the world model"


def test_actor_grad_defaults_follow_the_paper() -> None:
    assert resolve_actor_grad("auto", discrete=True) == "reinforce"
    assert resolve_actor_grad("auto", discrete=False) == "dynamics"
    with pytest.raises(ValueError, match="continuous"):
        resolve_actor_grad("dynamics", discrete=True)
    with pytest.raises(ValueError, match="actor_grad"):
        DreamerConfig.from_settings(tiny_settings(actor_grad="policy_gradient"))


def test_dynamics_gradient_reaches_the_actor_through_the_world_model() -> None:
    agent, _, batch = _trained_world_model(False)
    with torch.no_grad():
        _, _, starts = world_model_loss(agent, batch)
    loss, _, _ = behaviour_loss(agent, starts, 4, actor_grad="dynamics")
    (grad,) = torch.autograd.grad(loss, [agent.actor[0].weight])
    assert float(grad.abs().sum()) > 0.0
    # REINFORCE on the same states: the rollout holds no graph, the actor learns from its log-probabilities only
    loss, _, _ = behaviour_loss(agent, starts, 4, actor_grad="reinforce")
    (grad,) = torch.autograd.grad(loss, [agent.actor[0].weight])
    assert float(grad.abs().sum()) > 0.0


def test_bounded_actions_equal_the_clipped_ones_and_keep_a_gradient() -> None:
    raw = torch.tensor([-3.0, -1.0, -0.2, 0.0, 0.7, 1.0, 2.5], requires_grad=True)
    bounded = bound_action(raw)
    assert torch.equal(bounded.detach(), raw.detach().clamp(-1, 1))
    bounded.sum().backward()
    assert raw.grad is not None and bool((raw.grad > 0).all())  # unlike clip, no zero gradient outside [-1, 1]


def test_collector_stores_the_action_the_env_received() -> None:
    """Continuous actions: the env, the replay and the agent's recurrent state get one and the same bounded action."""
    import gymnasium as gym

    from trainers.dreamerv3.collector import Collector
    from trainers.dreamerv3.envs import make_vector_env
    from trainers.dreamerv3.replay import SequenceReplay

    received: list[np.ndarray] = []

    class Spy(gym.Wrapper):
        def step(self, action: np.ndarray):  # type: ignore[no-untyped-def]
            received.append(np.array(action))
            return self.env.step(action)

    cfg = DreamerConfig.from_settings(tiny_settings(model={"deter": 16, "units": 8, "stoch": 2, "classes": 3}))
    envs = make_vector_env({"id": "MountainCarContinuous-v0"}, 1, seed=0)
    envs.envs[0] = Spy(envs.envs[0])
    agent = DreamerAgent({"observation": (2,)}, ActionSpec(False, 1), cfg.model)
    with torch.no_grad():  # a wide policy: most samples leave [-1, 1]
        agent.actor[-1].bias[0] = 3.0
        agent.actor[-1].bias[1] = 10.0
    replay = SequenceReplay({"observation": (2,)}, 1, capacity=64, num_envs=1)
    collector = Collector(envs, ActionSpec(False, 1), torch.device("cpu"), seed=0)
    collector.reset(replay)
    for _ in range(20):
        action = collector.choose(agent)
        collector.step(action, replay)
        assert collector.agent_state is not None
        assert np.array_equal(collector.agent_state["action"].numpy(), action)
    envs.close()
    stored = replay.action[0, 1:21, 0].numpy()
    env_side = np.array([a[0] for a in received])
    assert np.array_equal(stored, env_side) and np.abs(stored).max() <= 1.0
    assert (np.abs(stored) == 1.0).any(), "the test's policy should have produced out-of-range samples"


def test_kl_metrics_are_logged_before_the_free_bits_clamp() -> None:
    """With posterior == prior the KL is ~0: kl_dyn/kl_rep must say so (not 1.0), and free bits applied everywhere."""
    torch.manual_seed(0)
    cfg = DreamerConfig.from_settings(tiny_settings())
    agent = DreamerAgent(OBS, ActionSpec(True, 2), cfg.model)
    for layer in (agent.rssm.post_rest[-1], agent.rssm.prior[-1]):
        torch.nn.init.zeros_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
    _, metrics, _ = world_model_loss(agent, _batch(2, True))
    assert float(metrics["kl_dyn"]) == pytest.approx(0.0, abs=1e-6) and float(metrics["kl_rep"]) < 1.0
    assert float(metrics["free_bits_applied"]) == 1.0
    assert float(metrics["loss_dyn"]) == pytest.approx(cfg.model.free_bits)


def test_replay_lambda_return_by_hand() -> None:
    reward = torch.tensor([1.0, 2.0, 3.0])  # transitions 0->1, 1->2, 2->3
    disc = torch.tensor([0.5, 0.5, 0.5])
    boot = torch.tensor([10.0, 20.0, 30.0, 40.0])
    valid = torch.tensor([True, False, True])  # step 2 starts a new episode
    lam = 0.5
    r2 = 3 + 0.5 * (0.5 * 40 + 0.5 * 40)
    r1 = 20.0  # not a real transition: the imagined return from step 1
    r0 = 1 + 0.5 * (0.5 * 20 + 0.5 * r1)
    assert torch.allclose(replay_lambda_return(reward, disc, boot, valid, lam), torch.tensor([r0, r1, r2]))


def test_replay_critic_loss_is_optional_and_trains_the_critic() -> None:
    off = _trained_world_model(True)[1].train_step(_batch(2, True, seed=3))
    assert "loss_repval" not in off
    _, learner, _ = _trained_world_model(True, repval=True)
    metrics = learner.train_step(_batch(2, True, seed=3))
    assert np.isfinite(metrics["loss_repval"]) and metrics["loss_repval"] > 0.0
    assert DreamerConfig.from_settings(tiny_settings()).repval is False
