"""Shapes through the RSSM (observe and imagine), encoders/decoders, and the paper's initialisations."""

from __future__ import annotations

import torch

from trainers.dreamerv3.agent import ActionSpec, DreamerAgent
from trainers.dreamerv3.config import ModelConfig
from trainers.dreamerv3.imagination import imagine
from trainers.dreamerv3.networks import (
    CnnDecoder,
    CnnEncoder,
    LayerNormGRU,
    first_layers_on_state,
    mlp_on_state,
    mlp_rest,
)

CFG = ModelConfig(deter=32, stoch=4, classes=5, units=16, layers=2, hidden=16, cnn_depth=4)


def test_rssm_observe_and_imagine_shapes() -> None:
    agent = DreamerAgent({"observation": (7,)}, ActionSpec(discrete=True, n=3), CFG)
    b, t = 3, 6
    embed = agent.encoder({"observation": torch.randn(b, t, 7)})
    assert embed.shape == (b, t, 16)
    first = torch.zeros(b, t, dtype=torch.bool)
    first[:, 0] = True
    first[1, 3] = True
    post, last = agent.rssm.observe(embed, torch.zeros(b, t, 3), first)
    assert post["deter"].shape == (b, t, 32) and post["stoch"].shape == (b, t, 20)
    assert post["post_logits"].shape == post["prior_logits"].shape == (b, t, 4, 5)
    assert last["deter"].shape == (b, 32)
    assert torch.allclose(post["stoch"].reshape(b, t, 4, 5).sum(-1), torch.ones(b, t, 4))  # one-hot per latent
    starts = {"deter": post["deter"].reshape(-1, 32), "stoch": post["stoch"].reshape(-1, 20), "cont": torch.ones(b * t)}
    with torch.no_grad():
        traj = imagine(agent, starts, horizon=4)
    assert (
        traj.deter.shape == (5, b * t, 32) and traj.stoch.shape == (5, b * t, 4) and traj.action.shape == (4, b * t, 3)
    )
    assert not traj.deter.requires_grad and not traj.action.requires_grad  # REINFORCE: the rollout keeps no graph
    assert torch.equal(traj.stoch[0], post["stoch"].reshape(b * t, 4, 5).argmax(-1))


def test_fused_first_layers_equal_each_head_alone() -> None:
    agent = DreamerAgent({"observation": (3,)}, ActionSpec(discrete=True, n=2), CFG)
    deter, index = torch.randn(6, 7, 32), torch.randint(0, 5, (6, 7, 4))
    heads = [agent.actor, agent.critic, agent.reward_head]
    fused = first_layers_on_state(heads, deter, index, 5)
    for head, hidden in zip(heads, fused, strict=True):
        assert torch.allclose(mlp_rest(head, hidden), mlp_on_state(head, deter, index, 5), atol=1e-5)


def test_gathered_first_layer_equals_the_dense_product() -> None:
    agent = DreamerAgent({"observation": (3,)}, ActionSpec(discrete=True, n=2), CFG)
    deter, index = torch.randn(6, 7, 32), torch.randint(0, 5, (6, 7, 4))
    dense = torch.cat([deter, torch.nn.functional.one_hot(index, 5).float().reshape(6, 7, 20)], -1)
    assert torch.allclose(mlp_on_state(agent.actor, deter, index, 5), agent.actor(dense), atol=1e-5)
    action = torch.randn(6, 2)
    d1, p1 = agent.rssm.img_step_index(index[:, 0], deter[:, 0], action)
    d2, p2 = agent.rssm.img_step(dense[:, 0, 32:], deter[:, 0], action)
    assert torch.allclose(d1, d2, atol=1e-5) and torch.allclose(p1, p2, atol=1e-5)


