"""The DreamerV3 agent: world model + actor + critic as one module, and the losses as module-level functions.

* :func:`world_model_loss`: posterior over a replayed batch, symlog reconstruction, twohot reward, continue, and
  KL balancing with free bits (paper eq. 5).
* :func:`imagine`: rollouts of ``horizon`` steps from every posterior state. The world model runs under
  ``no_grad`` (the actor learns by REINFORCE, not by backpropagating through the dynamics), and only the actor's
  forward passes on detached features are recorded for autograd.
* :func:`behaviour_loss`: lambda-returns, percentile return normalisation, REINFORCE actor loss with entropy, and
  the twohot critic loss with the slow-critic regulariser.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trainers.dreamerv3.config import ModelConfig
from trainers.dreamerv3.maths import (
    ReturnNormalizer,
    categorical_entropy,
    kl_balance,
    lambda_return,
    one_hot,
    sample_index,
    sample_one_hot,
    symlog_bins,
    twohot_decode,
    twohot_log_prob,
    unimix_logits,
)
from trainers.dreamerv3.networks import MLP, RSSM, ObsDecoder, ObsEncoder, mlp_on_state

__all__ = ["ActionSpec", "DreamerAgent", "behaviour_loss", "imagine", "world_model_loss"]


@dataclass(frozen=True)
class ActionSpec:
    """Discrete (``n`` choices, one-hot) or continuous (``n`` dims in [-1, 1])."""

    discrete: bool
    n: int


class DreamerAgent(nn.Module):
    """World model (encoder, RSSM, decoder, reward and continue heads), actor, critic and slow critic."""

    bins: Tensor

    def __init__(self, obs_shapes: Mapping[str, tuple[int, ...]], action: ActionSpec, cfg: ModelConfig):
        super().__init__()
        self.cfg, self.action = cfg, action
        self.obs_shapes = {k: tuple(v) for k, v in obs_shapes.items()}
        feat = cfg.feat_size
        self.encoder = ObsEncoder(self.obs_shapes, cfg)
        self.rssm = RSSM(cfg, self.encoder.out_size, action.n)
        self.decoder = ObsDecoder(self.obs_shapes, feat, cfg, self.encoder)
        self.reward_head = MLP(feat, cfg.units, cfg.layers, cfg.bins, outscale=0.0)
        self.cont_head = MLP(feat, cfg.units, cfg.layers, 1)
        self.actor = MLP(feat, cfg.units, cfg.layers, action.n * (1 if action.discrete else 2))
        self.critic = MLP(feat, cfg.units, cfg.layers, cfg.bins, outscale=0.0)
        self.slow_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.register_buffer("bins", symlog_bins(cfg.bins), persistent=False)
        self.retnorm = ReturnNormalizer(decay=cfg.return_norm_decay)

    def world_model_parameters(self) -> list[nn.Parameter]:
        mods = (self.encoder, self.rssm, self.decoder, self.reward_head, self.cont_head)
        return [p for m in mods for p in m.parameters()]

    # ---------------------------------------------------------------- policy
    def actor_dist(self, feat: Tensor) -> tuple[Tensor, ...]:
        """Discrete: (unimix logits,). Continuous: (mean in [-1, 1], std in [min_std, max_std])."""
        return self._dist(self.actor(feat))

    def actor_dist_state(self, deter: Tensor, index: Tensor) -> tuple[Tensor, ...]:
        """:meth:`actor_dist` of the state (deter, one-hot stoch given by class indices)."""
        return self._dist(mlp_on_state(self.actor, deter, index, self.cfg.classes))

    def _dist(self, out: Tensor) -> tuple[Tensor, ...]:
        out = out.float()
        if self.action.discrete:
            return (unimix_logits(out, self.cfg.unimix),)
        mean, std = out.chunk(2, -1)
        std = (self.cfg.max_std - self.cfg.min_std) * torch.sigmoid(std + 2.0) + self.cfg.min_std
        return (torch.tanh(mean), std)

    def sample_action(self, dist: tuple[Tensor, ...], generator: torch.Generator | None, explore: bool) -> Tensor:
        """Sample (or take the mode of) an action; discrete actions are one-hot."""
        if self.action.discrete:
            logits = dist[0]
            if explore:
                return sample_one_hot(logits.detach(), generator).detach()
            return one_hot(logits.argmax(-1), self.action.n)
        mean, std = dist
        if not explore:
            return mean.detach()
        noise = torch.randn(mean.shape, device=mean.device, generator=generator)
        return (mean + std * noise).detach()

    def log_prob_entropy(self, dist: tuple[Tensor, ...], action: Tensor) -> tuple[Tensor, Tensor]:
        """log pi(a) and the policy entropy, summed over action dims."""
        if self.action.discrete:
            logp = F.log_softmax(dist[0], -1)
            return (logp * action).sum(-1), categorical_entropy(dist[0])
        mean, std = dist
        logp = -0.5 * ((action - mean) / std) ** 2 - torch.log(std) - 0.5 * math.log(2 * math.pi)
        ent = 0.5 + 0.5 * math.log(2 * math.pi) + torch.log(std)
        return logp.sum(-1), ent.sum(-1)

    @torch.no_grad()
    def act(
        self,
        obs: Mapping[str, Tensor],
        state: dict[str, Tensor] | None,
        is_first: Tensor,
        *,
        explore: bool = True,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """One environment step for a batch of envs. ``state`` holds deter, stoch and the previous action."""
        n = is_first.shape[0]
        device = is_first.device
        if state is None:
            init = self.rssm.initial(n, device)
            state = {
                "deter": init["deter"],
                "stoch": init["stoch"],
                "action": torch.zeros(n, self.action.n, device=device),
            }
        embed = self.encoder({k: v.unsqueeze(1) for k, v in obs.items()}).squeeze(1)
        out, last = self.rssm.observe(
            embed.unsqueeze(1),
            state["action"].unsqueeze(1),
            is_first.unsqueeze(1),
            {"deter": state["deter"], "stoch": state["stoch"]},
            generator,
        )
        if not explore:
            post = out["post_logits"][:, 0]
            last["stoch"] = one_hot(post.argmax(-1), self.cfg.classes).reshape(n, -1)
        feat = torch.cat([last["deter"], last["stoch"]], -1)
        action = self.sample_action(self.actor_dist(feat), generator, explore)
        return action, {"deter": last["deter"], "stoch": last["stoch"], "action": action}


def world_model_loss(
    agent: DreamerAgent, batch: Mapping[str, Tensor | Mapping[str, Tensor]], generator: torch.Generator | None = None
) -> tuple[Tensor, dict[str, Tensor], dict[str, Tensor]]:
    """Loss of the world model on a (B, T) batch; returns (loss, metrics, posterior states for imagination)."""
    cfg = agent.cfg
    obs = batch["obs"]
    assert isinstance(obs, Mapping)
    embed = agent.encoder(obs)
    post, _ = agent.rssm.observe(embed, batch["action"], batch["is_first"], None, generator)  # type: ignore[arg-type]
    feat = torch.cat([post["deter"], post["stoch"]], -1)
    obs_nll = agent.decoder.loss(feat, obs, agent.encoder)
    reward_nll = -twohot_log_prob(agent.reward_head(feat), batch["reward"], agent.bins)  # type: ignore[arg-type]
    cont_target = 1.0 - batch["is_terminal"].float()  # type: ignore[union-attr]
    cont_nll = F.binary_cross_entropy_with_logits(
        agent.cont_head(feat).squeeze(-1).float(), cont_target, reduction="none"
    )
    dyn, rep, kl, clipped = kl_balance(post["post_logits"], post["prior_logits"], free_bits=cfg.free_bits)
    pred = obs_nll + reward_nll + cont_nll
    loss = (cfg.beta_pred * pred + cfg.beta_dyn * dyn + cfg.beta_rep * rep).mean()
    prior_ent = categorical_entropy(post["prior_logits"]).sum(-1)
    post_ent = categorical_entropy(post["post_logits"]).sum(-1)
    metrics = {
        "loss_model": loss.detach(),
        "obs_nll": obs_nll.detach().mean(),
        "reward_nll": reward_nll.detach().mean(),
        "continue_nll": cont_nll.detach().mean(),
        "kl_dyn": dyn.detach().mean(),
        "kl_rep": rep.detach().mean(),
        "kl_total": kl.mean(),
        "free_bits_applied": clipped.float().mean(),
        "prior_entropy": prior_ent.detach().mean(),
        "posterior_entropy": post_ent.detach().mean(),
    }
    starts = {
        "deter": post["deter"].detach().reshape(-1, cfg.deter),
        "stoch": post["stoch"].detach().reshape(-1, cfg.stoch_flat),
        "cont": cont_target.reshape(-1),
    }
    return loss, metrics, starts


def imagine(
    agent: DreamerAgent, starts: Mapping[str, Tensor], horizon: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Roll the prior forward ``horizon`` steps from ``starts`` with actions from the actor.

    States are kept as (deter, class indices of the one-hot stoch): every network's first layer then gathers S
    weight columns instead of multiplying by a mostly-zero vector. Returns (deter (H+1, N, D) and indices
    (H+1, N, S), both without grad; log pi (H, N) and entropy (H, N) with grad to the actor only).
    """
    cfg = agent.cfg
    deter = starts["deter"].detach()
    index = starts["stoch"].detach().reshape(-1, cfg.stoch, cfg.classes).argmax(-1)
    deters, indices, logps, ents = [deter], [index], [], []
    for _ in range(horizon):
        dist = agent.actor_dist_state(deter, index)
        action = agent.sample_action(dist, generator, explore=True)
        logp, ent = agent.log_prob_entropy(dist, action)
        logps.append(logp)
        ents.append(ent)
        with torch.no_grad():
            deter, prior = agent.rssm.img_step_index(index, deter, action)
            index = sample_index(prior, generator)
        deters.append(deter)
        indices.append(index)
    return torch.stack(deters), torch.stack(indices), torch.stack(logps), torch.stack(ents)


