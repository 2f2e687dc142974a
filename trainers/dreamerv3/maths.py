"""The pure mathematics of DreamerV3 (Hafner et al. 2023, arXiv 2301.04104), as module-level functions.

symlog/symexp squashing, twohot encoding over symlog-spaced bins, unimix categoricals with straight-through samples,
KL balancing with free bits, lambda-returns and the percentile return normaliser. Everything here is shape-generic
and tested against hand-computed values in ``tests/trainers/dreamerv3/test_maths.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "ReturnNormalizer",
    "categorical_entropy",
    "categorical_kl",
    "kl_balance",
    "lambda_return",
    "one_hot",
    "sample_index",
    "sample_one_hot",
    "symexp",
    "symlog",
    "symlog_bins",
    "twohot_decode",
    "twohot_encode",
    "twohot_log_prob",
    "unimix_logits",
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


def unimix_logits(logits: Tensor, unimix: float = 0.01) -> Tensor:
    """Logits of ``(1 - unimix) * softmax(logits) + unimix / K``: keeps every class probability >= unimix / K so
    KL terms stay bounded (paper section 'robust predictions')."""
    if unimix <= 0.0:
        return logits
    probs = torch.softmax(logits.float(), -1)
    probs = (1.0 - unimix) * probs + unimix / logits.shape[-1]
    return torch.log(probs)


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
    index = sample_index(logits, generator)
    sample = one_hot(index, logits.shape[-1], logits.dtype)
    probs = torch.softmax(logits, -1)
    return sample + (probs - probs.detach())


def sample_index(logits: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Indices sampled from categoricals over the last axis (inverse CDF: one uniform per categorical; no grad)."""
    probs = torch.softmax(logits.detach().float(), -1)
    cdf = probs.cumsum(-1)
    u = torch.rand((*logits.shape[:-1], 1), device=logits.device, generator=generator) * cdf[..., -1:]
    return (cdf < u).sum(-1).clamp_(max=logits.shape[-1] - 1)


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


class ReturnNormalizer:
    """Percentile return scale: EMA of the 5th and 95th percentiles, S = p95 - p05, scale = max(1, S).

    Advantages are divided by ``scale`` so large returns are scaled down while small ones are not scaled up
    (paper section 'return normalization').
    """

    def __init__(self, *, decay: float = 0.99, low: float = 0.05, high: float = 0.95, limit: float = 1.0):
        self.decay, self.low_q, self.high_q, self.limit = decay, low, high, limit
        self.low = torch.zeros(())
        self.high = torch.zeros(())

    def update(self, returns: Tensor) -> tuple[Tensor, Tensor]:
        """Fold a batch of returns into the EMAs; returns (offset, scale)."""
        flat = returns.detach().float().reshape(-1)
        q = torch.quantile(flat, torch.tensor([self.low_q, self.high_q], device=flat.device))
        self.low = self.low.to(flat.device)
        self.high = self.high.to(flat.device)
        self.low = self.decay * self.low + (1.0 - self.decay) * q[0]
        self.high = self.decay * self.high + (1.0 - self.decay) * q[1]
        return self.stats()

    def stats(self) -> tuple[Tensor, Tensor]:
        """(offset = EMA p05, scale = max(limit, EMA p95 - EMA p05))."""
        return self.low, torch.clamp(self.high - self.low, min=self.limit)

    def state_dict(self) -> dict[str, Tensor]:
        return {"low": self.low.clone(), "high": self.high.clone()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.low = state["low"].clone()
        self.high = state["high"].clone()
