"""The ``grid_socnav`` features extractor: a CNN over the occupancy grid and an MLP over the SocNav keys.

SB3's ``MultiInputPolicy`` gets it through ``policy_kwargs`` (we wrap SB3, never fork it). The grid meta keys
(``occupancy_grid_meta_*``) are left out: they describe the grid, they are not features. An ego-frame goal vector
(goal in the robot's frame, and its length) is added because the raw world-frame goal and pose make the policy learn
a rotation first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

__all__ = ["FEATURE_EXTRACTORS", "GridSocNavExtractor", "build_policy_kwargs", "ego_goal_vector"]

GOAL_KEYS = ("goal_current", "robot_position", "robot_heading")


def ego_goal_vector(goal: torch.Tensor, position: torch.Tensor, heading: torch.Tensor) -> torch.Tensor:
    """(batch, 3): the goal relative to the robot, rotated into the robot's frame, and its distance."""
    delta = goal[:, :2] - position[:, :2]
    theta = heading[:, :1]
    cos, sin = torch.cos(theta), torch.sin(theta)
    x = cos * delta[:, :1] + sin * delta[:, 1:2]
    y = -sin * delta[:, :1] + cos * delta[:, 1:2]
    return torch.cat([x, y, torch.sqrt(x * x + y * y)], dim=1)


def _checked_keys(
    observation_space: Any,
    grid_key: str,
    exclude_prefixes: Sequence[str],
    include_ego_goal_vector: bool,
    grid_channels: Sequence[int],
    grid_kernel_sizes: Sequence[int],
) -> tuple[tuple[int, ...], list[str]]:
    """The grid's (C, H, W) and the vector keys the MLP reads; a space or setting the extractor cannot use raises."""
    if not isinstance(observation_space, gym.spaces.Dict):
        raise TypeError(f"grid_socnav needs a Dict observation space, got {type(observation_space).__name__}")
    if len(grid_channels) != len(grid_kernel_sizes):
        raise ValueError(
            f"grid_channels {list(grid_channels)} and grid_kernel_sizes {list(grid_kernel_sizes)} "
            "must have the same length (one kernel size per conv layer)"
        )
    spaces = observation_space.spaces
    if grid_key not in spaces:
        raise ValueError(f"grid_socnav: grid key {grid_key!r} is not in the observation (keys: {sorted(spaces)})")
    grid_shape = tuple(spaces[grid_key].shape or ())
    if len(grid_shape) != 3:
        raise ValueError(f"grid_socnav: {grid_key} must be (C, H, W), got shape {grid_shape}")
    if include_ego_goal_vector:
        missing = [k for k in GOAL_KEYS if k not in spaces]
        if missing:
            raise ValueError(f"grid_socnav: include_ego_goal_vector needs {missing}, absent from the observation")
    vector_keys = sorted(k for k in spaces if k != grid_key and not any(k.startswith(p) for p in exclude_prefixes))
    return grid_shape, vector_keys


