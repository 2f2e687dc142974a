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
* ``now``: step checkpoints without the replay, ``keep_last`` of them kept; the replay only with the newest resume
  checkpoint; weights-only policy checkpoints at every evaluation and for the best.
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

from trainers.common.job import TrainJob
from trainers.dreamerv3 import spec
from trainers.dreamerv3.checkpoints import policy_payload
from trainers.dreamerv3.train import DreamerTrainer

ROOT = Path(__file__).resolve().parents[1]
AUXME = ROOT / "configs" / "dreamerv3" / "drive_state_rays_auxme_a30.yaml"


def _size(payload: Any, folder: Path, name: str) -> int:
    path = folder / f"{name}.pt"
    torch.save(payload, path)
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=AUXME)
    parser.add_argument("--replay-scale", type=float, default=0.002)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    raw = yaml.safe_load(args.config.read_text())
    env = dict(raw["env"])
    env["scenario_config"] = str((args.config.parent / env["scenario_config"]).resolve())
    settings = spec.resolve({k: v for k, v in raw.items() if k in spec.DEFAULTS and k != "env"}, cpus=24, mem_gb=None)
    settings["env"] = {**spec.DEFAULTS["env"], **env}
    capacity = int(settings["replay_capacity"])
    held = max(int(capacity * args.replay_scale), settings["num_envs"] * settings["batch_length"] * 2)
    settings.update(
        device="cpu", precision="fp32", compile=False, replay_capacity=held, tracking={"tensorboard": False}
    )
    work = Path(tempfile.mkdtemp(prefix="dreamer-ckpt-bench-"))
    job = TrainJob(resolved={"trainer": "dreamerv3", "seed": 0, "settings": settings}, run_dir=work / "run")
    trainer = DreamerTrainer(job)
    trainer._build()
    trainer.collector.reset(trainer.replay)
    rng = np.random.default_rng(0)
    n = trainer.cfg.num_envs
    while len(trainer.replay) < trainer.replay.capacity:
        obs = {k: rng.standard_normal((n, *s)).astype(np.float32) for k, s in trainer.shapes.items()}
        action = rng.uniform(-1, 1, (n, trainer.spec.n)).astype(np.float32)
        trainer.replay.add(obs, action, rng.standard_normal(n), np.zeros(n, bool), np.zeros(n, bool))
    trainer.learner.train_step(trainer.replay.sample(trainer.cfg.batch_size, trainer.cfg.batch_length))
    state = trainer._state()
    replay_state = {"replay": trainer.replay.state_dict()}
    folder = work / "sizes"
    folder.mkdir()
    resume_bytes = _size(state, folder, "resume")
    replay_bytes_held = _size(replay_state, folder, "replay")
    policy_bytes = _size(policy_payload(trainer.agent, 0), folder, "policy")
    trainer.envs.close()
    per_step = replay_bytes_held / len(trainer.replay)
    cfg = trainer.cfg
    total, every, evals_every = cfg.total_env_steps, cfg.checkpoint_every, cfg.eval_every
    steps = [k for k in range(every, total, every)]  # step checkpoints (none at the end: final is written then)
    evals = len(range(evals_every, total + 1, evals_every))

    def replay_at(k: int) -> float:
        return per_step * min(k, capacity)

    full = resume_bytes + replay_at(total)
    earlier_steps = sum(resume_bytes + replay_at(k) for k in steps)
    earlier = {
        "bytes_per_step_checkpoint_at_end": resume_bytes + replay_at(steps[-1]),
        "disk_one_best": earlier_steps + 2 * full,
        "disk_best_at_every_eval": earlier_steps
        + sum(resume_bytes + replay_at(k) for k in range(evals_every, total + 1, evals_every))
        + full,
    }
    now_written = sum(resume_bytes + replay_at(k) for k in steps) + evals * policy_bytes + full
    now = {
        "bytes_per_step_checkpoint": resume_bytes,
        "bytes_per_replay_file_at_end": replay_at(total),
        "bytes_per_policy_checkpoint": policy_bytes,
        "disk_at_end": cfg.keep_last * resume_bytes + full + (evals + 1) * policy_bytes,
        "peak_disk": cfg.keep_last * resume_bytes + 2 * replay_at(total) + resume_bytes + (evals + 1) * policy_bytes,
        "bytes_written_over_run": now_written,
    }
    print(
        json.dumps(
            {
                "config": str(args.config.relative_to(ROOT) if args.config.is_relative_to(ROOT) else args.config),
                "obs_floats": sum(int(np.prod(s)) for s in trainer.shapes.values()),
                "num_envs": cfg.num_envs,
                "parameters": sum(p.numel() for p in trainer.agent.parameters()),
                "replay_capacity": capacity,
                "replay_steps_held_here": len(trainer.replay),
                "replay_bytes_per_step": per_step,
                "total_env_steps": total,
                "step_checkpoints": len(steps),
                "evaluations": evals,
                "keep_last": cfg.keep_last,
                "earlier": earlier,
                "now": now,
                "disk_ratio_earlier_one_best_to_now": earlier["disk_one_best"] / now["disk_at_end"],
                "gb": {
                    "earlier_disk_one_best": earlier["disk_one_best"] / 1e9,
                    "earlier_disk_best_at_every_eval": earlier["disk_best_at_every_eval"] / 1e9,
                    "earlier_step_checkpoint_at_end": earlier["bytes_per_step_checkpoint_at_end"] / 1e9,
                    "now_disk_at_end": now["disk_at_end"] / 1e9,
                    "now_peak_disk": now["peak_disk"] / 1e9,
                    "now_step_checkpoint": resume_bytes / 1e9,
                    "now_policy_checkpoint": policy_bytes / 1e9,
                },
            }
        )
    )


if __name__ == "__main__":
    main()
