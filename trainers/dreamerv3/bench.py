"""Speed benchmark of the DreamerV3 learner (``orch bench dreamerv3`` and ``bench/dreamer_speed.py``).

The reference config R of issue 5: CartPole-v1 state, LayerNorm GRU 512, 32 x 32 latents, 256-unit hidden layers,
MLPs 2 x 256, batch 16 x 64, horizon 15, train ratio 512, fp32, 2 threads. ``size`` picks a paper size instead.
Reports env steps/s, replay sampling ms, world-model and actor-critic ms, ms per update, updates/s, FLOPs per update
(``torch.utils.flop_counter.FlopCounterMode``) and the fraction of a measured matmul peak (of the precision run:
bf16 autocast is measured against a bf16 matmul, which CPUs with avx512_bf16 or AMX run about twice as fast).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from trainers.dreamerv3.config import DreamerConfig
from trainers.dreamerv3.graphs import GraphedUpdate
from trainers.dreamerv3.learner import Learner
from trainers.dreamerv3.parts import RunParts, build_parts, pick_device
from trainers.dreamerv3.replay import SequenceReplay
from trainers.dreamerv3.staging import StaticBatches

__all__ = ["REFERENCE_R", "bench_settings", "benchmark", "fp32_and_bf16", "matmul_peak_gflops"]

REFERENCE_R: dict[str, Any] = {
    "env": {"id": "CartPole-v1"},
    "model_size": "S",
    "model": {"deter": 512, "stoch": 32, "classes": 32, "units": 256, "layers": 2, "hidden": 256},
    "batch_size": 16,
    "batch_length": 64,
    "horizon": 15,
    "train_ratio": 512,
    "precision": "fp32",
    "num_envs": 1,
    "device": "cpu",
}


def bench_settings(size: str | None = None) -> dict[str, Any]:
    """R by default; with ``size`` the paper's widths of that size, everything else as R."""
    settings = {**REFERENCE_R, "model": dict(REFERENCE_R["model"])}
    if size:
        settings["model_size"] = size.upper()
        settings["model"] = {}
    return settings


def matmul_peak_gflops(
    n: int = 1024, reps: int = 10, clock: Any = time.perf_counter, dtype: torch.dtype = torch.float32
) -> float:
    """Measured matmul throughput at the current thread count (best of ``reps``; ``clock`` may be CPU time)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t = clock()
        a @ b
        best = min(best, max(clock() - t, 1e-9))
    return 2 * n**3 / best / 1e9


def _count_flops(learner: Learner, batch: dict[str, Any]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        learner.train_step(batch)
    return int(counter.get_total_flops())


def benchmark(
    settings: dict[str, Any] | None = None,
    *,
    updates: int = 5,
    warmup: int = 1,
    threads: int | None = 2,
    env_steps: int = 2000,
    flops: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Time ``updates`` learner updates after ``warmup`` ones; returns a JSON-able dict."""
    if threads:
        torch.set_num_threads(threads)
    settings = settings or bench_settings()
    cfg = DreamerConfig.from_settings(
        {**settings, "replay_capacity": max(env_steps, 4 * settings.get("batch_length", 64))}
    )
    device = pick_device(cfg.device)
    torch.manual_seed(seed)
    parts = build_parts(cfg, seed, device)
    try:
        result: dict[str, Any] = {"config": {**settings, "model_resolved": dict(vars(cfg.model))}}
        result["precision"] = cfg.precision
        result.update(_time_collection(parts, cfg, device, env_steps))
        result.update(_time_updates(parts.learner, parts.replay, cfg, device, updates, warmup))
    finally:
        parts.close()
    result["parameters"] = sum(p.numel() for n, p in parts.agent.named_parameters() if not n.startswith("slow_critic"))
    if flops and device.type == "cpu":
        total = _count_flops(parts.learner, parts.replay.sample(cfg.batch_size, cfg.batch_length, device))
        peak = matmul_peak_gflops(dtype=torch.bfloat16 if cfg.precision == "bf16" else torch.float32)
        per_update = result["ms_per_update"] / 1000
        result["gflop_per_update"] = total / 1e9
        result["achieved_gflops"] = total / 1e9 / per_update
        result["matmul_peak_gflops_measured"] = peak
        result["fraction_of_measured_peak"] = total / 1e9 / per_update / peak
    result["load_average"] = list(np.round(_loadavg(), 2))
    return result


