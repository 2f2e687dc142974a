"""PPO overhead: env steps per second through ``orch run`` against a bare SB3 script, same env and settings.

Both train the smoke config's PPO (grid_socnav extractor, same hyperparameters, envs, seeds, torch threads) for
``--steps`` steps, alternating ``--repeats`` times so machine load hits both alike; medians are compared.
``orch_sps`` is steps over the time of orch's training iterations as its metrics.jsonl reports them (collection,
update, callbacks, metrics lines, TensorBoard, progress; not the final evaluation episodes, which the bare script does
not play). ``bare_sb3_sps`` is steps over the time of ``PPO.learn`` in a script that only builds the same
VecEnv and PPO. ``--clock cpu`` (default) divides by process CPU seconds instead of wall seconds: on a shared machine
other people's load swings wall-clock steps/s by 2x between repeats, while CPU time (one torch thread, envs in
process) measures the work each side does; the wall-clock figure is reported beside it.
Prints one JSON object: ``orch_sps``, ``bare_sb3_sps``, ``overhead_pct`` (target <= 3) and details.
Usage: ``python bench/ppo_overhead.py [--steps 8192] [--repeats 3] [--config CONFIG]`` (default: the smoke config)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "configs" / "ppo_expert" / "grid_socnav_smoke.yaml"


def _overrides(steps: int) -> list[str]:
    return [
        f"total_timesteps={steps}",
        f"evaluation.step_schedule=[{{every_steps: {steps}}}]",
        "evaluation.evaluation_episodes=1",
    ]


def run_orch(config: Path, steps: int, root: Path) -> dict[str, float]:
    """``orch run`` in a subprocess; steps/s from its metrics.jsonl (iteration time excludes evaluation episodes)."""
    cmd = [sys.executable, "-m", "orchestrator.cli", "run", str(config), "--artifact-root", str(root)]
    for item in _overrides(steps):
        cmd += ["--set", item]
    env = {**os.environ, "WANDB_MODE": "offline"}
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO, env=env, capture_output=True)
    wall = time.perf_counter() - start
    (run_dir,) = sorted((root / "runs").iterdir())
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    seconds, previous = 0.0, 0
    for line in lines:
        seconds += (line["step"] - previous) / line["fps"]
        previous = line["step"]
    cpu = sum(line["cpu_sec"] for line in lines)
    return {"sps": previous / seconds, "cpu_sps": previous / cpu, "steps": previous, "process_wall_sec": wall}


def run_bare(config: Path, steps: int) -> dict[str, float]:
    """The bare SB3 script (``--bare``) in a subprocess, so both sides pay the same imports and start alike."""
    cmd = [sys.executable, __file__, "--bare", "--steps", str(steps), "--config", str(config)]
    out = subprocess.run(cmd, check=True, cwd=REPO, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def bare_main(config: Path, steps: int) -> None:
    """What a user would write with SB3 alone: the same env, PPO and threads; no orch callbacks, no logging.

    The one callback only reads the clocks at training start and end, so both sides time the same window (after
    ``learn``'s setup and first env reset, up to the end of the last update).
    """
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    from orchestrator.config import resolve_config
    from trainers.envs import make_env
    from trainers.ppo_expert.policies import build_policy_kwargs
    from trainers.ppo_expert.train import configure_threads, ppo_kwargs

    config_doc = resolve_config(config, overrides=_overrides(steps))
    seed = int(config_doc.seeds[0])
    settings = config_doc.for_seed(seed)["settings"]
    num_envs, mode = int(settings["num_envs"]), str(settings["worker_mode"])
    configure_threads(num_envs, mode)
    factory = dict(settings["env_factory_kwargs"])

    def make(i: int):
        return lambda: Monitor(
            make_env(
                settings["env_overrides"],
                scenario_config=settings["scenario_config"],
                scenario_id=settings.get("scenario_id"),
                seed=seed + i,
                reward_name=factory.get("reward_name"),
            )
        )

    vec_cls = SubprocVecEnv if mode == "subproc" and num_envs > 1 else DummyVecEnv
    vec = vec_cls([make(i) for i in range(num_envs)])
    model = PPO(
        "MultiInputPolicy",
        vec,
        policy_kwargs=build_policy_kwargs(settings),
        seed=seed,
        device="cpu",
        **ppo_kwargs(settings, num_envs=num_envs, dry_run=False),
    )

    class _Clock(BaseCallback):
        def _on_training_start(self) -> None:
            self.start, self.cpu = time.perf_counter(), time.process_time()

        def _on_step(self) -> bool:
            return True

        def _on_training_end(self) -> None:
            self.seconds, self.cpu = time.perf_counter() - self.start, time.process_time() - self.cpu

    clock = _Clock()
    model.learn(steps, callback=clock)
    seconds, cpu = clock.seconds, clock.cpu
    vec.close()
    print(
        json.dumps(
            {
                "sps": model.num_timesteps / seconds,
                "cpu_sps": model.num_timesteps / cpu,
                "steps": model.num_timesteps,
                "threads": torch.get_num_threads(),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu", help="steps per CPU second or per second")
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        bare_main(args.config, args.steps)
        return
    orch, bare = [], []
    with tempfile.TemporaryDirectory(prefix="ppo-overhead-") as tmp:
        for i in range(args.repeats):
            orch.append(run_orch(args.config, args.steps, Path(tmp) / f"orch{i}"))
            bare.append(run_bare(args.config, args.steps))
    key, other = ("cpu_sps", "sps") if args.clock == "cpu" else ("sps", "cpu_sps")
    orch_sps = statistics.median(r[key] for r in orch)
    bare_sps = statistics.median(r[key] for r in bare)
    orch_other = statistics.median(r[other] for r in orch)
    bare_other = statistics.median(r[other] for r in bare)
    print(
        json.dumps(
            {
                "orch_sps": round(orch_sps, 1),
                "bare_sb3_sps": round(bare_sps, 1),
                "overhead_pct": round(100.0 * (bare_sps - orch_sps) / bare_sps, 2),
                "target_overhead_pct": 3.0,
                "clock": args.clock,
                f"overhead_pct_{'wall' if args.clock == 'cpu' else 'cpu'}": round(
                    100.0 * (bare_other - orch_other) / bare_other, 2
                ),
                "steps": args.steps,
                "repeats": args.repeats,
                "orch_sps_each": [round(r[key], 1) for r in orch],
                "bare_sb3_sps_each": [round(r[key], 1) for r in bare],
                "config": str(args.config),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
