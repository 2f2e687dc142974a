"""DreamerV3 host-memory benchmark: resident memory during training at reference config R; prints ONE JSON object.

    python bench/dreamer_memory.py                  # 20 minutes at R, replay of 512 steps
    python bench/dreamer_memory.py --minutes 2 --replay-capacity 2048

The replay is filled by the random prefill before the first update (prefill > capacity), so every later step evicts
one: whatever the process still grows by after that is a leak, not data. The trainer first runs the updates the
train ratio owes for the prefill (capacity / 2 of them at R), then alternates; a small capacity keeps that burst
short so the window also covers collection and eviction (``steps_evicted``). RSS is sampled from /proc/self/status every
``--every`` seconds by a background thread. Reports RSS when training starts, at the end, its peak (VmHWM), and the
least-squares slope over the training window in MB per minute.
"""

from __future__ import annotations

import os

# Sleep, not spin, while waiting for the other OpenMP thread (see bench/dreamer_cartpole.py). Before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch

from trainers.common.job import TrainJob
from trainers.dreamerv3.bench import REFERENCE_R
from trainers.dreamerv3.train import DreamerTrainer


def rss_mb() -> tuple[float, float]:
    """(current resident set, peak resident set) of this process in MB, from /proc/self/status."""
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, kb, _ = line.split()
                values[key] = int(kb) / 1024
    return values["VmRSS:"], values["VmHWM:"]


class TimedTrainer(DreamerTrainer):
    """Trains until ``seconds`` have passed since the first update; records when training started.

    Once the time is up, the updates still due by the train ratio are counted but not run, so the run ends at once
    (the real number of updates is ``learner.updates``)."""

    def __init__(self, job: TrainJob, seconds: float):
        super().__init__(job)
        self.seconds = seconds
        self.first_update_at: float | None = None

    def _update(self) -> None:
        if self.first_update_at is None:
            self.first_update_at = time.perf_counter()
        if self._timed_out():
            self.progress.opt_steps += 1
            return
        super()._update()

    def _timed_out(self) -> bool:
        return self.first_update_at is not None and time.perf_counter() - self.first_update_at >= self.seconds

    def done(self) -> bool:
        return self._timed_out() or super().done()


def slope_mb_per_min(samples: list[dict[str, float]]) -> float | None:
    """Least-squares slope of RSS against time."""
    if len(samples) < 3:
        return None
    ts = [s["t_s"] / 60 for s in samples]
    ys = [s["rss_mb"] for s in samples]
    mt, my = sum(ts) / len(ts), sum(ys) / len(ys)
    var = sum((t - mt) ** 2 for t in ts)
    return sum((t - mt) * (y - my) for t, y in zip(ts, ys, strict=True)) / var if var else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--replay-capacity", type=int, default=512)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between RSS samples")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--run-dir", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings: dict[str, Any] = {
        **REFERENCE_R,
        "model": dict(REFERENCE_R["model"]),
        "replay_capacity": args.replay_capacity,
        "prefill": args.replay_capacity + 64,
        "total_env_steps": 10**9,
        "log_every": 200,
        "checkpoint_every": 10**9,
        "eval_every": 10**9,
        "eval_episodes": 0,
        "tracking": {"tensorboard": False, "wandb": {"enabled": False}},
    }
    run_dir = Path(args.run_dir or tempfile.mkdtemp(prefix="dreamer-memory-")) / "runs" / "memory"
    resolved = {"trainer": "dreamerv3", "name": "memory-bench", "seed": 0, "settings": settings, "config_hash": "bench"}
    trainer = TimedTrainer(TrainJob(resolved=resolved, run_dir=run_dir), args.minutes * 60)

    samples: list[dict[str, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(args.every):
            if trainer.first_update_at is not None:
                rss, peak = rss_mb()
                t = time.perf_counter() - trainer.first_update_at
                samples.append({"t_s": round(t, 1), "rss_mb": round(rss, 1), "peak_mb": round(peak, 1)})

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    trainer.run()
    stop.set()
    sampler.join()
    rss_end, peak_end = rss_mb()
    first = samples[0] if samples else {"rss_mb": None}
    # Slope over the second half too: allocator warm-up (caches, the first checkpointless minutes) sits in the first.
    half = [s for s in samples if s["t_s"] >= (samples[-1]["t_s"] / 2 if samples else 0)]
    print(
        json.dumps(
            {
                "minutes": args.minutes,
                "updates": trainer.parts.learner.updates,
                "env_steps": trainer.progress.env_steps,
                "replay_capacity": args.replay_capacity,
                "replay_full_before_training": True,
                "steps_evicted": max(0, trainer.progress.env_steps - args.replay_capacity),
                "rss_first_sample_mb": first["rss_mb"],
                "rss_end_mb": round(rss_end, 1),
                "peak_rss_mb": round(peak_end, 1),
                "rss_min_mb": min((s["rss_mb"] for s in samples), default=None),
                "rss_max_mb": max((s["rss_mb"] for s in samples), default=None),
                "slope_mb_per_min": slope_mb_per_min(samples),
                "slope_second_half_mb_per_min": slope_mb_per_min(half),
                "threads": torch.get_num_threads(),
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "samples": samples,
            }
        )
    )


if __name__ == "__main__":
    main()
