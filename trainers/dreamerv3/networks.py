"""DreamerV3 networks: MLP blocks, the LayerNorm GRU, the RSSM, observation encoders/decoders and output heads.

Layers are Linear (no bias) -> LayerNorm -> SiLU as in the paper; weights use a truncated normal with fan-average
scaling, and output layers take an ``outscale`` (0 for the reward and critic heads, so both start predicting zero).
"""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trainers.dreamerv3.config import ModelConfig
from trainers.dreamerv3.gather import OneHotColumns, flat_index, onehot_linear
from trainers.dreamerv3.maths import (
    one_hot,
    sample_index_from_probs,
    straight_through,
    symlog,
    unimix_logits,
    unimix_probs,
)

__all__ = [
    "MLP",
    "RSSM",
    "CnnDecoder",
    "CnnEncoder",
    "FirstLayerOnState",
    "ImaginationStep",
    "LayerNormGRU",
    "ObsDecoder",
    "ObsEncoder",
    "autocast_ready",
    "first_layers_on_state",
    "init_linear",
    "mlp_on_state",
    "mlp_rest",
]

RSSMState = dict[str, Tensor]  # {"deter": (..., D), "stoch": (..., S*C), "logits": (..., S, C)}


def init_linear(layer: nn.Module, outscale: float = 1.0) -> None:
    """Truncated normal with variance outscale / fan_avg (paper's initialiser); zero biases; outscale 0 -> zeros."""
    weight = getattr(layer, "weight", None)
    if weight is None:
        return
    if outscale == 0.0:
        nn.init.zeros_(weight)
    else:
        fan_in = weight[0].numel()
        fan_out = weight.shape[0] * (weight[0, 0].numel() if weight.dim() > 2 else 1)
        std = math.sqrt(outscale / ((fan_in + fan_out) / 2.0)) / 0.87962566103423978
        nn.init.trunc_normal_(weight, 0.0, std, -2.0 * std, 2.0 * std)
    bias = getattr(layer, "bias", None)
    if isinstance(bias, Tensor):
        nn.init.zeros_(bias)


def _norm_act(units: int) -> list[nn.Module]:
    return [nn.LayerNorm(units, eps=1e-3), nn.SiLU()]


class MLP(nn.Sequential):
    """``layers`` x (Linear -> LayerNorm -> SiLU), then an optional output Linear initialised with ``outscale``."""

    def __init__(self, inp: int, units: int, layers: int, out: int | None = None, outscale: float = 1.0):
        mods: list[nn.Module] = []
        for i in range(layers):
            lin = nn.Linear(inp if i == 0 else units, units, bias=False)
            init_linear(lin)
            mods += [lin, *_norm_act(units)]
        if out is not None:
            head = nn.Linear(units if layers else inp, out)
            init_linear(head, outscale)
            mods.append(head)
        super().__init__(*mods)


def mlp_on_state(mlp: nn.Sequential, deter: Tensor, index: Tensor, classes: int) -> Tensor:
    """``mlp(cat(deter, onehot(index)))`` with the first layer split into a dense and a gathered part."""
    (hidden,) = first_layers_on_state([mlp], deter, index, classes)
    return mlp_rest(mlp, hidden)


def first_layers_on_state(mlps: Sequence[nn.Sequential], deter: Tensor, index: Tensor, classes: int) -> list[Tensor]:
    """The first Linear of every MLP in ``mlps`` on one state (deter, one-hot stoch by class indices), fused: one
    dense product with the stacked deter columns and one gather of the stacked one-hot columns.

    The heads that read the same imagined states (actor and critic; reward, continue and slow critic) share these
    two calls instead of making one pair each. Returns each MLP's pre-activation, to be finished by :func:`mlp_rest`.
    """
    firsts = [m[0] for m in mlps]
    if not all(isinstance(f, nn.Linear) for f in firsts):
        raise TypeError(f"first_layers_on_state: every MLP must start with nn.Linear, got {firsts}")
    layers = typing.cast(list[nn.Linear], firsts)
    d = deter.shape[-1]
    weights: list[Tensor] = [f.weight for f in layers]
    weight = weights[0] if len(weights) == 1 else torch.cat(weights)
    h = deter @ weight[:, :d].t() + onehot_linear(weight, index, classes, offset=d)
    if any(f.bias is not None for f in layers):
        bias: list[Tensor] = [weight.new_zeros(f.out_features) if f.bias is None else f.bias for f in layers]
        h = h + torch.cat(bias)
    if len(layers) == 1:
        return [h]
    return list(h.split([f.out_features for f in layers], -1))


