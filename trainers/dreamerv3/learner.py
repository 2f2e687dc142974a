"""One DreamerV3 update: world-model step, then actor and critic steps, with fail-fast checks.

The learner owns the optimisers (Adam with the paper's learning rates, epsilons and global-norm clipping), the slow
critic EMA and the sampling generator, and checks every loss, gradient norm and parameter for non-finite values
before and after each optimiser step. A non-finite value never moves a parameter.

Two ways to check, because a check is a device-to-host sync and a GPU update should have none:

* ``train_step(batch)`` (``sync=True``) reads the checks at once and raises :class:`NonFiniteError` before the
  offending optimiser step; it returns the metrics as floats.
* ``train_step(batch, sync=False)`` keeps everything on the device: a non-finite loss or gradient is handed to the
  fused Adam step as ``found_inf`` (the step is skipped on the device, as ``torch.amp.GradScaler`` does), the flags
  accumulate, and :meth:`Learner.raise_pending` reads them later with one sync and raises for the first bad update.
  It returns the metrics as device tensors.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from trainers.dreamerv3.agent import ACTOR_GRADS, DreamerAgent, behaviour_loss, world_model_loss
from trainers.dreamerv3.config import DreamerConfig

__all__ = ["CHECKS", "Learner", "NonFiniteError", "as_floats", "resolve_actor_grad"]


class NonFiniteError(RuntimeError):
    """A loss, gradient or parameter became NaN or infinite. ``what`` names it; ``metrics`` are the last values."""

    def __init__(self, what: str, metrics: Mapping[str, float]):
        super().__init__(f"non-finite {what}")
        self.what = what
        self.metrics = dict(metrics)
        self.update: int | None = None  # set by deferred checks: the update that first went non-finite


# What each entry of the non-finite flags vector checks, in order.
CHECKS = (
    "loss_model",
    "grad of world model",
    "loss_actor",
    "loss_critic",
    "grad of actor",
    "grad of critic",
    "parameters",
)


def _adam(params: list[nn.Parameter], lr: float, eps: float) -> torch.optim.Optimizer:
    try:
        return torch.optim.Adam(params, lr=lr, eps=eps, fused=True)
    except (RuntimeError, TypeError):  # fused Adam unavailable on this device/build
        return torch.optim.Adam(params, lr=lr, eps=eps, foreach=True)


def _nonfinite(*values: Tensor) -> Tensor:
    """A bool vector: True where a scalar is NaN or infinite (no sync)."""
    return ~torch.isfinite(torch.stack([v.detach().float().reshape(()) for v in values]))


class Learner:
    """Trains a :class:`DreamerAgent` on replayed batches (see module docstring)."""

    def __init__(self, agent: DreamerAgent, cfg: DreamerConfig, *, device: torch.device, seed: int = 0):
        self.agent, self.cfg, self.device = agent, cfg, device
        m = cfg.model
        self.wm_params = agent.world_model_parameters()
        self.actor_params = list(agent.actor.parameters())
        self.critic_params = list(agent.critic.parameters())
        self.wm_opt = _adam(self.wm_params, cfg.world_model_lr, m.wm_eps)
        self.actor_opt = _adam(self.actor_params, cfg.actor_lr, m.ac_eps)
        self.critic_opt = _adam(self.critic_params, cfg.critic_lr, m.ac_eps)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed + 7919)
        self.updates = 0
        self.train_behaviour = cfg.mode == "full"
        self.actor_grad = resolve_actor_grad(cfg.actor_grad, agent.action.discrete)
        self.timings: dict[str, float] = {"world_model": 0.0, "actor_critic": 0.0}  # seconds, summed over updates
        # Deferred checks live in tensors allocated once and updated in place, so an update reads and writes the same
        # memory every time (what a CUDA graph replay needs): the flags of CHECKS since the last read, the first
        # update that raised one (-1: none), and the update counter on the device.
        self._pending = torch.zeros(len(CHECKS), dtype=torch.bool, device=device)
        self._first_bad = torch.full((), -1, dtype=torch.long, device=device)
        self._update_index = torch.zeros((), dtype=torch.long, device=device)
        self._no_behaviour_flags = torch.zeros(4, dtype=torch.bool, device=device)
        self._deferred = 0  # deferred updates since the last read
        self.autocast_cache = True  # off for a CUDA graph capture (cached casts would not outlive it)

    @property
    def can_defer(self) -> bool:
        """Deferred checks need the fused Adam step, the only one that takes ``found_inf``."""
        opts = (self.wm_opt, self.actor_opt, self.critic_opt)
        return all(o.defaults.get("fused") for o in opts)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.cfg.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16, cache_enabled=self.autocast_cache)
        return contextlib.nullcontext()

    # ------------------------------------------------------------------------------ CUDA graph support
    def prepare_capture(self) -> None:
        """Before a CUDA graph capture of :meth:`train_step`: optimisers ``capturable`` (fused Adam keeps its step
        counts on the device already), autocast without its cast cache."""
        for opt in (self.wm_opt, self.actor_opt, self.critic_opt):
            for group in opt.param_groups:
                group["capturable"] = True
        self.autocast_cache = False

    def host_counters(self) -> tuple[int, int]:
        """The counters a :meth:`train_step` advances on the host (a capture runs its Python without training)."""
        return self.updates, self._deferred

    def restore_host_counters(self, counters: tuple[int, int]) -> None:
        self.updates, self._deferred = counters

    def count_replayed_update(self) -> None:
        """A replayed deferred update: the host counters a :meth:`train_step` would have advanced."""
        self.updates += 1
        self._deferred += 1

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def _clip(self, params: list[nn.Parameter], max_norm: float) -> Tensor:
        return torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True)

    def _guard(
        self, opt: torch.optim.Optimizer, bad: Tensor, names: tuple[str, ...], metrics: Mapping[str, Tensor], sync: bool
    ) -> None:
        """Before ``opt.step()``: raise now (sync) or make the fused step a no-op on the device when ``bad``."""
        if sync:
            opt.__dict__.pop("found_inf", None)
            if bool(bad.any()):
                flagged = [n for n, b in zip(names, bad.tolist(), strict=True) if b]
                raise NonFiniteError(", ".join(flagged), as_floats(metrics))
        elif getattr(opt, "defaults", {}).get("fused"):
            opt.found_inf = bad.any().float()  # type: ignore[attr-defined]

    def _parameters_bad(self) -> Tensor:
        """One fused norm per tensor list; True when any parameter holds a NaN or infinity."""
        norms = torch.stack(torch._foreach_norm([p.detach() for p in self.agent.parameters()]))
        return ~torch.isfinite(norms).all().reshape(1)

    def check_parameters(self) -> None:
        """Raise when any parameter is non-finite (a sync)."""
        if bool(self._parameters_bad().any()):
            names = [n for n, p in self.agent.named_parameters() if not bool(torch.isfinite(p).all())]
            raise NonFiniteError(f"parameter {', '.join(names[:5])}", {})

    def train_step(self, batch: Mapping[str, Any], *, sync: bool = True) -> Any:
        """One update on a (B, T) batch: metrics as floats (``sync``) or as device tensors (see module docstring)."""
        t0 = self._now() if sync else 0.0
        metrics, starts, wm_bad = self._world_model_step(batch, sync)
        t1 = self._now() if sync else 0.0
        self.timings["world_model"] += t1 - t0
        ac_bad = self._no_behaviour_flags
        if self.train_behaviour:
            ac_bad = self._behaviour_step(batch, starts, metrics, sync)
        if sync:
            self.check_parameters()
            self.timings["actor_critic"] += self._now() - t1
            self.updates += 1
            self._update_index += 1
            return as_floats(metrics)
        self._accumulate(torch.cat([wm_bad, ac_bad, self._parameters_bad()]))
        self.updates += 1
        return {k: v.detach() for k, v in metrics.items()}

    def _world_model_step(
        self, batch: Mapping[str, Any], sync: bool
    ) -> tuple[dict[str, Tensor], dict[str, Tensor], Tensor]:
        """Loss, gradient and (guarded) optimiser step of the world model: (metrics, posterior starts, flags)."""
        with self._autocast():
            wm_loss, metrics, starts = world_model_loss(self.agent, batch, self.generator)
        self.wm_opt.zero_grad(set_to_none=True)
        wm_loss.backward()
        gn_wm = self._clip(self.wm_params, self.cfg.model.wm_clip)
        metrics["grad_norm_model"] = gn_wm
        wm_bad = _nonfinite(wm_loss, gn_wm)
        self._guard(self.wm_opt, wm_bad, CHECKS[:2], metrics, sync)
        self.wm_opt.step()
        return metrics, starts, wm_bad

    def _behaviour_step(
        self, batch: Mapping[str, Any], starts: Mapping[str, Tensor], metrics: dict[str, Tensor], sync: bool
    ) -> Tensor:
        """Actor and critic losses on imagination, their (guarded) steps and the slow critic; returns the flags."""
        cfg = self.cfg
        with self._autocast():
            actor_loss, critic_loss, bmetrics = behaviour_loss(
                self.agent,
                starts,
                cfg.horizon,
                self.generator,
                actor_grad=self.actor_grad,
                replay=batch if cfg.repval else None,
                repval_scale=cfg.repval_scale if cfg.repval else 0.0,
            )
        metrics.update(bmetrics)
        self.actor_opt.zero_grad(set_to_none=True)
        self.critic_opt.zero_grad(set_to_none=True)
        self._behaviour_backward(actor_loss, critic_loss)
        gn_a = self._clip(self.actor_params, cfg.model.ac_clip)
        gn_c = self._clip(self.critic_params, cfg.model.ac_clip)
        metrics["grad_norm_actor"], metrics["grad_norm_critic"] = gn_a, gn_c
        ac_bad = _nonfinite(actor_loss, critic_loss, gn_a, gn_c)
        if sync:
            self._guard(self.actor_opt, ac_bad, CHECKS[2:6], metrics, sync)
        else:
            # strided views, not ac_bad[[0, 2]]: a list index is a host tensor, copied to the device every update
            self._guard(self.actor_opt, ac_bad[0::2], ("loss_actor", "grad of actor"), metrics, sync)
            self._guard(self.critic_opt, ac_bad[1::2], ("loss_critic", "grad of critic"), metrics, sync)
        self.actor_opt.step()
        self.critic_opt.step()
        self._update_slow_critic(None if sync else ac_bad[1::2].any())
        return ac_bad

    @torch.no_grad()
    def _update_slow_critic(self, skipped: Tensor | None) -> None:
        """EMA of the critic's weights; a skipped critic step (deferred checks) leaves it where it is, exactly and
        without a sync."""
        slow: list[Tensor] = list(self.agent.slow_critic.parameters())
        target = [p.detach() for p in self.critic_params]
        if skipped is not None:
            target = [torch.where(skipped, s, c) for s, c in zip(slow, target, strict=True)]
        torch._foreach_lerp_(slow, target, 1.0 - self.cfg.model.slow_critic_decay)

    def _behaviour_backward(self, actor_loss: Tensor, critic_loss: Tensor) -> None:
        """Gradients of the actor and critic losses, each for its own network only."""
        if self.actor_grad == "reinforce":  # both losses read detached states: one backward pass serves both
            (actor_loss + critic_loss).backward()
            return
        # Dynamics backpropagation: the actor's loss runs through the world model, reward head and critic; only the
        # actor's parameters may take its gradient (the critic learns from its own loss on detached states).
        grads = torch.autograd.grad(actor_loss, self.actor_params, allow_unused=True)
        for p, g in zip(self.actor_params, grads, strict=True):
            p.grad = torch.zeros_like(p) if g is None else g
        critic_loss.backward()

    def _accumulate(self, flags: Tensor) -> None:
        """Fold one update's flags into the pending ones and remember the first update that raised any (in place,
        no sync)."""
        first_time = flags.any() & (self._first_bad < 0)
        self._first_bad.copy_(torch.where(first_time, self._update_index, self._first_bad))
        self._pending |= flags
        self._update_index += 1
        self._deferred += 1

    def raise_pending(self, metrics: Mapping[str, Tensor | float] | None = None) -> None:
        """Read the flags of the updates since the last call (one sync); raise :class:`NonFiniteError` if any was
        non-finite. ``NonFiniteError.update`` is the learner's update counter of the first such update."""
        if not self._deferred:
            return
        values = torch.cat([self._pending.long(), self._first_bad.reshape(1)]).tolist()
        self._pending.zero_()
        self._first_bad.fill_(-1)
        self._deferred = 0
        flagged = [name for name, bad in zip(CHECKS, values[:-1], strict=True) if bad]
        if flagged:
            err = NonFiniteError(", ".join(flagged), as_floats(metrics or {}))
            err.update = int(values[-1])
            raise err

    def state_dict(self) -> dict[str, Any]:
        return {
            "wm_opt": self.wm_opt.state_dict(),
            "actor_opt": self.actor_opt.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "generator": self.generator.get_state(),
            "updates": self.updates,
            "retnorm": self.agent.retnorm.snapshot(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.wm_opt.load_state_dict(state["wm_opt"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.generator.set_state(state["generator"])
        self.updates = int(state["updates"])
        self._update_index.fill_(self.updates)
        self.agent.retnorm.restore(state["retnorm"])


def resolve_actor_grad(setting: str, discrete: bool) -> str:
    """``auto`` -> the paper's choice: REINFORCE for discrete actions, dynamics backpropagation for continuous."""
    if setting == "auto":
        return "reinforce" if discrete else "dynamics"
    if setting not in ACTOR_GRADS:
        raise ValueError(f"actor_grad {setting!r} must be auto, {' or '.join(ACTOR_GRADS)}")
    if setting == "dynamics" and discrete:
        raise ValueError("actor_grad: dynamics needs continuous actions; use reinforce (or auto) for discrete ones")
    return setting


def as_floats(metrics: Mapping[str, Tensor | float]) -> dict[str, float]:
    """All metric tensors to Python floats with a single device sync."""
    keys = list(metrics)
    values = [metrics[k] for k in keys]
    tensors = [v.detach().float().reshape(()) for v in values if isinstance(v, Tensor)]
    flat = iter(torch.stack(tensors).tolist()) if tensors else iter(())
    return {k: (next(flat) if isinstance(v, Tensor) else float(v)) for k, v in zip(keys, values, strict=True)}