def _conv_layers(
    in_ch: int, channels: Sequence[int], kernels: Sequence[int], pool_size: int
) -> tuple[list[nn.Module], int]:
    """Stride-2 convolutions (each halves the grid), then an adaptive pool: the layers and their output size."""
    convs: list[nn.Module] = []
    for out_ch, k in zip(channels, kernels, strict=True):
        convs += [nn.Conv2d(in_ch, int(out_ch), int(k), stride=2, padding=int(k) // 2), nn.ReLU()]
        in_ch = int(out_ch)
    convs += [nn.AdaptiveAvgPool2d(pool_size), nn.Flatten()]
    return convs, in_ch * pool_size * pool_size


def _mlp_layers(width: int, hidden_dims: Sequence[int], dropout_rate: float) -> tuple[list[nn.Module], int]:
    """Linear + ReLU (+ dropout) per hidden size: the layers and their output width."""
    mlp: list[nn.Module] = []
    for hidden in hidden_dims:
        mlp += [nn.Linear(width, int(hidden)), nn.ReLU()]
        if dropout_rate > 0:
            mlp.append(nn.Dropout(float(dropout_rate)))
        width = int(hidden)
    return mlp, width


class GridSocNavExtractor(BaseFeaturesExtractor):
    """CNN(occupancy grid) ++ MLP(other SocNav keys ++ ego goal vector) -> one feature vector.

    Each conv layer halves the grid (stride 2, same padding) so a 160x160 grid stays cheap; an adaptive average pool
    to ``pool_size`` x ``pool_size`` makes the feature size independent of the grid size.
    """

    def __init__(
        self,
        observation_space: gym.spaces.Dict,
        grid_channels: Sequence[int] = (32, 64, 64),
        grid_kernel_sizes: Sequence[int] = (5, 3, 3),
        socnav_hidden_dims: Sequence[int] = (128, 128),
        dropout_rate: float = 0.0,
        grid_key: str = "occupancy_grid",
        exclude_prefixes: Sequence[str] = ("occupancy_grid_meta",),
        include_ego_goal_vector: bool = True,
        pool_size: int = 4,
    ):
        grid_shape, vector_keys = _checked_keys(
            observation_space, grid_key, exclude_prefixes, include_ego_goal_vector, grid_channels, grid_kernel_sizes
        )
        spaces = observation_space.spaces
        vector_dim = sum(int(np.prod(spaces[k].shape or ())) for k in vector_keys)
        vector_dim += 3 if include_ego_goal_vector else 0
        convs, grid_dim = _conv_layers(grid_shape[0], grid_channels, grid_kernel_sizes, pool_size)
        mlp, width = _mlp_layers(vector_dim, socnav_hidden_dims, dropout_rate)
        super().__init__(observation_space, features_dim=grid_dim + width)
        self.grid_key = grid_key
        self.vector_keys = vector_keys
        self.include_ego_goal_vector = include_ego_goal_vector
        self.grid_net = nn.Sequential(*convs)
        self.vector_net = nn.Sequential(*mlp)

    def forward(self, observations: Mapping[str, torch.Tensor]) -> torch.Tensor:
        grid = observations[self.grid_key].float()
        parts = [observations[k].float().reshape(grid.shape[0], -1) for k in self.vector_keys]
        if self.include_ego_goal_vector:
            parts.append(
                ego_goal_vector(
                    observations["goal_current"].float(),
                    observations["robot_position"].float(),
                    observations["robot_heading"].float(),
                )
            )
        vector = torch.cat(parts, dim=1)
        return torch.cat([self.grid_net(grid), self.vector_net(vector)], dim=1)


FEATURE_EXTRACTORS: dict[str, type[BaseFeaturesExtractor]] = {"grid_socnav": GridSocNavExtractor}


def build_policy_kwargs(settings: Mapping[str, Any]) -> dict[str, Any]:
    """SB3 ``policy_kwargs`` from the resolved settings: extractor class + kwargs, and ``net_arch``.

    ``default`` is Robot SF's default: SB3's own ``CombinedExtractor`` of ``MultiInputPolicy`` (flattens vector keys,
    NatureCNN on image keys), so no extractor class is passed.
    """
    name = str(settings.get("feature_extractor") or "default")
    if name != "default" and name not in FEATURE_EXTRACTORS:
        known = ", ".join(["default", *sorted(FEATURE_EXTRACTORS)])
        raise ValueError(f"unknown feature_extractor {name!r}; known: {known}")
    kwargs: dict[str, Any] = {}
    for key, value in dict(settings.get("feature_extractor_kwargs") or {}).items():
        kwargs[key] = tuple(value) if isinstance(value, list) else value
    net_arch = [int(x) for x in settings.get("policy_net_arch") or [64, 64]]
    policy_kwargs: dict[str, Any] = {"net_arch": net_arch}
    if name != "default":
        policy_kwargs["features_extractor_class"] = FEATURE_EXTRACTORS[name]
    if kwargs:
        policy_kwargs["features_extractor_kwargs"] = kwargs
    return policy_kwargs
