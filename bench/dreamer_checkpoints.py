"""Checkpoint bytes of a DreamerV3 run at the auxme config's shapes, this layout against the earlier one; prints ONE
JSON object.

    python bench/dreamer_checkpoints.py                       # configs/dreamerv3/drive_state_rays_auxme_a30.yaml
    python bench/dreamer_checkpoints.py --replay-scale 0.002  # the replay held here: 0.2% of the configured capacity

Builds the trainer of the config (crowdnav drive_state + rays, 831 floats, model S, 16 envs) on the CPU with its
replay scaled down (a full 5M-step replay of 831 floats is ~16 GB), fills that replay, makes one update so the
optimisers hold their state, and writes real checkpoints of each kind. Bytes of the replay are measured per stored
step and scaled to the configured capacity, then a whole run (``total_env_steps``, ``checkpoint_every``,
``eval_every``) is added up:

* ``earlier``: every step checkpoint and every new best held weights, optimisers and the whole replay, and none was
  deleted (``best_cases``: one best, and a new best at every evaluation).
* ``single_file`` (issue 15's first layout): step checkpoints without the replay, ``keep_last`` of them kept; the
  whole replay in one file written with every resume checkpoint, kept only with the newest; weights-only policy
  checkpoints at every evaluation and for the best.
* ``now``: as ``single_file``, but the replay in ranges (``trainers/dreamerv3/replay_files.py``): a checkpoint writes
  the ranges changed since the previous one. Measured, not modelled: the scaled replay is filled step by step over
  the scaled run (``total_env_steps`` and ``checkpoint_every`` times ``--replay-scale``) through the real range
  writer, files no checkpoint names are deleted as the trainer does, and the bytes are scaled back up.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from trainers.common.checkpoints import save_checkpoint
from trainers.common.job import TrainJob
from trainers.dreamerv3 import spec
from trainers.dreamerv3.checkpoints import policy_payload
from trainers.dreamerv3.replay import SequenceReplay
from trainers.dreamerv3.replay_files import write_replay_chunks
from trainers.dreamerv3.train import DreamerTrainer

ROOT = Path(__file__).resolve().parents[1]
AUXME = ROOT / "configs" / "dreamerv3" / "drive_state_rays_auxme_a30.yaml"


def _size(payload: Any, folder: Path, name: str) -> int:
    path = folder / f"{name}.pt"
    torch.save(payload, path)
    return path.stat().st_size


def measure(config: Path, replay_scale: float) -> dict[str, Any]:
    """Bytes of one resume checkpoint, of the replay per stored step and of one policy checkpoint, measured on the
    config's model with its replay filled at ``replay_scale`` of the capacity; plus the run's shape."""
    raw = yaml.safe_load(config.read_text())
    env = dict(raw["env"])
    env["scenario_config"] = str((config.parent / env["scenario_config"]).resolve())
    settings = spec.resolve({k: v for k, v in raw.items() if k in spec.DEFAULTS and k != "env"}, cpus=24, mem_gb=None)
    settings["env"] = {**spec.DEFAULTS["env"], **env}
    capacity = int(settings["replay_capacity"])
    held = max(int(capacity * replay_scale), settings["num_envs"] * settings["batch_length"] * 2)
    settings.update(
        device="cpu", precision="fp32", compile=False, replay_capacity=held, tracking={"tensorboard": False}
    )
    work = Path(tempfile.mkdtemp(prefix="dreamer-ckpt-bench-"))
    trainer = DreamerTrainer(TrainJob(resolved={"trainer": "dreamerv3", "seed": 0, "settings": settings}, run_dir=work))
    parts, cfg = trainer.parts, trainer.cfg
    rng = np.random.default_rng(0)
    n = cfg.num_envs
    while len(parts.replay) < parts.replay.capacity:
        obs = {k: rng.standard_normal((n, *s)).astype(np.float32) for k, s in parts.shapes.items()}
        action = rng.uniform(-1, 1, (n, parts.spec.n)).astype(np.float32)
        parts.replay.add(obs, action, rng.standard_normal(n), np.zeros(n, bool), np.zeros(n, bool))
    parts.learner.train_step(parts.replay.sample(cfg.batch_size, cfg.batch_length))
    folder = work / "sizes"
    folder.mkdir()
    sizes = {
        "resume": _size(trainer._state(), folder, "resume"),
        "replay_per_step": _size({"replay": parts.replay.state_dict()}, folder, "replay") / len(parts.replay),
        "policy": _size(policy_payload(parts.agent, 0), folder, "policy"),
        "obs_floats": sum(int(np.prod(s)) for s in parts.shapes.values()),
        "parameters": sum(p.numel() for p in parts.agent.parameters()),
        "replay_steps_held_here": len(parts.replay),
        "capacity": capacity,
    }
    writes = range_writes(parts.shapes, parts.spec.n, cfg, held, replay_scale, work / "ranges")
    trainer.close()
    return {**sizes, "range_writes": writes, "cfg": cfg}


def range_writes(
    shapes: dict[str, tuple[int, ...]], action_n: int, cfg: Any, held: int, scale: float, folder: Path
) -> dict[str, Any]:
    """Bytes the range writer puts on disk at every resume checkpoint of the scaled run (scaled back up), and the
    most replay bytes on disk at once (the named ranges plus those being written)."""
    n = cfg.num_envs
    replay = SequenceReplay(shapes, action_n, capacity=held, num_envs=n)
    total, every = max(n, round(cfg.total_env_steps * scale)), max(n, round(cfg.checkpoint_every * scale))
    rng = np.random.default_rng(1)
    records: dict[str, Any] = {}
    written_per_checkpoint: list[int] = []
    peak = 0
    env_steps, due = 0, every
    while env_steps < total:
        obs = {k: rng.standard_normal((n, *s)).astype(np.float32) for k, s in shapes.items()}
        replay.add(obs, rng.uniform(-1, 1, (n, action_n)), rng.standard_normal(n), np.zeros(n, bool), np.zeros(n, bool))
        env_steps += n
        if env_steps >= due or env_steps >= total:
            due += every

            def save(name: str, payload: dict[str, Any], step: int = env_steps) -> Any:
                return save_checkpoint(folder, name, lambda to: torch.save(payload, to), step=step, kind="replay")

            records, written = write_replay_chunks(replay, records, env_steps, save)
            written_per_checkpoint.append(sum(w.path.stat().st_size for w in written))
            peak = max(peak, sum(p.stat().st_size for p in (folder / "checkpoints").glob("*.pt")))
            named = {r["name"] for r in records.values()}
            for path in (folder / "checkpoints").glob("*.pt"):
                if path.stem not in named:
                    path.unlink()
    scaled = [b / scale for b in written_per_checkpoint]
    return {
        "checkpoints_simulated": len(scaled),
        "bytes_written_per_checkpoint_mean": float(np.mean(scaled)),
        "bytes_written_per_checkpoint_max_after_the_first": max(scaled[1:] or scaled),
        "bytes_written_over_run": float(sum(scaled)),
        "peak_replay_bytes_on_disk": peak / scale,
    }


def layouts(m: dict[str, Any]) -> tuple[dict[str, float], dict[str, dict[str, float]], int, int]:
    """(earlier, {single_file, now}, step checkpoints, evaluations): bytes of a whole run in each layout (module
    docstring)."""
    cfg, resume, policy = m["cfg"], m["resume"], m["policy"]
    total, every, evals_every = cfg.total_env_steps, cfg.checkpoint_every, cfg.eval_every
    steps = list(range(every, total, every))  # step checkpoints (none at the end: final is written then)
    evals = len(range(evals_every, total + 1, evals_every))

    def replay_at(k: int) -> float:
        return m["replay_per_step"] * min(k, m["capacity"])

    full = resume + replay_at(total)
    earlier_steps = sum(resume + replay_at(k) for k in steps)
    earlier = {
        "bytes_per_step_checkpoint_at_end": resume + replay_at(steps[-1]),
        "disk_one_best": earlier_steps + 2 * full,
        "disk_best_at_every_eval": earlier_steps
        + sum(resume + replay_at(k) for k in range(evals_every, total + 1, evals_every))
        + full,
    }
    single_file = {
        "bytes_per_step_checkpoint": resume,
        "bytes_per_replay_file_at_end": replay_at(total),
        "bytes_per_policy_checkpoint": policy,
        "disk_at_end": cfg.keep_last * resume + full + (evals + 1) * policy,
        "peak_disk": cfg.keep_last * resume + 2 * replay_at(total) + resume + (evals + 1) * policy,
        "bytes_written_over_run": earlier_steps + evals * policy + full,
    }
    ranges = m["range_writes"]
    now = {
        "bytes_per_step_checkpoint": resume,
        "replay_bytes_per_checkpoint_mean": ranges["bytes_written_per_checkpoint_mean"],
        "replay_bytes_per_checkpoint_max_after_the_first": ranges["bytes_written_per_checkpoint_max_after_the_first"],
        "bytes_per_policy_checkpoint": policy,
        "disk_at_end": cfg.keep_last * resume + full + (evals + 1) * policy,
        "peak_disk": (cfg.keep_last + 1) * resume + ranges["peak_replay_bytes_on_disk"] + (evals + 1) * policy,
        "bytes_written_over_run": (len(steps) + 1) * resume + ranges["bytes_written_over_run"] + evals * policy,
    }
    return earlier, {"single_file": single_file, "now": now}, len(steps), evals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=AUXME)
    parser.add_argument("--replay-scale", type=float, default=0.002)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    m = measure(args.config, args.replay_scale)
    earlier, later, steps, evals = layouts(m)
    single_file, now = later["single_file"], later["now"]
    cfg = m["cfg"]
    result = {
        "config": str(args.config.relative_to(ROOT) if args.config.is_relative_to(ROOT) else args.config),
        "obs_floats": m["obs_floats"],
        "num_envs": cfg.num_envs,
        "parameters": m["parameters"],
        "replay_capacity": m["capacity"],
        "replay_steps_held_here": m["replay_steps_held_here"],
        "replay_bytes_per_step": m["replay_per_step"],
        "total_env_steps": cfg.total_env_steps,
        "step_checkpoints": steps,
        "evaluations": evals,
        "keep_last": cfg.keep_last,
        "earlier": earlier,
        "single_file": single_file,
        "now": now,
        "replay_ranges": m["range_writes"],
        "disk_ratio_earlier_one_best_to_now": earlier["disk_one_best"] / now["disk_at_end"],
    }
    result["gb"] = {
        "earlier_disk_one_best": earlier["disk_one_best"] / 1e9,
        "earlier_disk_best_at_every_eval": earlier["disk_best_at_every_eval"] / 1e9,
        "earlier_step_checkpoint_at_end": earlier["bytes_per_step_checkpoint_at_end"] / 1e9,
        "single_file_bytes_written_over_run": single_file["bytes_written_over_run"] / 1e9,
        "single_file_peak_disk": single_file["peak_disk"] / 1e9,
        "now_bytes_written_over_run": now["bytes_written_over_run"] / 1e9,
        "now_replay_bytes_per_checkpoint_mean": now["replay_bytes_per_checkpoint_mean"] / 1e9,
        "now_disk_at_end": now["disk_at_end"] / 1e9,
        "now_peak_disk": now["peak_disk"] / 1e9,
        "now_step_checkpoint": now["bytes_per_step_checkpoint"] / 1e9,
        "now_policy_checkpoint": now["bytes_per_policy_checkpoint"] / 1e9,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
