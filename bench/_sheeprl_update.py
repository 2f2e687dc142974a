"""Times SheepRL's DreamerV3 update at reference config R; run by ``bench/dreamer_vs_sheeprl.py`` with the
interpreter of SheepRL's own venv (it imports SheepRL, never orch). Prints ONE JSON object.

R in SheepRL's words: CartPole-v1 state (mlp key ``state``, 4 floats, 2 discrete actions), recurrent state 512,
32 x 32 latents, transition/representation hidden 256, dense units 256, 2 MLP layers, batch 16 x 64, horizon 15.
The batch is synthetic (shapes are what the timing depends on); ``sheeprl.algos.dreamer_v3.dreamer_v3.train`` is
the one-update function SheepRL's own loop calls.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as for ours (bench/dreamer_speed.py)

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import hydra
import sheeprl
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from sheeprl.algos.dreamer_v3.agent import build_agent
from sheeprl.algos.dreamer_v3.dreamer_v3 import train
from sheeprl.algos.dreamer_v3.utils import Moments
from sheeprl.utils.utils import dotdict

R_OVERRIDES = [
    "exp=dreamer_v3",
    "env=gym",
    "env.id=CartPole-v1",
    "algo.cnn_keys.encoder=[]",
    "algo.cnn_keys.decoder=[]",
    "algo.mlp_keys.encoder=[state]",
    "algo.mlp_keys.decoder=[state]",
    "algo.dense_units=256",
    "algo.mlp_layers=2",
    "algo.world_model.recurrent_model.recurrent_state_size=512",
    "algo.world_model.transition_model.hidden_size=256",
    "algo.world_model.representation_model.hidden_size=256",
    "algo.world_model.stochastic_size=32",
    "algo.world_model.discrete_size=32",
    "algo.per_rank_batch_size=16",
    "algo.per_rank_sequence_length=64",
    "algo.horizon=15",
    "fabric.accelerator=cpu",
    "fabric.devices=1",
    "metric.log_level=0",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--updates", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", default="32-true", help="Fabric precision: 32-true or bf16-mixed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config_dir = str(Path(sheeprl.__file__).parent / "configs")
    with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
        raw = compose("config", overrides=[*R_OVERRIDES, f"fabric.precision={args.precision}"])
    cfg = dotdict(OmegaConf.to_container(raw, resolve=True, throw_on_missing=True))
    fabric = hydra.utils.instantiate(cfg.fabric, _convert_="all")
    obs_space = gym.spaces.Dict({"state": gym.spaces.Box(-10, 10, (4,))})
    world_model, actor, critic, target_critic, _ = build_agent(fabric, (2,), False, cfg, obs_space)
    optimizers = [
        hydra.utils.instantiate(part.optimizer, params=module.parameters(), _convert_="all")
        for part, module in ((cfg.algo.world_model, world_model), (cfg.algo.actor, actor), (cfg.algo.critic, critic))
    ]
    world_opt, actor_opt, critic_opt = fabric.setup_optimizers(*optimizers)
    m = cfg.algo.actor.moments
    moments = Moments(m.decay, m.max, m.percentile.low, m.percentile.high)
    t, b = cfg.algo.per_rank_sequence_length, cfg.algo.per_rank_batch_size

    def batch() -> dict[str, torch.Tensor]:
        first = torch.zeros(t, b, 1)
        first[0] = 1.0
        actions = torch.nn.functional.one_hot(torch.randint(0, 2, (t, b)), 2).float()
        return {
            "state": torch.randn(t, b, 4),
            "actions": actions,
            "rewards": torch.ones(t, b, 1),
            "terminated": torch.zeros(t, b, 1),
            "truncated": torch.zeros(t, b, 1),
            "is_first": first,
        }

    def update() -> None:
        train(fabric, world_model, actor, critic, target_critic, world_opt, actor_opt, critic_opt, batch(), None,
              cfg, False, (2,), moments)  # fmt: skip

    for _ in range(args.warmup):
        update()
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(args.updates):
        update()
    per_update = (time.perf_counter() - start) / args.updates
    n_params = sum(p.numel() for mod in (world_model, actor, critic) for p in mod.parameters())
    print(
        json.dumps(
            {
                "impl": f"sheeprl {sheeprl.__version__}",
                "precision": args.precision,
                "threads": torch.get_num_threads(),
                "parameters": n_params,
                "updates_timed": args.updates,
                "updates_per_s": 1.0 / per_update,
                "ms_per_update": per_update * 1000,
                "cpu_ms_per_update": (time.process_time() - cpu) / args.updates * 1000,
            }
        )
    )


if __name__ == "__main__":
    main()
