"""The grid_socnav extractor on the Dict space the observation contract describes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from trainers.envs.contracts import observation_signature, signature_to_json
from trainers.ppo_expert.policies import GridSocNavExtractor, build_policy_kwargs, ego_goal_vector
from trainers.ppo_expert.spaces import space_from_signature

OVERRIDES = {
    "observation_mode": "socnav_struct",
    "use_occupancy_grid": True,
    "include_grid_in_observation": True,
    "grid_config": {"resolution": 0.5, "width": 16.0, "height": 12.0, "channels": ["obstacles", "pedestrians"]},
    "sim_config": {"max_total_pedestrians": 8},
}
KWARGS = {"grid_channels": [8, 16], "grid_kernel_sizes": [5, 3], "socnav_hidden_dims": [32, 16], "dropout_rate": 0.1}


def _space():
    return space_from_signature(signature_to_json(observation_signature(OVERRIDES)))


def _batch(space, n=3):
    rng = np.random.default_rng(0)
    return {k: torch.as_tensor(rng.standard_normal((n, *s.shape)).astype(s.dtype)) for k, s in space.spaces.items()}


def test_extractor_uses_grid_and_vector_keys_but_not_meta() -> None:
    space = _space()
    extractor = GridSocNavExtractor(space, **KWARGS)
    assert space["occupancy_grid"].shape == (2, 24, 32)
    assert "occupancy_grid" not in extractor.vector_keys
    assert not [k for k in extractor.vector_keys if k.startswith("occupancy_grid_meta")]
    assert "pedestrians_positions" in extractor.vector_keys
    out = extractor(_batch(space))
    assert out.shape == (3, extractor.features_dim)
    assert extractor.features_dim == 16 * 4 * 4 + 16


def test_meta_keys_do_not_change_the_features() -> None:
    space = _space()
    extractor = GridSocNavExtractor(space, **KWARGS).eval()
    batch = _batch(space)
    first = extractor(batch)
    batch["occupancy_grid_meta_origin"] = batch["occupancy_grid_meta_origin"] + 100.0
    assert torch.allclose(first, extractor(batch))


def test_ego_goal_vector_rotates_into_robot_frame() -> None:
    goal = torch.tensor([[1.0, 1.0]])
    pos = torch.tensor([[0.0, 0.0]])
    heading = torch.tensor([[math.pi / 2]])
    vec = ego_goal_vector(goal, pos, heading)
    assert torch.allclose(vec, torch.tensor([[1.0, -1.0, math.sqrt(2)]]), atol=1e-6)


def test_mismatched_kernel_list_is_rejected() -> None:
    with pytest.raises(ValueError, match="same length"):
        GridSocNavExtractor(_space(), grid_channels=[8, 16], grid_kernel_sizes=[3])


def test_policy_kwargs_build_a_multi_input_ppo() -> None:
    import gymnasium as gym

    space = _space()

    class Env(gym.Env):
        observation_space = space
        action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return {k: np.zeros(s.shape, s.dtype) for k, s in space.spaces.items()}, {}

        def step(self, action):
            return self.reset()[0], 0.0, False, False, {}

    settings = {"feature_extractor": "grid_socnav", "feature_extractor_kwargs": KWARGS, "policy_net_arch": [32, 32]}
    model = PPO("MultiInputPolicy", make_vec_env(Env, 1), policy_kwargs=build_policy_kwargs(settings), n_steps=8)
    assert isinstance(model.policy.features_extractor, GridSocNavExtractor)
    assert model.policy.net_arch == [32, 32]
