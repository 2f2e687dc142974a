"""The mathematics of DreamerV3 against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from trainers.dreamerv3.maths import (
    ReturnNormalizer,
    categorical_kl,
    kl_balance,
    lambda_return,
    sample_one_hot,
    symexp,
    symlog,
    twohot_decode,
    twohot_encode,
    twohot_log_prob,
    unimix_logits,
)


def test_symlog_symexp_hand_values() -> None:
    x = torch.tensor([0.0, math.e - 1.0, -(math.e**2 - 1.0), 1e6])
    assert torch.allclose(symlog(x)[:3], torch.tensor([0.0, 1.0, -2.0]), atol=1e-6)
    assert symlog(x)[3].item() == pytest.approx(math.log(1e6 + 1.0), rel=1e-6)
    y = torch.linspace(-50, 50, 101)
    assert torch.allclose(symexp(symlog(y)), y, rtol=1e-5, atol=1e-4)


def test_twohot_encode_hand_values() -> None:
    bins = torch.tensor([-1.0, 0.0, 1.0, 2.0])
    enc = twohot_encode(torch.tensor([0.25, 5.0, -1.0, 1.0]), bins)
    expected = torch.tensor([[0, 0.75, 0.25, 0], [0, 0, 0, 1.0], [1.0, 0, 0, 0], [0, 0, 1.0, 0]])
    assert torch.allclose(enc, expected)
    assert torch.allclose((enc * bins).sum(-1), torch.tensor([0.25, 2.0, -1.0, 1.0]))


def test_twohot_round_trip_through_symlog_bins() -> None:
    bins = torch.linspace(-20, 20, 255)
    values = torch.tensor([-1000.0, -3.5, 0.0, 0.7, 42.0, 1e5])
    logits = torch.log(twohot_encode(symlog(values), bins) + 1e-12)
    assert torch.allclose(twohot_decode(logits, bins), values, rtol=1e-4, atol=1e-4)
    # log-likelihood of the exact target under its own twohot: sum w log w (= 0 when one bin carries all the weight)
    lp = twohot_log_prob(logits, values, bins)
    w = twohot_encode(symlog(values), bins)
    assert torch.allclose(lp, (w * torch.log(w + 1e-12)).sum(-1), atol=1e-4)


def test_lambda_return_hand_example() -> None:
    # R_2 = v_2 = 20; R_1 = 2 + 0.5 * (0.5 * 10 + 0.5 * 20) ... with v = [0, 10, 20]
    reward = torch.tensor([1.0, 2.0])
    disc = torch.tensor([0.5, 0.5])
    value = torch.tensor([0.0, 10.0, 20.0])
    ret = lambda_return(reward, disc, value, lam=0.5)
    # R_1 = 2 + 0.5 * ((1 - 0.5) * 20 + 0.5 * 20) = 12 ; R_0 = 1 + 0.5 * (0.5 * 10 + 0.5 * 12) = 6.5
    assert torch.allclose(ret, torch.tensor([6.5, 12.0]))
    # lambda = 1 is the discounted Monte-Carlo return bootstrapped at the end; lambda = 0 is one-step TD
    assert torch.allclose(
        lambda_return(reward, disc, value, 1.0), torch.tensor([1 + 0.5 * (2 + 0.5 * 20), 2 + 0.5 * 20])
    )
    assert torch.allclose(lambda_return(reward, disc, value, 0.0), torch.tensor([1 + 0.5 * 10, 2 + 0.5 * 20]))


def test_percentile_normaliser() -> None:
    returns = torch.arange(101, dtype=torch.float32)  # p05 = 5, p95 = 95
    norm = ReturnNormalizer(decay=0.99)
    offset, scale = norm.update(returns)
    assert offset.item() == pytest.approx(0.05)
    assert norm.high.item() == pytest.approx(0.95)
    assert scale.item() == pytest.approx(1.0)  # max(1, 0.9): small returns are never scaled up
    fast = ReturnNormalizer(decay=0.0)
    offset, scale = fast.update(returns)
    assert (offset.item(), scale.item()) == pytest.approx((5.0, 90.0))
    offset, scale = fast.update(returns * 0.01)  # S = 0.9 -> scale 1
    assert scale.item() == pytest.approx(1.0)


def test_kl_with_free_bits() -> None:
    p = torch.log(torch.tensor([[[0.5, 0.5]]]))  # (batch 1, stoch 1, classes 2)
    q = torch.log(torch.tensor([[[0.25, 0.75]]]))
    hand = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)  # 0.1438
    assert categorical_kl(p, q).item() == pytest.approx(hand, rel=1e-5)
    post, prior = p.clone().requires_grad_(True), q.clone().requires_grad_(True)
    dyn, rep, raw, clipped = kl_balance(post, prior, free_bits=1.0)
    assert dyn.item() == rep.item() == 1.0 and bool(clipped.all()) and raw.item() == pytest.approx(hand, rel=1e-5)
    (0.5 * dyn + 0.1 * rep).sum().backward()
    assert post.grad is not None and prior.grad is not None
    assert float(post.grad.abs().sum()) == 0.0 and float(prior.grad.abs().sum()) == 0.0  # free bits: no gradient
    post, prior = p.clone().requires_grad_(True), q.clone().requires_grad_(True)
    dyn, rep, _, clipped = kl_balance(post, prior, free_bits=0.1)
    assert dyn.item() == pytest.approx(hand, rel=1e-5) and not bool(clipped.any())
    dyn.sum().backward()  # dyn trains the prior only (stop-gradient on the posterior)
    assert post.grad is None and prior.grad is not None and float(prior.grad.abs().sum()) > 0.0


def test_unimix() -> None:
    logits = torch.tensor([10000.0, -10000.0])
    probs = unimix_logits(logits, 0.01).exp()
    assert torch.allclose(probs, torch.tensor([0.995, 0.005]), atol=1e-6)
    uniform = unimix_logits(torch.zeros(4), 0.01).exp()
    assert torch.allclose(uniform, torch.full((4,), 0.25))


def test_straight_through_sample() -> None:
    logits = torch.randn(64, 8, requires_grad=True)
    gen = torch.Generator().manual_seed(0)
    sample = sample_one_hot(logits, gen)
    assert torch.allclose(sample.detach().sum(-1), torch.ones(64)) and set(sample.detach().unique().tolist()) == {
        0.0,
        1.0,
    }
    (sample * torch.arange(8.0)).sum().backward()
    assert logits.grad is not None and float(logits.grad.abs().sum()) > 0  # gradient flows through probs
    probs = torch.tensor([0.7, 0.2, 0.1])
    draws = sample_one_hot(torch.log(probs).expand(20000, 3), gen)
    counts = draws.sum(0) / 20000
    assert torch.allclose(counts, probs, atol=0.02)


def test_quantiles_equal_torch_quantile_bit_for_bit() -> None:
    from trainers.dreamerv3.maths import quantiles

    levels = torch.tensor([0.05, 0.95])
    gen = torch.Generator().manual_seed(0)
    for n in (1, 2, 7, 1000, 15360):
        values = torch.randn(n, generator=gen) * 10
        assert torch.equal(quantiles(values, levels), torch.quantile(values, levels)), n
    with_nan = torch.tensor([1.0, float("nan"), 3.0])
    assert bool(quantiles(with_nan, levels).isnan().all()) and bool(torch.quantile(with_nan, levels).isnan().all())
