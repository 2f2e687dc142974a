"""Shared data of the config tests: a tiny scenario matrix and a valid PPO config with known line numbers."""

from __future__ import annotations

SCENARIO_TEXT = """scenarios:
  - name: tiny_open
    map_id: easy_open
    simulation_config:
      max_episode_steps: 50
      ped_density: 0.0
"""

# A valid PPO config; tests replace numbered lines, so keep the numbering in mind (line N = PPO_LINES[N - 1]).
PPO_LINES = [
    "trainer: ppo_expert",  # 1
    "policy_id: p",  # 2
    "scenario_config: scen.yaml",  # 3
    "total_timesteps: 1000",  # 4
    "env_overrides:",  # 5
    "  observation_mode: socnav_struct",  # 6
    "  use_occupancy_grid: true",  # 7
    "  include_grid_in_observation: true",  # 8
    "  grid_config:",  # 9
    "    resolution: 0.5",  # 10
    "    width: 16.0",  # 11
    "    height: 16.0",  # 12
    "  sim_config:",  # 13
    "    prf_config:",  # 14
    "      is_active: true",  # 15
    "evaluation:",  # 16
    "  evaluation_episodes: 2",  # 17
    "  step_schedule:",  # 18
    "    - every_steps: 500",  # 19
    "tracking:",  # 20
    "  wandb:",  # 21
    "    enabled: false",  # 22
]


def ppo_text(**lines: str) -> str:
    """The valid PPO config with some lines replaced: ``ppo_text(l4="total_timesteps: x")``."""
    out = list(PPO_LINES)
    for key, text in lines.items():
        out[int(key[1:]) - 1] = text
    return "\n".join(out) + "\n"


# One scenario on a map shipped in configs/maps: the smallest matrix an env builds from.
TINY_MATRIX = "scenarios:\n  - name: tiny\n    map_id: easy_open\n"