def test_continuous_actor_and_reset_at_is_first() -> None:
    agent = DreamerAgent({"observation": (3,)}, ActionSpec(discrete=False, n=2), CFG)
    obs = {"observation": torch.randn(4, 3)}
    action, state = agent.act(obs, None, torch.ones(4, dtype=torch.bool))
    assert action.shape == (4, 2) and state["deter"].shape == (4, 32)
    mean, std = agent.actor_dist(torch.randn(10, 52))
    assert bool((mean.abs() <= 1).all()) and bool((std >= 0.1).all()) and bool((std <= 1.0).all())
    # an is_first step ignores the previous state: same result from any prior state
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    junk = {"deter": torch.randn(4, 32), "stoch": torch.randn(4, 20), "action": torch.randn(4, 2)}
    a1, s1 = agent.act(obs, junk, torch.ones(4, dtype=torch.bool), explore=False, generator=g1)
    a2, s2 = agent.act(obs, None, torch.ones(4, dtype=torch.bool), explore=False, generator=g2)
    assert torch.allclose(s1["deter"], s2["deter"]) and torch.allclose(a1, a2)


def test_zero_initialised_reward_and_critic_outputs() -> None:
    agent = DreamerAgent({"observation": (3,)}, ActionSpec(discrete=True, n=2), CFG)
    assert float(agent.reward_head[-1].weight.detach().abs().sum()) == 0.0
    assert float(agent.critic[-1].weight.detach().abs().sum()) == 0.0
    assert float(agent.cont_head[-1].weight.detach().abs().sum()) > 0.0
    assert len(agent.bins) == 255


def test_block_diagonal_gru_matches_shapes_and_has_fewer_weights() -> None:
    dense, blocky = LayerNormGRU(8, 32, blocks=1), LayerNormGRU(8, 32, blocks=4)
    h = blocky(torch.randn(5, 8), torch.randn(5, 32))
    assert h.shape == (5, 32)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(blocky) < count(dense)


def test_cnn_pair_round_trips_shape() -> None:
    enc = CnnEncoder((3, 40, 40), depth=4)
    x = torch.rand(2, 5, 3, 40, 40)
    y = enc(x)
    assert y.shape == (2, 5, enc.out_size)
    dec = CnnDecoder(12, enc)
    assert dec(torch.randn(2, 5, 12)).shape == (2, 5, 3, 40, 40)
    agent = DreamerAgent({"grid": (3, 40, 40), "vec": (4,)}, ActionSpec(discrete=True, n=2), CFG)
    obs = {"grid": torch.rand(2, 3, 3, 40, 40), "vec": torch.randn(2, 3, 4)}
    assert agent.encoder(obs).shape == (2, 3, 16 + agent.encoder.cnn.out_size)


def test_gathered_columns_have_the_dense_gradient_on_both_backward_paths() -> None:
    """Below and above the row count where the CPU backward switches from embedding_bag's to chunked index_add_."""
    from trainers.dreamerv3.gather import onehot_linear

    for rows in (8, 5000):
        index = torch.randint(0, 5, (rows, 4))
        weight = torch.randn(6, 23, requires_grad=True)
        grad = torch.randn(rows, 6)
        gathered = onehot_linear(weight, index, 5, offset=3)
        dense = torch.nn.functional.one_hot(index, 5).float().reshape(rows, 20) @ weight[:, 3:].t()
        assert torch.allclose(gathered, dense, atol=1e-5)
        (by_gather,) = torch.autograd.grad(gathered, weight, grad)
        (by_product,) = torch.autograd.grad(dense, weight, grad)
        assert torch.allclose(by_gather, by_product, atol=1e-4) and float(by_gather[:, :3].abs().sum()) == 0.0


def test_imagination_scores_its_samples_as_a_second_actor_pass_would() -> None:
    """The log-probabilities and entropies taken inside the rollout equal those of the actor run again on the
    imagined states, and only they carry a graph (to the actor)."""
    agent = DreamerAgent({"observation": (3,)}, ActionSpec(discrete=True, n=3), CFG)
    starts = {"deter": torch.randn(6, 32), "stoch": torch.eye(5)[torch.randint(0, 5, (6, 4))].reshape(6, 20)}
    traj = imagine(agent, starts, horizon=3, generator=torch.Generator().manual_seed(0))
    assert traj.logp is not None and traj.logp.requires_grad and not traj.deter.requires_grad
    again = agent.actor_dist_state(traj.deter[:-1], traj.stoch[:-1])
    logp, ent = agent.log_prob_entropy(again, traj.action)
    assert torch.allclose(traj.logp, logp, atol=1e-5) and torch.allclose(traj.entropy, ent, atol=1e-5)
