"""The DreamerV3 agent: world model + actor + critic as one module, and the losses as module-level functions.

* :func:`world_model_loss`: posterior over a replayed batch, symlog reconstruction, twohot reward, continue, and
  KL balancing with free bits (paper eq. 5).
* imagined rollouts (``imagination.py``) from every posterior state: for REINFORCE (discrete actions by default) the
  rollout holds no graph but the actor's; for dynamics backpropagation (continuous actions by default, paper v1) it
  keeps the graph from every action through the world model (straight-through latents) to the return.
* :func:`behaviour_loss`: lambda-returns, percentile return normalisation, the actor loss of ``actor_grad``
  (REINFORCE with advantages, or the normalised return itself) with entropy, the twohot critic loss with the
  slow-critic regulariser, and optionally the replay critic loss of the current reference (``repval``).
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
from trainers.dreamerv3.imagination import (
    Heads,
    Imagined,
    dynamics_heads,
    imagine,
    imagine_differentiable,
    reinforce_heads,
)
from trainers.dreamerv3.maths import (
    ReturnNormalizer,
    bound_action,
    categorical_entropy,
    kl_balance,
    lambda_return,
    one_hot,
    replay_lambda_return,
    sample_one_hot,
    symlog_bins,
    twohot_decode,
    twohot_log_prob,
    unimix_logits,
)
from trainers.dreamerv3.networks import (
    MLP,
    RSSM,
    ObsDecoder,
    ObsEncoder,
    mlp_on_state,
)

__all__ = [
    "ACTOR_GRADS",
    "ActionSpec",
    "DreamerAgent",
    "behaviour_loss",
    "world_model_loss",
]

ACTOR_GRADS = ("reinforce", "dynamics")


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
        return self.policy_dist(self.actor(feat))

    def actor_dist_state(self, deter: Tensor, index: Tensor) -> tuple[Tensor, ...]:
        """:meth:`actor_dist` of the state (deter, one-hot stoch given by class indices)."""
        return self.policy_dist(mlp_on_state(self.actor, deter, index, self.cfg.classes))

    def policy_dist(self, out: Tensor) -> tuple[Tensor, ...]:
        """The distribution of the actor's raw output (see :meth:`actor_dist`)."""
        out = out.float()
        if self.action.discrete:
            return (unimix_logits(out, self.cfg.unimix),)
        mean, std = out.chunk(2, -1)
        std = (self.cfg.max_std - self.cfg.min_std) * torch.sigmoid(std + 2.0) + self.cfg.min_std
        return (torch.tanh(mean), std)

    def sample_action(self, dist: tuple[Tensor, ...], generator: torch.Generator | None, explore: bool) -> Tensor:
        """Sample (or take the mode of) an action: one-hot for discrete actions; for continuous ones a sample of the
        normal, not yet bounded (log-probabilities are of this value; :func:`bound_action` gives what is used)."""
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

    def used_action(self, sample: Tensor) -> Tensor:
        """The action the env, the replay and imagination all see: a continuous sample bounded to [-1, 1]."""
        return sample if self.action.discrete else bound_action(sample)

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
        """One environment step for a batch of envs. ``state`` holds deter, stoch and the previous action.

        ``generator`` must live on the device of ``is_first`` (the agent's device): it draws the latent and action
        samples there."""
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
        action = self.used_action(self.sample_action(self.actor_dist(feat), generator, explore))
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
    # Logged before the free-bits clamp (KL[sg(post) || prior] and KL[post || sg(prior)] have one value; the
    # stop-gradients differ), so "the KL stays above free bits" is a check that can fail.
    pred = obs_nll + reward_nll + cont_nll
    loss = (cfg.beta_pred * pred + cfg.beta_dyn * dyn + cfg.beta_rep * rep).mean()
    prior_ent = categorical_entropy(post["prior_logits"]).sum(-1)
    post_ent = categorical_entropy(post["post_logits"]).sum(-1)
    metrics = {
        "loss_model": loss.detach(),
        "obs_nll": obs_nll.detach().mean(),
        "reward_nll": reward_nll.detach().mean(),
        "continue_nll": cont_nll.detach().mean(),
        "kl_dyn": kl.mean(),
        "kl_rep": kl.mean(),
        "kl_total": kl.mean(),
        "loss_dyn": dyn.detach().mean(),
        "loss_rep": rep.detach().mean(),
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


def behaviour_loss(
    agent: DreamerAgent,
    starts: Mapping[str, Tensor],
    horizon: int,
    generator: torch.Generator | None = None,
    *,
    actor_grad: str = "reinforce",
    replay: Mapping[str, Tensor] | None = None,
    repval_scale: float = 0.0,
) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """Actor and critic losses on imagined trajectories; returns (actor loss, critic loss, metrics).

    ``actor_grad``: ``reinforce`` scores the sampled actions with normalised advantages; ``dynamics`` maximises the
    normalised lambda-return by backpropagating through the world model (the caller takes gradients for the actor's
    parameters only). With ``repval_scale`` > 0 and the replayed ``replay`` batch the critic also learns the
    lambda-returns of the replayed sequences, bootstrapped from imagination (current reference, ``repval``).
    """
    if actor_grad not in ACTOR_GRADS:
        raise ValueError(f"actor_grad {actor_grad!r} must be one of {', '.join(ACTOR_GRADS)}")
    cfg = agent.cfg
    if actor_grad == "dynamics":
        traj = imagine_differentiable(agent, starts, horizon, generator)
        heads = dynamics_heads(agent, traj)
    else:
        traj = imagine(agent, starts, horizon, generator)
        heads = reinforce_heads(agent, traj)
    disc = cfg.gamma * heads.cont
    ret = lambda_return(heads.reward, disc, heads.value_for_return, cfg.lam)
    weight = starts["cont"].unsqueeze(0) * torch.cumprod(torch.cat([torch.ones_like(disc[:1]), disc[:-1]]), 0)
    offset, scale = agent.retnorm.update(ret)
    adv = (ret.detach() - heads.value[:-1]) / scale
    # dynamics: the gradient of the normalised return itself reaches the actor; reinforce: scored samples
    objective = (ret - offset) / scale if actor_grad == "dynamics" else _scored(traj) * adv
    actor_loss = -(weight * (objective + cfg.entropy * traj.entropy)).mean()
    ret_target = ret.detach()
    critic_nll = -twohot_log_prob(heads.logits[:-1], ret_target, agent.bins)
    critic_reg = -twohot_log_prob(heads.logits[:-1], heads.slow, agent.bins)
    critic_loss = (weight * (critic_nll + cfg.slow_critic_reg * critic_reg)).mean()
    metrics = _behaviour_metrics(agent, heads, traj, adv, ret_target, offset, scale)
    metrics["loss_actor"], metrics["loss_critic"] = actor_loss.detach(), critic_loss.detach()
    if repval_scale > 0.0 and replay is not None:
        rep_loss = _replay_value_loss(agent, starts, replay, boot=ret_target[0])
        critic_loss = critic_loss + repval_scale * rep_loss
        metrics["loss_repval"] = rep_loss.detach()
        metrics["loss_critic"] = critic_loss.detach()
    return actor_loss, critic_loss, metrics


def _scored(traj: Imagined) -> Tensor:
    if traj.logp is None:
        raise ValueError("actor_grad: reinforce needs the log-probabilities of a rollout of imagine()")
    return traj.logp


def _behaviour_metrics(
    agent: DreamerAgent, heads: Heads, traj: Imagined, adv: Tensor, ret: Tensor, offset: Tensor, scale: Tensor
) -> dict[str, Tensor]:
    return {
        "action_entropy": traj.entropy.detach().mean(),
        "value_mean": heads.value.mean(),
        "value_std": _std(heads.value),
        "adv_mean": adv.mean(),
        "adv_std": _std(adv),
        "ret_mean": ret.mean(),
        "ret_p05": offset,
        "ret_p95": agent.retnorm.high,
        "ret_scale": scale,
        "imag_reward_mean": heads.reward.detach().mean(),
    }


def _replay_value_loss(
    agent: DreamerAgent, starts: Mapping[str, Tensor], replay: Mapping[str, Tensor], boot: Tensor
) -> Tensor:
    """Critic loss on the replayed posterior states: lambda-returns along each sequence, bootstrapped with the
    imagined return from every state (``boot``, N = B * T), plus the slow-critic regulariser; transitions into a new
    episode are not trained (as the reference's ``is_last`` mask)."""
    cfg = agent.cfg
    b, t = replay["reward"].shape
    deter = starts["deter"].detach()
    index = starts["stoch"].detach().reshape(-1, cfg.stoch, cfg.classes).argmax(-1)
    logits = mlp_on_state(agent.critic, deter, index, cfg.classes).reshape(b, t, -1).transpose(0, 1)
    with torch.no_grad():
        slow = twohot_decode(mlp_on_state(agent.slow_critic, deter, index, cfg.classes), agent.bins)
    slow = slow.reshape(b, t).t()
    first = replay["is_first"].t()
    valid = ~first[1:]
    disc = cfg.gamma * (1.0 - replay["is_terminal"].t()[1:].float())
    target = replay_lambda_return(replay["reward"].t()[1:].float(), disc, boot.reshape(b, t).t(), valid, cfg.lam)
    nll = -twohot_log_prob(logits[:-1], target, agent.bins)
    reg = -twohot_log_prob(logits[:-1], slow[:-1], agent.bins)
    return (valid.float() * (nll + cfg.slow_critic_reg * reg)).mean()


def _std(x: Tensor) -> Tensor:
    """Population standard deviation, written out: ``Tensor.std`` reads a scalar back to the host on a CPU."""
    x = x.detach().float()
    return (x - x.mean()).square().mean().sqrt()