class FirstLayerOnState:
    """The first Linear of an MLP over ``cat(deter, onehot(index))``, taken apart once per rollout: the deter columns
    transposed (and, under autocast, already in its dtype) and the one-hot columns as a gather table."""

    def __init__(self, mlp: nn.Sequential, deter: int, stoch: int, classes: int):
        lin = mlp[0]
        if not isinstance(lin, nn.Linear):
            raise TypeError(f"FirstLayerOnState: the MLP must start with nn.Linear, got {lin}")
        self.deter_columns = autocast_ready(lin.weight[:, :deter].t())
        self.stoch_columns = OneHotColumns(lin.weight, deter, stoch, classes)
        self.bias = lin.bias

    def __call__(self, deter: Tensor, flat: Tensor) -> Tensor:
        """Pre-activation at states (deter (N, D), rows of :func:`~trainers.dreamerv3.gather.flat_index` (N, S))."""
        h = deter @ self.deter_columns + self.stoch_columns(flat)
        return h if self.bias is None else h + self.bias


def autocast_ready(weight: Tensor) -> Tensor:
    """``weight`` in the autocast dtype when autocast is on for its device: a view of a parameter is cast again at
    every product (autocast caches casts of parameters only), a tensor already in that dtype is not cast at all."""
    kind = weight.device.type
    try:
        if torch.is_autocast_enabled(kind):
            return weight.to(torch.get_autocast_dtype(kind))
    except RuntimeError:  # a device type autocast does not know (the stand-in device)
        pass
    return weight


def mlp_rest(mlp: nn.Sequential, hidden: Tensor) -> Tensor:
    """Every module of ``mlp`` after its first Linear, applied to that Linear's output."""
    for module in list(mlp)[1:]:
        hidden = module(hidden)
    return hidden


class LayerNormGRU(nn.Module):
    """GRU cell of DreamerV3: one linear map of [x, h] to 3 gates, LayerNorm, reset/candidate/update with the update
    gate biased by -1. ``blocks`` > 1 makes the recurrent weights block-diagonal (fewer FLOPs at large widths)."""

    def __init__(self, inp: int, units: int, blocks: int = 1):
        super().__init__()
        if units % blocks:
            raise ValueError(f"GRU units {units} must be divisible by blocks {blocks}")
        self.units, self.blocks = units, blocks
        if blocks == 1:
            self.linear = nn.Linear(inp + units, 3 * units, bias=False)
            init_linear(self.linear)
        else:
            g = units // blocks
            self.inp_linear = nn.Linear(inp, 3 * units, bias=False)
            init_linear(self.inp_linear)
            std = math.sqrt(1.0 / ((g + 3 * g) / 2.0))
            self.rec_weight = nn.Parameter(torch.randn(blocks, g, 3 * g) * std)
        self.norm = nn.LayerNorm(3 * units, eps=1e-3)

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        if self.blocks == 1:
            gates = self.linear(torch.cat([x, h], -1))
        else:
            g = self.units // self.blocks
            rec = torch.einsum("nbi,bio->nbo", h.reshape(-1, self.blocks, g), self.rec_weight)
            rec = rec.reshape(-1, self.blocks, 3, g).transpose(1, 2).reshape(*h.shape[:-1], 3 * self.units)
            gates = self.inp_linear(x) + rec
        reset, cand, update = self.norm(gates).chunk(3, -1)
        reset = torch.sigmoid(reset)
        cand = torch.tanh(reset * cand)
        update = torch.sigmoid(update - 1.0)
        return update * cand + (1.0 - update) * h


