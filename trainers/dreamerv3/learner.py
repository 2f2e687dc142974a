"""One DreamerV3 update: world-model step, then actor and critic steps, with fail-fast checks.

The learner owns the optimisers (Adam with the paper's learning rates, epsilons and global-norm clipping), the slow
critic EMA and the sampling generator, and checks every loss, gradient norm and parameter for non-finite values
before and after each optimiser step. A non-finite value raises :class:`NonFiniteError` before any parameter moves.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from trainers.dreamerv3.agent import DreamerAgent, behaviour_loss, world_model_loss
from trainers.dreamerv3.config import DreamerConfig

__all__ = ["Learner", "NonFiniteError"]


class NonFiniteError(RuntimeError):
    """A loss, gradient or parameter became NaN or infinite. ``what`` names it; ``metrics`` are the last values."""

    def __init__(self, what: str, metrics: Mapping[str, float]):
        super().__init__(f"non-finite {what}")
        self.what = what
        self.metrics = dict(metrics)


def _adam(params: list[nn.Parameter], lr: float, eps: float) -> torch.optim.Optimizer:
    try:
        return torch.optim.Adam(params, lr=lr, eps=eps, fused=True)
    except (RuntimeError, TypeError):  # fused Adam unavailable on this device/build
        return torch.optim.Adam(params, lr=lr, eps=eps, foreach=True)


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
        self.timings: dict[str, float] = {"world_model": 0.0, "actor_critic": 0.0}  # seconds, summed over updates

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.cfg.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def _clip(self, params: list[nn.Parameter], max_norm: float) -> Tensor:
        return torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True)

    @staticmethod
    def _check(values: Mapping[str, Tensor], metrics: Mapping[str, Tensor]) -> None:
        stacked = torch.stack([v.detach().float().reshape(()) for v in values.values()])
        if not bool(torch.isfinite(stacked).all()):
            bad = [k for k, v in zip(values, stacked.tolist(), strict=True) if not torch.isfinite(torch.tensor(v))]
            raise NonFiniteError(", ".join(bad), _floats(metrics))

    def check_parameters(self) -> None:
        """Raise when any parameter is non-finite (one fused norm per tensor list)."""
        norms = torch.stack(torch._foreach_norm([p.detach() for p in self.agent.parameters()]))
        if not bool(torch.isfinite(norms).all()):
            names = [n for n, p in self.agent.named_parameters() if not bool(torch.isfinite(p).all())]
            raise NonFiniteError(f"parameter {', '.join(names[:5])}", {})

    def train_step(self, batch: Mapping[str, Any]) -> dict[str, float]:
        """One update on a (B, T) batch; returns the metrics as floats."""
        agent = self.agent
        t0 = self._now()
        with self._autocast():
            wm_loss, metrics, starts = world_model_loss(agent, batch, self.generator)
        self.wm_opt.zero_grad(set_to_none=True)
        wm_loss.backward()
        gn_wm = self._clip(self.wm_params, self.cfg.model.wm_clip)
        metrics["grad_norm_model"] = gn_wm
        self._check({"loss_model": wm_loss, "grad of world model": gn_wm}, metrics)
        self.wm_opt.step()
        t1 = self._now()
        self.timings["world_model"] += t1 - t0
        if self.train_behaviour:
            with self._autocast():
                actor_loss, critic_loss, bmetrics = behaviour_loss(agent, starts, self.cfg.horizon, self.generator)
            metrics.update(bmetrics)
            self.actor_opt.zero_grad(set_to_none=True)
            self.critic_opt.zero_grad(set_to_none=True)
            (actor_loss + critic_loss).backward()  # disjoint parameters: one backward pass serves both
            gn_a = self._clip(self.actor_params, self.cfg.model.ac_clip)
            gn_c = self._clip(self.critic_params, self.cfg.model.ac_clip)
            metrics["grad_norm_actor"], metrics["grad_norm_critic"] = gn_a, gn_c
            checks = {
                "loss_actor": actor_loss,
                "loss_critic": critic_loss,
                "grad of actor": gn_a,
                "grad of critic": gn_c,
            }
            self._check(checks, metrics)
            self.actor_opt.step()
            self.critic_opt.step()
            with torch.no_grad():
                slow: list[Tensor] = list(agent.slow_critic.parameters())
                torch._foreach_lerp_(
                    slow, [p.detach() for p in self.critic_params], 1.0 - self.cfg.model.slow_critic_decay
                )
        self.check_parameters()
        self.timings["actor_critic"] += self._now() - t1
        self.updates += 1
        return _floats(metrics)

    def state_dict(self) -> dict[str, Any]:
        return {
            "wm_opt": self.wm_opt.state_dict(),
            "actor_opt": self.actor_opt.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "generator": self.generator.get_state(),
            "updates": self.updates,
            "retnorm": self.agent.retnorm.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.wm_opt.load_state_dict(state["wm_opt"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.generator.set_state(state["generator"])
        self.updates = int(state["updates"])
        self.agent.retnorm.load_state_dict(state["retnorm"])


def _floats(metrics: Mapping[str, Tensor | float]) -> dict[str, float]:
    """All metric tensors to Python floats with a single device sync."""
    keys = list(metrics)
    values = [metrics[k] for k in keys]
    tensors = [v.detach().float().reshape(()) for v in values if isinstance(v, Tensor)]
    flat = iter(torch.stack(tensors).tolist()) if tensors else iter(())
    return {k: (next(flat) if isinstance(v, Tensor) else float(v)) for k, v in zip(keys, values, strict=True)}