def _time_collection(parts: RunParts, cfg: DreamerConfig, device: torch.device, env_steps: int) -> dict[str, Any]:
    """Fill the replay with random-action steps (timed), then time batch sampling and one policy step."""
    collector, replay = parts.collector, parts.replay
    collector.reset(replay)
    t = time.perf_counter()
    for _ in range(env_steps // cfg.num_envs):
        collector.step(collector.choose(None), replay)
    env_sps = env_steps / (time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(20):
        replay.sample(cfg.batch_size, cfg.batch_length, device)
    sample_ms = (time.perf_counter() - t) / 20 * 1000
    obs = {k: torch.as_tensor(v, device=device) for k, v in collector.obs.items()}
    first = torch.ones(cfg.num_envs, dtype=torch.bool, device=device)
    t = time.perf_counter()
    for _ in range(20):
        parts.agent.act(obs, None, first)
    act_ms = (time.perf_counter() - t) / 20 * 1000
    return {"replay_sample_ms": sample_ms, "policy_step_ms": act_ms, "env_steps_per_s": env_sps}


def _update_once(
    learner: Learner, replay: SequenceReplay, cfg: DreamerConfig, device: torch.device
) -> Callable[[], Any]:
    """One update as the trainer runs it: checks read in every update on CPU (the learner then times its world-model
    and actor-critic parts), deferred on CUDA, captured in a CUDA graph on static batches with ``cuda_graph``."""
    if cfg.cuda_graph:
        static = StaticBatches(replay, cfg.batch_size, cfg.batch_length, device)
        graphed = GraphedUpdate(learner, static.tensors)
        return lambda: graphed(static.sample())
    sync = device.type != "cuda"
    return lambda: learner.train_step(replay.sample(cfg.batch_size, cfg.batch_length, device), sync=sync)


def _finish_updates(learner: Learner, device: torch.device) -> None:
    """Wait for queued updates (CUDA) and read deferred checks: the timed updates must really have run."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    learner.raise_pending()


def _time_updates(
    learner: Learner, replay: SequenceReplay, cfg: DreamerConfig, device: torch.device, updates: int, warmup: int
) -> dict[str, Any]:
    """Wall and CPU time of ``updates`` updates after ``warmup`` untimed ones, with the learner's own split."""
    update = _update_once(learner, replay, cfg, device)
    for _ in range(max(warmup, 4) if cfg.cuda_graph else warmup):  # a captured update: 3 eager ones, then replays
        update()
    _finish_updates(learner, device)
    learner.timings = {k: 0.0 for k in learner.timings}
    t, c = time.perf_counter(), time.process_time()
    for _ in range(updates):
        update()
    _finish_updates(learner, device)
    per_update = (time.perf_counter() - t) / updates
    cpu_per_update = (time.process_time() - c) / updates  # CPU seconds of this process: robust to a shared machine
    return {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "updates_timed": updates,
        "updates_per_s": 1.0 / per_update,
        "ms_per_update": per_update * 1000,
        "cpu_ms_per_update": cpu_per_update * 1000,
        "updates_per_s_from_cpu_time": torch.get_num_threads() / cpu_per_update,
        "world_model_ms": learner.timings["world_model"] / updates * 1000,
        "actor_critic_ms": learner.timings["actor_critic"] / updates * 1000,
        "train_ratio": cfg.train_ratio,
        "env_steps_per_s_at_train_ratio": 1.0 / (per_update * cfg.replayed_per_update / cfg.train_ratio),
    }


def _loadavg() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def cli_benchmark(*, size: str | None = None, updates: int = 3, threads: int = 2) -> dict[str, Any]:
    """``orch bench dreamerv3 [--size S]``: R (or a paper size) timed over ``updates`` updates."""
    return benchmark(bench_settings(size), updates=updates, threads=threads)


def fp32_and_bf16(settings: dict[str, Any], *, rounds: int = 1, **kwargs: Any) -> dict[str, Any]:
    """The same benchmark in fp32 and with bf16 autocast, alternating for ``rounds`` rounds (a shared machine's load
    then falls on both alike); the best round of each. Top-level figures are fp32's, as R defines."""
    runs: dict[str, list[dict[str, Any]]] = {"fp32": [], "bf16": []}
    for _ in range(rounds):
        for precision in runs:
            runs[precision].append(benchmark({**settings, "precision": precision}, **kwargs))
    best = {p: max(rs, key=lambda r: r["updates_per_s"]) for p, rs in runs.items()}
    out = dict(best["fp32"])
    out["fp32"] = {k: best["fp32"].get(k) for k in _PRECISION_KEYS}
    out["bf16"] = {k: best["bf16"].get(k) for k in _PRECISION_KEYS}
    out["bf16_updates_per_s"] = best["bf16"]["updates_per_s"]
    out["bf16_speedup"] = best["bf16"]["updates_per_s"] / best["fp32"]["updates_per_s"]
    out["rounds"] = {p: [round(r["updates_per_s"], 4) for r in rs] for p, rs in runs.items()}
    return out


_PRECISION_KEYS = (
    "updates_per_s",
    "ms_per_update",
    "cpu_ms_per_update",
    "world_model_ms",
    "actor_critic_ms",
    "gflop_per_update",
    "achieved_gflops",
    "matmul_peak_gflops_measured",
    "fraction_of_measured_peak",
    "load_average",
)
