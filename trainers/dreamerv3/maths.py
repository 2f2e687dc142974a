"""The pure mathematics of DreamerV3 (Hafner et al. 2023, arXiv 2301.04104), as module-level functions.

symlog/symexp squashing, twohot encoding over symlog-spaced bins, unimix categoricals with straight-through samples,
KL balancing with free bits, lambda-returns and the percentile return normaliser. Everything here is shape-generic
and tested against hand-computed values in ``tests/trainers/dreamerv3/test_maths.py``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "ReturnNormalizer",
    "bound_action",
    "categorical_entropy",
    "categorical_kl",
    "kl_balance",
    "lambda_return",
    "one_hot",
    "quantiles",
    "replay_lambda_return",
    "sample_index",
    "sample_index_from_probs",
    "sample_one_hot",
    "straight_through",
    "symexp",
    "symlog",
    "symlog_bins",
    "twohot_decode",
    "twohot_encode",
    "twohot_log_prob",
    "unimix_logits",
    "unimix_probs",
]


def symlog(x: Tensor) -> Tensor:
    """sign(x) * ln(1 + |x|): compresses large magnitudes, identity-like near zero (paper eq. 1)."""
    return torch.sign(x) * torch.log1p(torch.abs(x))


def symexp(x: Tensor) -> Tensor:
    """Inverse of :func:`symlog`: sign(x) * (exp(|x|) - 1)."""
    return torch.sign(x) * torch.expm1(torch.abs(x))


def symlog_bins(
    num_bins: int = 255, low: float = -20.0, high: float = 20.0, device: torch.device | None = None
) -> Tensor:
    """Equally spaced bin centres in symlog space (the paper's 255 bins over [-20, 20])."""
    return torch.linspace(low, high, num_bins, device=device)


def twohot_encode(x: Tensor, bins: Tensor) -> Tensor:
    """Two-hot targets ``(..., K)`` for values ``x`` (already in bin space): weights on the two nearest bins that
    sum to one and whose weighted mean equals ``x`` (clamped to the outermost bins)."""
    x = x.clamp(bins[0], bins[-1])
    above = torch.searchsorted(bins, x.contiguous(), right=True).clamp(1, len(bins) - 1)
    below = above - 1
    lo, hi = bins[below], bins[above]
    w_hi = ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
    out = torch.zeros(*x.shape, len(bins), device=x.device, dtype=x.dtype)
    out.scatter_(-1, below.unsqueeze(-1), (1.0 - w_hi).unsqueeze(-1))
    out.scatter_add_(-1, above.unsqueeze(-1), w_hi.unsqueeze(-1))
    return out


def twohot_decode(logits: Tensor, bins: Tensor) -> Tensor:
    """Expected value of a twohot head, mapped back through symexp: symexp(sum softmax(logits) * bins)."""
    return symexp((torch.softmax(logits.float(), -1) * bins).sum(-1))


def twohot_log_prob(logits: Tensor, target: Tensor, bins: Tensor) -> Tensor:
    """Log-likelihood of a raw ``target`` under a twohot head: sum twohot(symlog(target)) * log_softmax(logits)."""
    return (twohot_encode(symlog(target.float()), bins) * F.log_softmax(logits.float(), -1)).sum(-1)


def unimix_probs(logits: Tensor, unimix: float = 0.01) -> Tensor:
    """``(1 - unimix) * softmax(logits) + unimix / K`` in float32: every class probability >= unimix / K."""
    probs = torch.softmax(logits.float(), -1)
    if unimix <= 0.0:
        return probs
    return (1.0 - unimix) * probs + unimix / logits.shape[-1]


def unimix_logits(logits: Tensor, unimix: float = 0.01) -> Tensor:
    """Logits of :func:`unimix_probs`: keeps every class probability >= unimix / K so KL terms stay bounded (paper
    section 'robust predictions')."""
    if unimix <= 0.0:
        return logits
    return torch.log(unimix_probs(logits, unimix))


def one_hot(index: Tensor, classes: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """One-hot vectors of ``index`` along a new last axis, by a scatter.

    Unlike ``F.one_hot`` this validates nothing: on a CPU ``F.one_hot`` reads the index's min and max back to the
    host on every call (two reductions and two syncs per latent sample), and the indices here are in range by
    construction.
    """
    out = torch.zeros(*index.shape, classes, dtype=dtype, device=index.device)
    return out.scatter_(-1, index.unsqueeze(-1), 1.0)


def sample_one_hot(logits: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One-hot sample of a categorical with straight-through gradients (sample + p - stopgrad(p)).

    The index comes from :func:`sample_index` with ``generator`` (or the global RNG), so sampling is reproducible.
    """
    return straight_through(torch.softmax(logits, -1), sample_index(logits, generator))


def straight_through(probs: Tensor, index: Tensor) -> Tensor:
    """``onehot(index)`` in value, the gradient of ``probs``: onehot + probs - stopgrad(probs)."""
    return one_hot(index, probs.shape[-1], probs.dtype) + (probs - probs.detach())


def sample_index(logits: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Indices sampled from categoricals over the last axis (inverse CDF: one uniform per categorical; no grad)."""
    return sample_index_from_probs(torch.softmax(logits.detach().float(), -1), generator)


def sample_index_from_probs(probs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """:func:`sample_index` from (not necessarily normalised) class probabilities: the uniform is scaled by their
    sum, so unimix probabilities are sampled without going through logits."""
    cdf = probs.detach().cumsum(-1)
    u = torch.rand((*probs.shape[:-1], 1), device=probs.device, generator=generator) * cdf[..., -1:]
    return (cdf < u).sum(-1).clamp_(max=probs.shape[-1] - 1)


def categorical_entropy(logits: Tensor) -> Tensor:
    """Entropy of categoricals given by ``logits`` (summed over every axis but the batch axes handled by caller)."""
    logp = F.log_softmax(logits.float(), -1)
    return -(logp.exp() * logp).sum(-1)


def categorical_kl(p_logits: Tensor, q_logits: Tensor) -> Tensor:
    """KL(p || q) of categoricals over the last axis."""
    logp = F.log_softmax(p_logits.float(), -1)
    logq = F.log_softmax(q_logits.float(), -1)
    return (logp.exp() * (logp - logq)).sum(-1)


def kl_balance(
    post_logits: Tensor, prior_logits: Tensor, *, free_bits: float = 1.0
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Dynamics and representation losses of DreamerV3 for ``(..., stoch, classes)`` logits.

    dyn = max(free, KL(sg(post) || prior)), rep = max(free, KL(post || sg(prior))), each KL summed over the stoch
    groups. Returns (dyn, rep, raw_kl, clipped_mask) with shapes ``(...)``; the clipped mask marks where free bits
    were applied (the gradient is zero there).
    """
    dyn_raw = categorical_kl(post_logits.detach(), prior_logits).sum(-1)
    rep_raw = categorical_kl(post_logits, prior_logits.detach()).sum(-1)
    dyn = torch.clamp(dyn_raw, min=free_bits)
    rep = torch.clamp(rep_raw, min=free_bits)
    return dyn, rep, rep_raw.detach(), (rep_raw.detach() < free_bits)


def lambda_return(reward: Tensor, disc: Tensor, value: Tensor, lam: float) -> Tensor:
    """TD(lambda) returns over a horizon, time on axis 0.

    ``reward[t]`` and ``disc[t]`` (= gamma * continue) belong to the transition t -> t+1 (length H); ``value`` has
    H + 1 entries (v_0 .. v_H). R_H = v_H; R_t = r_t + disc_t * ((1 - lam) * v_{t+1} + lam * R_{t+1}). Returns (H, ...).
    """
    horizon = reward.shape[0]
    if disc.shape[0] != horizon or value.shape[0] != horizon + 1:
        raise ValueError(
            f"lambda_return: reward {tuple(reward.shape)}, disc {tuple(disc.shape)}, value {tuple(value.shape)}"
        )
    interm = reward + disc * (1.0 - lam) * value[1:]
    out = []
    last = value[-1]
    for t in range(horizon - 1, -1, -1):
        last = interm[t] + disc[t] * lam * last
        out.append(last)
    return torch.stack(out[::-1])


def replay_lambda_return(reward: Tensor, disc: Tensor, boot: Tensor, valid: Tensor, lam: float) -> Tensor:
    """lambda-returns along a replayed sequence, bootstrapped from imagination (the current reference's ``repval``).

    Time on axis 0. ``reward[t]``, ``disc[t]`` and ``valid[t]`` belong to the replayed transition t -> t+1 (length
    T - 1); ``boot`` (T) is the imagined lambda-return from each replayed state. Where a transition is not real (the
    next step starts a new episode), the return is the imagined one. Returns (T - 1, ...).
    """
    steps = reward.shape[0]
    if disc.shape[0] != steps or valid.shape[0] != steps or boot.shape[0] != steps + 1:
        raise ValueError(
            f"replay_lambda_return: reward {tuple(reward.shape)}, disc {tuple(disc.shape)}, "
            f"valid {tuple(valid.shape)}, boot {tuple(boot.shape)}"
        )
    out = []
    last = boot[-1]
    for t in range(steps - 1, -1, -1):
        step = reward[t] + disc[t] * ((1.0 - lam) * boot[t + 1] + lam * last)
        last = torch.where(valid[t], step, boot[t])
        out.append(last)
    return torch.stack(out[::-1])


def bound_action(action: Tensor) -> Tensor:
    """``action / max(1, |action|)`` with the divisor held constant (the current reference's rescaling).

    The value equals ``clip(action, -1, 1)`` elementwise, so the env, the replay and imagination all see one action,
    and unlike a clip it keeps a gradient where the sample left [-1, 1] (dynamics backpropagation).
    """
    return action / torch.clamp(action.detach().abs(), min=1.0)


def quantiles(values: Tensor, levels: Tensor) -> Tensor:
    """``torch.quantile(values, levels)`` (linear interpolation) of a 1-D tensor, written out with a sort and two
    gathers, so that no step can read a value back to the host (the update must stay free of syncs, and capturable
    in a CUDA graph); equal to ``torch.quantile`` bit for bit (tested)."""
    ordered = torch.sort(values).values
    ranks = levels * (values.shape[0] - 1)
    below = ranks.long()
    above = ranks.ceil().long()
    out = torch.lerp(ordered[below], ordered[above], ranks - below)
    return torch.where(ordered[-1].isnan(), ordered[-1], out)  # a NaN sorts last and makes every quantile NaN


class ReturnNormalizer(nn.Module):
    """Percentile return scale: EMA of the 5th and 95th percentiles, S = p95 - p05, scale = max(1, S).

    Advantages are divided by ``scale`` so large returns are scaled down while small ones are not scaled up
    (paper section 'return normalization'). A module so that its EMAs and the quantile levels move with the agent
    (``agent.to(device)``) and an update builds no tensor on the host; the buffers are not persistent, so the agent's
    weights stay what they were, and :meth:`snapshot` / :meth:`restore` carry the EMAs in the learner's state.
    """

    low: Tensor
    high: Tensor
    levels: Tensor

    def __init__(self, *, decay: float = 0.99, low: float = 0.05, high: float = 0.95, limit: float = 1.0):
        super().__init__()
        self.decay, self.limit = decay, limit
        self.register_buffer("low", torch.zeros(()), persistent=False)
        self.register_buffer("high", torch.zeros(()), persistent=False)
        self.register_buffer("levels", torch.tensor([low, high]), persistent=False)

    def update(self, returns: Tensor) -> tuple[Tensor, Tensor]:
        """Fold a batch of returns into the EMAs (in place: the buffers keep their memory); returns (offset, scale)."""
        q = quantiles(returns.detach().float().reshape(-1), self.levels)
        torch.add(self.decay * self.low, (1.0 - self.decay) * q[0], out=self.low)
        torch.add(self.decay * self.high, (1.0 - self.decay) * q[1], out=self.high)
        return self.stats()

    def stats(self) -> tuple[Tensor, Tensor]:
        """(offset = EMA p05, scale = max(limit, EMA p95 - EMA p05))."""
        return self.low, torch.clamp(self.high - self.low, min=self.limit)

    def snapshot(self) -> dict[str, Tensor]:
        return {"low": self.low.detach().cpu().clone(), "high": self.high.detach().cpu().clone()}

    def restore(self, state: Mapping[str, Tensor]) -> None:
        self.low.copy_(state["low"])
        self.high.copy_(state["high"])