def behaviour_loss(
    agent: DreamerAgent, starts: Mapping[str, Tensor], horizon: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """Actor and critic losses on imagined trajectories; returns (actor loss, critic loss, metrics)."""
    cfg = agent.cfg
    deter, index, logp, ent = imagine(agent, starts, horizon, generator)
    c = cfg.classes
    with torch.no_grad():
        reward = twohot_decode(mlp_on_state(agent.reward_head, deter[1:], index[1:], c), agent.bins)
        cont = (mlp_on_state(agent.cont_head, deter[1:], index[1:], c).squeeze(-1) > 0).float()  # Bernoulli mode
        slow = twohot_decode(mlp_on_state(agent.slow_critic, deter[:-1], index[:-1], c), agent.bins)
    value_logits = mlp_on_state(agent.critic, deter, index, c)
    value = twohot_decode(value_logits.detach(), agent.bins)
    disc = cfg.gamma * cont
    ret = lambda_return(reward, disc, value, cfg.lam)
    weight = starts["cont"].unsqueeze(0) * torch.cumprod(torch.cat([torch.ones_like(disc[:1]), disc[:-1]]), 0)
    offset, scale = agent.retnorm.update(ret)
    adv = (ret - value[:-1]) / scale
    actor_loss = -(weight * (logp * adv + cfg.entropy * ent)).mean()
    critic_nll = -twohot_log_prob(value_logits[:-1], ret, agent.bins)
    critic_reg = -twohot_log_prob(value_logits[:-1], slow, agent.bins)
    critic_loss = (weight * (critic_nll + cfg.slow_critic_reg * critic_reg)).mean()
    metrics = {
        "loss_actor": actor_loss.detach(),
        "loss_critic": critic_loss.detach(),
        "action_entropy": ent.detach().mean(),
        "value_mean": value.mean(),
        "value_std": _std(value),
        "adv_mean": adv.mean(),
        "adv_std": _std(adv),
        "ret_mean": ret.mean(),
        "ret_p05": offset,
        "ret_p95": agent.retnorm.high,
        "ret_scale": scale,
        "imag_reward_mean": reward.mean(),
    }
    return actor_loss, critic_loss, metrics


def _std(x: Tensor) -> Tensor:
    """Population standard deviation, written out: ``Tensor.std`` reads a scalar back to the host on a CPU."""
    x = x.detach().float()
    return (x - x.mean()).square().mean().sqrt()
