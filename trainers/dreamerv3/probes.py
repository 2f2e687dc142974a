"""Hot-path probes for ``orch gate gpu``: device-to-host copies in one update, and replay storage stability.

Run as ``python -m trainers.dreamerv3.probes {host_transfers|replay_pointers} [--device cuda]``; prints one JSON
object with ``passed`` and ``reason``. The gate runs them in a child process so orch never imports Dreamer itself.

* ``host_transfers``: one deferred-check update (``Learner.train_step(batch, sync=False)``, the trainer's GPU hot
  path) on a batch sampled from a replay held on the device, profiled with ``torch.profiler`` (CPU + CUDA
  activities) after two warm-up updates. Counts ``Memcpy DtoH`` device events and the CPU ops that force them
  (``aten::_local_scalar_dense`` is ``.item()``/``bool()``/``.tolist()``). Passes when the count is at most
  ``--max-dtoh`` (default 0). On a CPU there is nothing to copy, so it counts the host reads instead, leaving out
  the fused Adam kernel's read of ``found_inf`` (a host read only in the CPU kernel; the CUDA kernel reads it on the
  device): any other one would be a device-to-host copy on CUDA.
* ``replay_pointers``: the replay's storage tensors keep their ``data_ptr()`` through filling past capacity
  (wrap-around) and sampling, and sampled batches live on the replay's device: no reallocation, no silent copy.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

import numpy as np
import torch

from trainers.dreamerv3.agent import ActionSpec, DreamerAgent
from trainers.dreamerv3.config import DreamerConfig
from trainers.dreamerv3.learner import Learner
from trainers.dreamerv3.replay import SequenceReplay

__all__ = ["host_transfers", "replay_pointers"]

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


def host_transfers(device_name: str, max_dtoh: int = 0) -> dict[str, Any]:
    """Profile one update; see the module docstring. On a CPU the update still runs and its host syncs are
    counted (each would be a device-to-host copy on CUDA), but nothing can fail."""
    from torch.profiler import ProfilerActivity, profile

    device = torch.device(device_name)
    cuda = device.type == "cuda"
    cfg = DreamerConfig.from_settings({**_SETTINGS, "device": device_name})
    spec = ActionSpec(discrete=True, n=3)
    agent = DreamerAgent(_OBS, spec, cfg.model).to(device)
    learner = Learner(agent, cfg, device=device, seed=0)
    replay = _filled_replay(device, cfg.replay_capacity, cfg.num_envs, 200, spec.n)
    batches = [replay.sample(cfg.batch_size, cfg.batch_length, device) for _ in range(3)]
    for batch in batches[:2]:
        learner.train_step(batch, sync=False)
    if cuda:
        torch.cuda.synchronize(device)
    activities = [ProfilerActivity.CPU, ProfilerActivity.CUDA] if cuda else [ProfilerActivity.CPU]
    with profile(activities=activities) as prof:
        learner.train_step(batches[2], sync=False)
        if cuda:
            torch.cuda.synchronize(device)
    learner.raise_pending()
    events = prof.events()
    dtoh = [e for e in events if "Memcpy DtoH" in e.name or "memcpy_dtoh" in e.name.lower()]
    syncs = [e for e in events if e.name in _SYNC_OPS and not (not cuda and _inside(e, "aten::_fused_adam_"))]
    sync_ops = dict(Counter(e.name for e in syncs))
    if not cuda:
        reads = sum(n for name, n in sync_ops.items() if name == "aten::_local_scalar_dense")
        return {
            "passed": reads <= max_dtoh,
            "device": str(device),
            "dtoh_copies": 0,
            "host_reads": reads,
            "sync_ops": sync_ops,
            "max_dtoh": max_dtoh,
            "reason": f"cpu: {reads} host read(s) in one update that would be device-to-host copies on CUDA "
            f"(allowed {max_dtoh})",
        }
    reason = f"{len(dtoh)} device-to-host copies in one update (allowed {max_dtoh})"
    return {
        "passed": len(dtoh) <= max_dtoh,
        "device": torch.cuda.get_device_name(device),
        "dtoh_copies": len(dtoh),
        "sync_ops": sync_ops,
        "max_dtoh": max_dtoh,
        "reason": reason + (f"; caused by {sync_ops}" if sync_ops else ""),
    }


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
    parser.add_argument("probe", choices=("host_transfers", "replay_pointers"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--max-dtoh", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        if args.probe == "host_transfers":
            result = host_transfers(args.device, args.max_dtoh)
        else:
            result = replay_pointers(args.device)
    except Exception as exc:  # report, do not crash: the gate reads this line
        result = {"passed": False, "reason": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result, default=str))
    return 0 if result.get("passed") else 1


if __name__ == "__main__":
    sys.exit(main())
