"""Benchmark: wall time of an 8-trial study run by orch (parallel workers, a pruner) against the same 8 trials run one
after another in one process, as Robot SF's launcher runs them; prints ONE JSON object.

    python bench/study_speedup.py [--trials 8] [--parallel 4] [--timesteps 3072] [--eval-every 256]

Both sides run the same trials of a short PPO config (the smoke config on its small open room, one env each) with
the same trial budget: the trials' parameters are fixed in advance (``enqueue``: eight learning rates and epoch
counts drawn once from a seeded generator), so neither side's sampler picks different ones.

- ``sequential``: one process takes the trials one after another, each trained to the end (TPE, no pruner, as
  their launcher's ``study.optimize``): one study worker run in a fresh process, ``parallel: 1``, ``pruner: none``.
- ``orch``: ``orch study`` with ``parallel: P`` workers (the local backend: background processes, P at once) and a
  median pruner (two finished trials first, no pruning before the second evaluation).

Each side is timed from its start to its last trial told, in the same run, on the same machine. The speed-up is
measured with the cores this machine has (``cores``); the expected speed-up on a 4-core allocation is derived from it:
the workers' share of the speed-up scales with the cores they can use (min(cores, parallel) of them), while what
pruning saves (``env_steps_sequential / env_steps_orch``) does not depend on the cores:
``expected_ratio_4_cores = ratio_measured x min(4, parallel) / min(cores, parallel)``. It assumes each trial is one
core's work (one env, one torch thread: true here) and that the same trials are pruned with more cores; with more
trials running at once a median pruner has fewer finished trials to compare with early on, so it may prune later.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SMOKE = REPO / "configs" / "ppo_expert" / "grid_socnav_smoke.yaml"


def _base(folder: Path) -> Path:
    path = folder / "short_ppo.yaml"
    base = {
        "base_config": str(SMOKE),
        "scenario_id": "easy_open_low",
        "num_envs": 1,
        "worker_mode": "dummy",
        "ppo_hyperparams": {"n_steps": 256, "batch_size": 64},
        "evaluation": {"evaluation_episodes": 1},
        "tracking": {"tensorboard": False},
    }
    path.write_text(yaml.safe_dump(base))
    return path


def _trials(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "ppo_hyperparams.learning_rate": round(10 ** rng.uniform(-5, -2.5), 8),
            "ppo_hyperparams.n_epochs": rng.choice([2, 4, 8]),
        }
        for _ in range(count)
    ]


def _study(folder: Path, name: str, args: argparse.Namespace, **keys: Any) -> Path:
    study = {
        "base_config": str(_base(folder)),
        "study_name": name,
        "trials": args.trials,
        "metric": "eval_episode_return",
        "objective_mode": "last_n_mean",
        "objective_window": 3,
        "trial_timesteps": args.timesteps,
        "eval_every": args.eval_every,
        "eval_episodes": 1,
        "disable_wandb": True,
        "search_space": {
            "ppo_hyperparams.learning_rate": {"low": 1e-5, "high": 1e-2, "log": True},
            "ppo_hyperparams.n_epochs": [2, 4, 8],
        },
        "enqueue": _trials(args.trials),
        **keys,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def _counts(root: Path, name: str) -> dict[str, Any]:
    from orchestrator.study.report import collect_study

    report = collect_study(root / "studies" / name, root=root)
    steps = sum(int(t.step or 0) for t in report.trials if t.state in ("COMPLETE", "PRUNED"))
    return {**report.counts, "env_steps": steps}


def _sequential(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One fresh process, one worker, every trial to its end: their launcher's shape."""
    path = _study(folder, "sequential", args, parallel=1, pruner={"type": "none"})
    root = folder / "out_sequential"
    code = (
        "import sys; from orchestrator.study.launch import prepare_study; "
        "from orchestrator.study.worker import StudyWorker; "
        f"_, f = prepare_study({str(path)!r}, root={str(root)!r}); StudyWorker(str(f))()"
    )
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, capture_output=True)
    wall = time.perf_counter() - start
    return {"wall_s": wall, **_counts(root, "sequential")}


def _orch(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """``orch study`` with parallel workers and a median pruner, on this machine's local backend."""
    pruner = {"type": "median", "n_startup_trials": 2, "n_warmup_steps": 2 * args.eval_every}
    path = _study(folder, "orch", args, parallel=args.parallel, pruner=pruner)
    root = folder / "out_orch"
    command = [
        sys.executable,
        "-m",
        "orchestrator.cli",
        "study",
        str(path),
        "--artifact-root",
        str(root),
        "--set",
        f"cluster.array_parallelism={args.parallel}",
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=REPO, capture_output=True)
    while True:
        counts = _counts(root, "orch")
        if counts["finished"] >= args.trials and not counts["running"]:
            break
        if time.perf_counter() - start > args.timeout:
            raise TimeoutError(f"orch study not finished after {args.timeout:.0f} s: {counts}")
        time.sleep(0.5)
    wall = time.perf_counter() - start
    return {"wall_s": wall, **counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--timesteps", type=int, default=3072, help="trial_timesteps of every trial")
    parser.add_argument("--eval-every", type=int, default=256)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--keep", type=Path, default=None, help="keep the studies in this folder")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core per trial, on both sides
    os.environ.setdefault("WANDB_MODE", "disabled")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="orch-study-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    sequential = _sequential(folder, args)
    parallel = _orch(folder, args)
    ratio = sequential["wall_s"] / parallel["wall_s"]
    used, at4 = min(cores, args.parallel), min(4, args.parallel)
    print(
        json.dumps(
            {
                "trials": args.trials,
                "parallel": args.parallel,
                "trial_timesteps": args.timesteps,
                "eval_every": args.eval_every,
                "cores": cores,
                "load_avg_1m_before": round(load_before, 2),
                "load_avg_1m_after": round(os.getloadavg()[0], 2),
                "sequential_wall_s": round(sequential["wall_s"], 2),
                "orch_wall_s": round(parallel["wall_s"], 2),
                "ratio_measured": round(ratio, 3),
                "expected_ratio_4_cores": round(ratio * at4 / used, 3),
                "env_steps_sequential": sequential["env_steps"],
                "env_steps_orch": parallel["env_steps"],
                "pruning_step_saving": round(sequential["env_steps"] / max(1, parallel["env_steps"]), 3),
                "orch_pruned": parallel["pruned"],
                "orch_complete": parallel["complete"],
                "sequential_complete": sequential["complete"],
                "derivation": f"expected_ratio_4_cores = ratio_measured x min(4, parallel) / min(cores, parallel) "
                f"= {ratio:.3f} x {at4} / {used}",
                "folder": str(folder),
            }
        )
    )


if __name__ == "__main__":
    main()