class RSSM(nn.Module):
    """Recurrent state-space model: deterministic GRU state + discrete stochastic state (stoch x classes).

    ``observe`` runs the posterior over a replayed sequence (resetting the state at every ``is_first``);
    ``img_step`` advances the prior one step for imagination.
    """

    def __init__(self, cfg: ModelConfig, embed_size: int, action_size: int):
        super().__init__()
        self.cfg = cfg
        hid, sf = cfg.hidden_units, cfg.stoch_flat
        self.img_in = MLP(sf + action_size, hid, 1)
        self.gru = LayerNormGRU(hid, cfg.deter, cfg.gru_blocks)
        self.prior = MLP(cfg.deter, hid, 1, sf)
        # Posterior: Linear(cat(deter, embed)) split into two maps so the embed part runs once for all time steps.
        self.post_deter = nn.Linear(cfg.deter, hid, bias=False)
        self.post_embed = nn.Linear(embed_size, hid, bias=False)
        init_linear(self.post_deter)
        init_linear(self.post_embed)
        self.post_rest = nn.Sequential(*_norm_act(hid), nn.Linear(hid, sf))
        init_linear(self.post_rest[-1])
        self.initial_deter = nn.Parameter(torch.zeros(cfg.deter)) if cfg.learned_initial else None

    def _logits(self, raw: Tensor) -> Tensor:
        return unimix_logits(raw.reshape(*raw.shape[:-1], self.cfg.stoch, self.cfg.classes), self.cfg.unimix)

    def initial(self, batch: int, device: torch.device) -> RSSMState:
        """Start state: tanh(learned vector) as deter and the prior's mode as stoch (zeros when not learned)."""
        cfg = self.cfg
        if self.initial_deter is None:
            deter = torch.zeros(batch, cfg.deter, device=device)
            logits = torch.zeros(batch, cfg.stoch, cfg.classes, device=device)
            return {"deter": deter, "stoch": torch.zeros(batch, cfg.stoch_flat, device=device), "logits": logits}
        deter = torch.tanh(self.initial_deter).expand(batch, cfg.deter)
        logits = self._logits(self.prior(deter))
        stoch = one_hot(logits.argmax(-1), cfg.classes, deter.dtype).reshape(batch, cfg.stoch_flat)
        return {"deter": deter, "stoch": stoch, "logits": logits}

    def img_step(self, stoch: Tensor, deter: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        """One prior step: (next deter, prior logits) from the previous stoch, deter and action."""
        x = self.img_in(torch.cat([stoch, action], -1))
        deter = self.gru(x, deter)
        return deter, self._logits(self.prior(deter))

    def img_step_index(self, index: Tensor, deter: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`img_step` for one-hot stoch given by its class indices: (next deter, prior logits)."""
        deter, probs = ImaginationStep(self)(flat_index(index, self.cfg.classes), deter, action)
        return deter, torch.log(probs)

    def prior_probs(self, deter: Tensor) -> Tensor:
        """The prior's unimix class probabilities (..., stoch, classes) at ``deter`` (what imagination samples)."""
        raw = self.prior(deter)
        return unimix_probs(raw.reshape(*raw.shape[:-1], self.cfg.stoch, self.cfg.classes), self.cfg.unimix)

    def observe(
        self,
        embed: Tensor,
        action: Tensor,
        is_first: Tensor,
        state: RSSMState | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[dict[str, Tensor], RSSMState]:
        """Posterior over a sequence. ``action[:, t]`` is the action that led to step t (zero at episode starts).

        Returns ({"deter", "stoch", "post_logits", "prior_logits"} each (B, T, ...), last state).
        """
        b, t = embed.shape[:2]
        if action.shape[:2] != (b, t) or is_first.shape != (b, t):
            raise ValueError(
                f"observe: embed {tuple(embed.shape)}, action {tuple(action.shape)}, first {tuple(is_first.shape)}"
            )
        init = self.initial(b, embed.device)
        if state is None:
            state = init
        stoch, deter = state["stoch"], state["deter"]
        first = is_first.bool().unsqueeze(-1)
        action = torch.where(first, 0.0, action)
        embed_part = self.post_embed(embed)
        deters, stochs, posts = [], [], []
        for i in range(t):
            stoch = torch.where(first[:, i], init["stoch"], stoch)  # a new episode starts from the initial state
            deter = torch.where(first[:, i], init["deter"], deter)
            x = self.img_in(torch.cat([stoch, action[:, i]], -1))
            deter = self.gru(x, deter)
            probs = self.posterior_probs(deter, embed_part[:, i])
            stoch = straight_through(probs, sample_index_from_probs(probs, generator)).reshape(b, -1)
            deters.append(deter)
            stochs.append(stoch)
            posts.append(probs)
        deter_seq = torch.stack(deters, 1)
        out = {
            "deter": deter_seq,
            "stoch": torch.stack(stochs, 1),
            "post_logits": torch.log(torch.stack(posts, 1)),  # one log for the whole sequence
            "prior_logits": self._logits(self.prior(deter_seq)),  # priors in one batched call
        }
        return out, {"deter": deter, "stoch": stoch, "logits": out["post_logits"][:, -1]}

    def posterior_probs(self, deter: Tensor, embed_part: Tensor) -> Tensor:
        """The posterior's unimix class probabilities (B, stoch, classes) from deter and the embedding's share of the
        posterior layer (``post_embed(embed)``, computed for the whole sequence at once)."""
        raw = self.post_rest(self.post_deter(deter) + embed_part)
        return unimix_probs(raw.reshape(*raw.shape[:-1], self.cfg.stoch, self.cfg.classes), self.cfg.unimix)


class ImaginationStep:
    """One prior step of the RSSM for states given by class indices, its input layer taken apart once per rollout.

    The input layer reads ``cat(onehot(index), action)``: its one-hot columns become a gather table
    (:class:`~trainers.dreamerv3.gather.OneHotColumns`) and its action columns a transposed matrix, both built here
    once instead of at every step. Returns the next deter and the prior's unimix probabilities, which imagination
    samples directly (the logits would be a log and a softmax more per step).
    """

    def __init__(self, rssm: RSSM):
        lin = rssm.img_in[0]
        if not isinstance(lin, nn.Linear):
            raise TypeError(f"ImaginationStep: the RSSM input layer must be nn.Linear, got {lin}")
        cfg = rssm.cfg
        self.rssm = rssm
        self.stoch_columns = OneHotColumns(lin.weight, 0, cfg.stoch, cfg.classes)
        self.action_columns = autocast_ready(lin.weight[:, cfg.stoch_flat :].t())

    def __call__(self, flat: Tensor, deter: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        """``flat``: the state's rows from :func:`~trainers.dreamerv3.gather.flat_index`."""
        x = self.stoch_columns(flat) + action @ self.action_columns
        x = mlp_rest(self.rssm.img_in, x)
        deter = self.rssm.gru(x, deter)
        return deter, self.rssm.prior_probs(deter)


class CnnEncoder(nn.Module):
    """Stride-2 convolutions (kernel 4) with channel LayerNorm + SiLU until the map is at most 6 wide, flattened."""

    def __init__(self, shape: tuple[int, int, int], depth: int):
        super().__init__()
        c, h, w = shape
        layers: list[nn.Module] = []
        ch = depth
        self.shapes = [(c, h, w)]
        while min(h, w) > 6 and len(layers) // 3 < 6:
            conv = nn.Conv2d(c, ch, 4, 2, 1, bias=False)
            init_linear(conv)
            layers += [conv, _ChannelNorm(ch), nn.SiLU()]
            c, h, w = ch, h // 2, w // 2
            self.shapes.append((c, h, w))
            ch = min(ch * 2, depth * 8)
        self.net = nn.Sequential(*layers)
        self.out_size = c * h * w

    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-3]
        y = self.net(x.reshape(-1, *x.shape[-3:]))
        return y.reshape(*lead, -1)


class CnnDecoder(nn.Module):
    """Mirror of :class:`CnnEncoder`: Linear to the smallest map, stride-2 transposed convolutions, resized to fit."""

    def __init__(self, feat: int, enc: CnnEncoder):
        super().__init__()
        shapes = enc.shapes
        self.target = shapes[0]
        self.start = shapes[-1]
        self.linear = nn.Linear(feat, int(math.prod(self.start)))
        init_linear(self.linear)
        layers: list[nn.Module] = []
        for i in range(len(shapes) - 1, 0, -1):
            cin, cout = shapes[i][0], shapes[i - 1][0]
            conv = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=(i == 1))
            init_linear(conv)
            layers.append(conv)
            if i > 1:
                layers += [_ChannelNorm(cout), nn.SiLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, feat: Tensor) -> Tensor:
        lead = feat.shape[:-1]
        x = self.linear(feat).reshape(-1, *self.start)
        x = self.net(x)
        if tuple(x.shape[-2:]) != tuple(self.target[1:]):
            x = F.interpolate(x, size=self.target[1:], mode="bilinear", align_corners=False)
        return x.reshape(*lead, *self.target)


class _ChannelNorm(nn.LayerNorm):
    """LayerNorm over channels of an NCHW map."""

    def __init__(self, channels: int):
        super().__init__(channels, eps=1e-3)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def split_keys(shapes: Mapping[str, tuple[int, ...]]) -> tuple[list[str], list[str]]:
    """(vector keys, image keys): 1-D or 2-D observations are vectors (flattened), 3-D ones (C, H, W) are images."""
    vec = sorted(k for k, s in shapes.items() if len(s) <= 2)
    img = sorted(k for k, s in shapes.items() if len(s) == 3)
    return vec, img


class ObsEncoder(nn.Module):
    """Symlog MLP over the concatenated vector keys + a CNN over the channel-stacked image keys, concatenated."""

    def __init__(self, shapes: Mapping[str, tuple[int, ...]], cfg: ModelConfig):
        super().__init__()
        self.vec_keys, self.img_keys = split_keys(shapes)
        self.vec_sizes = [int(math.prod(shapes[k])) for k in self.vec_keys]
        self.out_size = 0
        self.mlp = None
        self.cnn = None
        if self.vec_keys:
            self.mlp = MLP(sum(self.vec_sizes), cfg.units, cfg.layers)
            self.out_size += cfg.units
        if self.img_keys:
            s0 = shapes[self.img_keys[0]]
            chans = sum(shapes[k][0] for k in self.img_keys)
            self.cnn = CnnEncoder((chans, s0[1], s0[2]), cfg.cnn_depth)
            self.out_size += self.cnn.out_size

    def vector(self, obs: Mapping[str, Tensor], lead: int) -> Tensor:
        return torch.cat([obs[k].reshape(*obs[k].shape[:lead], -1) for k in self.vec_keys], -1)

    def forward(self, obs: Mapping[str, Tensor], lead: int = 2) -> Tensor:
        parts = []
        if self.mlp is not None:
            parts.append(self.mlp(symlog(self.vector(obs, lead))))
        if self.cnn is not None:
            parts.append(self.cnn(torch.cat([obs[k] for k in self.img_keys], -3)))
        return torch.cat(parts, -1) if len(parts) > 1 else parts[0]


class ObsDecoder(nn.Module):
    """Reconstructs vector keys in symlog space (MLP) and image keys (CNN); the loss is a summed squared error."""

    def __init__(self, shapes: Mapping[str, tuple[int, ...]], feat: int, cfg: ModelConfig, encoder: ObsEncoder):
        super().__init__()
        self.shapes = dict(shapes)
        self.vec_keys, self.img_keys = encoder.vec_keys, encoder.img_keys
        self.vec_sizes = encoder.vec_sizes
        self.mlp = MLP(feat, cfg.units, cfg.layers, sum(self.vec_sizes)) if self.vec_keys else None
        self.cnn = CnnDecoder(feat, encoder.cnn) if encoder.cnn is not None else None

    def loss(self, feat: Tensor, obs: Mapping[str, Tensor], encoder: ObsEncoder) -> Tensor:
        """Negative log-likelihood up to a constant: sum of squared errors per step, shape (B, T)."""
        total = torch.zeros(feat.shape[:-1], device=feat.device)
        if self.mlp is not None:
            target = symlog(encoder.vector(obs, feat.dim() - 1))
            total = total + ((self.mlp(feat).float() - target) ** 2).sum(-1)
        if self.cnn is not None:
            target = torch.cat([obs[k] for k in self.img_keys], -3)
            total = total + ((self.cnn(feat).float() - target) ** 2).sum((-3, -2, -1))
        return total
