"""Hot-path probes for ``orch gate gpu``: device-to-host copies in one update, and replay storage stability; and a
probe of the captured update (``cuda_graph``) for the first GPU session.

Run as ``python -m trainers.dreamerv3.probes {host_transfers|replay_pointers|cuda_graph} [--device cuda]``; prints
one JSON object with ``passed`` and ``reason``. The gate runs the first two in a child process so orch never imports
Dreamer itself.

* ``host_transfers``: one deferred-check update (``Learner.train_step(batch, sync=False)``, the trainer's GPU hot
  path) together with the sampling of its batch from a replay held on the device (indices drawn there), profiled
  with ``torch.profiler`` (CPU + CUDA activities) after two warm-up updates. Counts ``Memcpy DtoH`` and ``Memcpy
  HtoD`` device events and the CPU ops that force syncs (``aten::_local_scalar_dense`` is
  ``.item()``/``bool()``/``.tolist()``). Passes when the counts are at most ``--max-dtoh`` and ``--max-htod``
  (default 0 each). On a CPU it runs the same update on the stand-in device (``trainers.dreamerv3.standin``),
  which counts every host-to-device copy, device-to-host copy and host read the update would make on a GPU.
* ``replay_pointers``: the replay's storage tensors keep their ``data_ptr()`` through filling past capacity
  (wrap-around) and sampling, and sampled batches live on the replay's device: no reallocation, no silent copy.
* ``cuda_graph``: the same updates on the same static batches, once as plain deferred-check updates and once
  through :class:`~trainers.dreamerv3.graphs.GraphedUpdate` (three eager warm-ups, a capture, replays). Passes when
  the update was captured on CUDA (replayed eagerly elsewhere), every replay stepped the optimisers, and the losses
  and weights of both agree within ``--tolerance`` (CUDA's atomic adds make them differ in the last bits; on a CPU
  they are equal).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

import numpy as np
import torch
from torch import Tensor

from trainers.dreamerv3.agent import ActionSpec, DreamerAgent
from trainers.dreamerv3.config import DreamerConfig
from trainers.dreamerv3.graphs import GraphedUpdate
from trainers.dreamerv3.learner import Learner
from trainers.dreamerv3.replay import SequenceReplay
from trainers.dreamerv3.staging import StaticBatches

__all__ = ["cuda_graph", "host_transfers", "replay_pointers"]

_OBS = {"observation": (8,)}
_SETTINGS: dict[str, Any] = {
    "mode": "full",
    "model_size": "XS",
    "model": {"deter": 128, "stoch": 16, "classes": 16, "units": 128, "layers": 1},
    "batch_size": 8,
    "batch_length": 16,
    "horizon": 5,
    "replay_capacity": 512,
    "num_envs": 2,
}
_SYNC_OPS = ("aten::_local_scalar_dense", "aten::item", "aten::is_nonzero", "cudaMemcpy", "cudaStreamSynchronize")


def _filled_replay(device: torch.device, capacity: int, num_envs: int, steps: int, action_n: int) -> SequenceReplay:
    replay = SequenceReplay(_OBS, action_n, capacity=capacity, num_envs=num_envs, device=device, seed=0)
    rng = np.random.default_rng(0)
    for t in range(steps):
        obs = {k: rng.standard_normal((num_envs, *s)).astype(np.float32) for k, s in _OBS.items()}
        action = np.eye(action_n, dtype=np.float32)[rng.integers(0, action_n, num_envs)]
        replay.add(obs, action, rng.standard_normal(num_envs), np.full(num_envs, t % 50 == 0), np.zeros(num_envs, bool))
    return replay


def host_transfers(device_name: str, max_dtoh: int = 0, max_htod: int = 0) -> dict[str, Any]:
    """Profile one update on a batch sampled from a replay on the device; see the module docstring."""
    if torch.device(device_name).type == "cpu":
        return _host_transfers_standin(max_dtoh, max_htod)
    from torch.profiler import ProfilerActivity, profile

    device = torch.device(device_name)
    learner, replay, cfg = _learner_and_replay(device)
    for _ in range(2):
        learner.train_step(replay.sample(cfg.batch_size, cfg.batch_length, device), sync=False)
    torch.cuda.synchronize(device)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        learner.train_step(replay.sample(cfg.batch_size, cfg.batch_length, device), sync=False)
        torch.cuda.synchronize(device)
    learner.raise_pending()
    events = prof.events()
    dtoh = [e for e in events if "Memcpy DtoH" in e.name or "memcpy_dtoh" in e.name.lower()]
    htod = [e for e in events if "Memcpy HtoD" in e.name or "memcpy_htod" in e.name.lower()]
    sync_ops = dict(Counter(e.name for e in events if e.name in _SYNC_OPS))
    passed = len(dtoh) <= max_dtoh and len(htod) <= max_htod
    reason = (
        f"{len(dtoh)} device-to-host and {len(htod)} host-to-device copies in one update incl. sampling "
        f"(allowed {max_dtoh} and {max_htod})"
    )
    return {
        "passed": passed,
        "device": torch.cuda.get_device_name(device),
        "dtoh_copies": len(dtoh),
        "htod_copies": len(htod),
        "sync_ops": sync_ops,
        "max_dtoh": max_dtoh,
        "max_htod": max_htod,
        "reason": reason + (f"; caused by {sync_ops}" if sync_ops else ""),
    }


def _learner_and_replay(device: torch.device) -> tuple[Learner, SequenceReplay, DreamerConfig]:
    cfg = DreamerConfig.from_settings({**_SETTINGS, "device": str(device)})
    spec = ActionSpec(discrete=True, n=3)
    agent = DreamerAgent(_OBS, spec, cfg.model).to(device)
    learner = Learner(agent, cfg, device=device, seed=0)
    replay = _filled_replay(device, cfg.replay_capacity, cfg.num_envs, 200, spec.n)
    return learner, replay, cfg


def _host_transfers_standin(max_dtoh: int, max_htod: int) -> dict[str, Any]:
    """The CPU form: the same update on the stand-in device (``trainers.dreamerv3.standin``), which counts every
    host-to-device and device-to-host copy and every host read a GPU would make."""
    from trainers.dreamerv3.standin import STANDIN, standin_device

    with standin_device() as count:
        learner, replay, cfg = _learner_and_replay(STANDIN)
        for _ in range(2):
            learner.train_step(replay.sample(cfg.batch_size, cfg.batch_length, STANDIN), sync=False)
        count.reset()
        learner.train_step(replay.sample(cfg.batch_size, cfg.batch_length, STANDIN), sync=False)
        found = (count.device_to_host + count.host_reads, count.host_to_device, dict(count.ops))
        learner.raise_pending()
    dtoh, htod, ops = found
    return {
        "passed": dtoh <= max_dtoh and htod <= max_htod,
        "device": "cpu (stand-in device)",
        "dtoh_copies": dtoh,
        "htod_copies": htod,
        "host_reads": dtoh,
        "sync_ops": ops,
        "max_dtoh": max_dtoh,
        "max_htod": max_htod,
        "reason": f"stand-in device: {dtoh} device-to-host copies or reads and {htod} host-to-device copies in one "
        f"update incl. sampling (allowed {max_dtoh} and {max_htod})" + (f"; made by {ops}" if ops else ""),
    }


def cuda_graph(device_name: str, updates: int = 8, tolerance: float = 1e-3) -> dict[str, Any]:
    """Plain deferred-check updates against captured ones on the same batches; see the module docstring."""
    device = torch.device(device_name)
    runs = [_run_updates(device, updates, graphed=g) for g in (False, True)]
    (plain_losses, plain_weights, _, _), (losses, weights, steps, captured) = runs
    expected = "CudaGraphCapture" if device.type == "cuda" else "EagerReplay"
    loss_gap = float((losses - plain_losses).abs().max() / plain_losses.abs().max().clamp(min=1e-12))
    weight_gap = max(float((a - b).abs().max()) for a, b in zip(weights, plain_weights, strict=True))
    problems = []
    if captured != expected:
        problems.append(f"update ran as {captured}, expected {expected}")
    if steps != [updates] * 3:
        problems.append(f"optimiser steps {steps}, expected {updates} each")
    if not (loss_gap <= tolerance and weight_gap <= tolerance):
        problems.append(f"relative loss gap {loss_gap:.2e}, weight gap {weight_gap:.2e} > {tolerance}")
    return {
        "passed": not problems,
        "device": str(device),
        "captured_as": captured,
        "updates": updates,
        "optimiser_steps": steps,
        "relative_loss_gap": loss_gap,
        "max_weight_gap": weight_gap,
        "losses": [round(float(v), 5) for v in losses],
        "reason": "; ".join(problems) or f"{updates} captured updates match plain ones (tolerance {tolerance})",
    }


def _run_updates(device: torch.device, updates: int, *, graphed: bool) -> tuple[Tensor, list[Tensor], list[int], str]:
    """(world-model loss per update, weights after, optimiser step counts, how the update ran) on a fresh learner."""
    torch.manual_seed(0)
    learner, replay, cfg = _learner_and_replay(device)
    static = StaticBatches(replay, cfg.batch_size, cfg.batch_length, device)
    graph = GraphedUpdate(learner, static.tensors) if graphed else None
    losses = []
    for _ in range(updates):
        batch = static.sample()
        metrics = graph(batch) if graph is not None else learner.train_step(batch, sync=False)
        losses.append(metrics["loss_model"].detach().clone())  # a replay overwrites its outputs
    learner.raise_pending()
    opts = (learner.wm_opt, learner.actor_opt, learner.critic_opt)
    steps = [int(next(iter(o.state.values()))["step"]) for o in opts]
    how = "plain" if graph is None else type(graph.captured).__name__
    weights = [p.detach().float().cpu().clone() for p in learner.agent.parameters()]
    return torch.stack(losses).float().cpu(), weights, steps, how


def _inside(event: Any, name: str) -> bool:
    """Whether a profiler event runs inside an op called ``name``."""
    parent = event.cpu_parent
    while parent is not None:
        if parent.name == name:
            return True
        parent = parent.cpu_parent
    return False


def replay_pointers(device_name: str) -> dict[str, Any]:
    """Fill a replay past its capacity and sample from it; its storage must not move."""
    device = torch.device(device_name)
    capacity, num_envs, action_n = 256, 2, 3
    replay = SequenceReplay(_OBS, action_n, capacity=capacity, num_envs=num_envs, device=device, seed=0)

    def pointers() -> dict[str, int]:
        ptrs = {f"obs.{k}": v.data_ptr() for k, v in replay.obs.items()}
        for name in ("action", "reward", "is_first", "is_terminal"):
            ptrs[name] = getattr(replay, name).data_ptr()
        return ptrs

    before = pointers()
    rng = np.random.default_rng(0)
    for t in range(3 * capacity // num_envs):  # three wrap-arounds
        obs = {k: rng.standard_normal((num_envs, *s)).astype(np.float32) for k, s in _OBS.items()}
        action = np.eye(action_n, dtype=np.float32)[rng.integers(0, action_n, num_envs)]
        replay.add(obs, action, rng.standard_normal(num_envs), np.full(num_envs, t == 0), np.zeros(num_envs, bool))
    off_device = []
    for _ in range(10):
        batch = replay.sample(8, 16)
        off_device += [k for k, v in batch["obs"].items() if v.device.type != device.type]
        off_device += [k for k in ("action", "reward") if batch[k].device.type != device.type]
    after = pointers()
    moved = sorted(k for k in before if before[k] != after[k])
    passed = not moved and not off_device
    reason = "storage stable through 3 wrap-arounds and 10 samples" if passed else f"moved {moved}, off {off_device}"
    return {
        "passed": passed,
        "device": str(device),
        "moved": moved,
        "off_device": sorted(set(off_device)),
        "reason": reason,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainers.dreamerv3.probes", description=__doc__.split("\n")[0])
    parser.add_argument("probe", choices=("host_transfers", "replay_pointers", "cuda_graph"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--max-dtoh", type=int, default=0)
    parser.add_argument("--max-htod", type=int, default=0)
    parser.add_argument("--tolerance", type=float, default=1e-3, help="cuda_graph: largest gap to plain updates")
    args = parser.parse_args(argv)
    try:
        if args.probe == "host_transfers":
            result = host_transfers(args.device, args.max_dtoh, args.max_htod)
        elif args.probe == "cuda_graph":
            result = cuda_graph(args.device, tolerance=args.tolerance)
        else:
            result = replay_pointers(args.device)
    except Exception as exc:  # report, do not crash: the gate reads this line
        result = {"passed": False, "reason": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result, default=str))
    return 0 if result.get("passed") else 1


if __name__ == "__main__":
    sys.exit(main())
