"""Imagined rollouts of the world model and the heads that read them (behaviour learning's inputs).

* :func:`imagine` (REINFORCE, discrete actions by default): the prior is rolled forward without gradient; only the
  actor's outputs carry a graph (to the actor's weights), so the log-probabilities of the sampled actions and the
  policy entropy come out of the rollout itself and no second actor pass is needed. States are kept as (deter, class
  indices): every first layer gathers S one-hot columns instead of multiplying by a mostly-zero vector, and the
  layers read at every step are taken apart once per rollout (:class:`~trainers.dreamerv3.networks.FirstLayerOnState`,
  :class:`~trainers.dreamerv3.networks.ImaginationStep`).
* :func:`imagine_differentiable` (dynamics backpropagation, continuous actions by default, paper v1): reparameterised
  actions and straight-through latents, keeping the graph from every action through the world model to the return.
* :func:`reinforce_heads` / :func:`dynamics_heads`: reward, continue, value and slow-critic heads on those states.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from trainers.dreamerv3.gather import flat_index
from trainers.dreamerv3.maths import sample_index_from_probs, sample_one_hot, twohot_decode
from trainers.dreamerv3.networks import (
    FirstLayerOnState,
    ImaginationStep,
    first_layers_on_state,
    mlp_on_state,
    mlp_rest,
)

if TYPE_CHECKING:
    from trainers.dreamerv3.agent import DreamerAgent

__all__ = ["Heads", "Imagined", "dynamics_heads", "imagine", "imagine_differentiable", "reinforce_heads"]


@dataclass(frozen=True)
class Imagined:
    """An imagined rollout, time on axis 0: states (H+1, N, ...), the sampled actions (H, N, A), the policy entropy
    (H, N) and, from :func:`imagine`, the log-probabilities of the sampled actions (H, N), both with their graph."""

    deter: Tensor
    stoch: Tensor  # class indices (H+1, N, S) from :func:`imagine`; straight-through one-hots (H+1, N, S*C) otherwise
    action: Tensor
    entropy: Tensor
    logp: Tensor | None = None

    @property
    def feat(self) -> Tensor:
        return torch.cat([self.deter, self.stoch], -1)


@dataclass(frozen=True)
class Heads:
    """What the behaviour losses read from the heads on a rollout: reward and continuation of every transition (H,
    N), the slow critic's value (H, N), the critic's logits on every state (H+1, N, bins) and its decoded value
    (detached; ``value_for_return`` keeps the graph the dynamics gradient needs)."""

    reward: Tensor
    cont: Tensor
    slow: Tensor
    logits: Tensor
    value: Tensor
    value_for_return: Tensor


def imagine(
    agent: DreamerAgent, starts: Mapping[str, Tensor], horizon: int, generator: torch.Generator | None = None
) -> Imagined:
    """Roll the prior forward ``horizon`` steps from ``starts`` with actions sampled from the actor (see module
    docstring). The states and actions hold no graph; ``logp`` and ``entropy`` hold the actor's (when gradients are
    enabled)."""
    cfg = agent.cfg
    with torch.no_grad():
        deter = starts["deter"].detach()
        index = starts["stoch"].detach().reshape(-1, cfg.stoch, cfg.classes).argmax(-1)
        step = ImaginationStep(agent.rssm)
    actor_first = FirstLayerOnState(agent.actor, cfg.deter, cfg.stoch, cfg.classes)  # its gradient reaches the actor
    deters, indices, actions, logps, ents = [deter], [index], [], [], []
    for _ in range(horizon):
        flat = flat_index(index, cfg.classes)
        dist = agent.policy_dist(mlp_rest(agent.actor, actor_first(deter, flat)))
        with torch.no_grad():
            sample = agent.sample_action(dist, generator, explore=True)
            deter, probs = step(flat, deter, agent.used_action(sample))
            index = sample_index_from_probs(probs, generator)
        logp, ent = agent.log_prob_entropy(dist, sample)
        deters.append(deter)
        indices.append(index)
        actions.append(sample)
        logps.append(logp)
        ents.append(ent)
    stack = torch.stack
    return Imagined(stack(deters), stack(indices), stack(actions), stack(ents), stack(logps))


def imagine_differentiable(
    agent: DreamerAgent, starts: Mapping[str, Tensor], horizon: int, generator: torch.Generator | None = None
) -> Imagined:
    """Roll the prior forward with reparameterised continuous actions and straight-through latents, keeping the
    graph: the return's gradient reaches the actor through the learned dynamics (paper v1, continuous actions)."""
    if agent.action.discrete:
        raise ValueError("actor_grad: dynamics needs continuous actions; discrete actions use reinforce")
    deter = starts["deter"].detach()
    stoch = starts["stoch"].detach()
    deters, stochs, actions, ents = [deter], [stoch], [], []
    for _ in range(horizon):
        mean, std = agent.actor_dist(torch.cat([deter, stoch], -1))
        noise = torch.randn(mean.shape, device=mean.device, generator=generator)
        sample = mean + std * noise
        deter, prior = agent.rssm.img_step(stoch, deter, agent.used_action(sample))
        stoch = sample_one_hot(prior, generator).reshape(stoch.shape)
        deters.append(deter)
        stochs.append(stoch)
        actions.append(sample)
        ents.append((0.5 + 0.5 * math.log(2 * math.pi) + torch.log(std)).sum(-1))
    return Imagined(torch.stack(deters), torch.stack(stochs), torch.stack(actions), torch.stack(ents))


def reinforce_heads(agent: DreamerAgent, traj: Imagined) -> Heads:
    """Heads on a rollout of :func:`imagine`: the fixed-target heads (reward, continue, slow critic) in one fused
    pass without gradient, the critic with gradient."""
    c = agent.cfg.classes
    deter, index = traj.deter, traj.stoch
    with torch.no_grad():
        h_rew, h_cont, h_slow = first_layers_on_state(
            [agent.reward_head, agent.cont_head, agent.slow_critic], deter, index, c
        )
        reward = twohot_decode(mlp_rest(agent.reward_head, h_rew[1:]), agent.bins)
        cont = (mlp_rest(agent.cont_head, h_cont[1:]).squeeze(-1) > 0).float()  # Bernoulli mode
        slow = twohot_decode(mlp_rest(agent.slow_critic, h_slow[:-1]), agent.bins)
    logits = mlp_on_state(agent.critic, deter, index, c)
    value = twohot_decode(logits.detach(), agent.bins)
    return Heads(reward, cont, slow, logits, value, value)


def dynamics_heads(agent: DreamerAgent, traj: Imagined) -> Heads:
    """Heads on a rollout of :func:`imagine_differentiable`: reward and value with the graph through the states (the
    return the actor maximises), the critic's own loss on detached states, the rest without gradient."""
    feat = traj.feat
    fixed = feat.detach()
    reward = twohot_decode(agent.reward_head(feat[1:]), agent.bins)
    value_for_return = twohot_decode(agent.critic(feat), agent.bins)
    with torch.no_grad():
        cont = (agent.cont_head(fixed[1:]).squeeze(-1) > 0).float()
        slow = twohot_decode(agent.slow_critic(fixed[:-1]), agent.bins)
    logits = agent.critic(fixed)
    return Heads(reward, cont, slow, logits, value_for_return.detach(), value_for_return)
