"""Typed DreamerV3 configuration built from ``resolved["settings"]`` (heavy-free; torch is not imported).

``DreamerConfig.from_settings`` reads the resolved settings (every default already filled by ``spec.py``) and falls
back to the paper's values for anything absent, so a trainer called directly from a test works with a partial dict.
Model sizes follow the paper's table (arXiv 2301.04104, table of model sizes): GRU units, MLP width, MLP depth and
CNN multiplier per size; ``model`` overrides any of them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from trainers.dreamerv3.spec import DEFAULTS

__all__ = ["MODEL_SIZES", "DreamerConfig", "ModelConfig"]

# size -> (deter GRU units, dense units, MLP layers, CNN depth multiplier)
MODEL_SIZES: dict[str, dict[str, int]] = {
    "XS": {"deter": 256, "units": 256, "layers": 1, "cnn_depth": 24},
    "S": {"deter": 512, "units": 512, "layers": 2, "cnn_depth": 32},
    "M": {"deter": 1024, "units": 640, "layers": 3, "cnn_depth": 48},
    "L": {"deter": 2048, "units": 768, "layers": 4, "cnn_depth": 64},
    "XL": {"deter": 4096, "units": 1024, "layers": 5, "cnn_depth": 96},
}


@dataclass(frozen=True)
class ModelConfig:
    """Network shapes and loss constants (defaults: the paper's)."""

    deter: int = 512
    stoch: int = 32
    classes: int = 32
    units: int = 512
    layers: int = 2
    hidden: int | None = None  # RSSM input / prior / posterior hidden width (defaults to ``units``)
    cnn_depth: int = 32
    gru_blocks: int = 1  # > 1: block-diagonal recurrent weights
    unimix: float = 0.01
    bins: int = 255
    free_bits: float = 1.0
    beta_pred: float = 1.0
    beta_dyn: float = 0.5
    beta_rep: float = 0.1
    learned_initial: bool = True
    # behaviour
    gamma: float = 1.0 - 1.0 / 333.0
    lam: float = 0.95
    entropy: float = 3e-4
    slow_critic_decay: float = 0.98
    slow_critic_reg: float = 1.0
    return_norm_decay: float = 0.99
    min_std: float = 0.1
    max_std: float = 1.0
    # optimiser (Adam; paper eps and global-norm clipping)
    wm_eps: float = 1e-8
    ac_eps: float = 1e-5
    wm_clip: float = 1000.0
    ac_clip: float = 100.0

    @property
    def hidden_units(self) -> int:
        return int(self.hidden or self.units)

    @property
    def stoch_flat(self) -> int:
        return self.stoch * self.classes

    @property
    def feat_size(self) -> int:
        return self.deter + self.stoch_flat


@dataclass(frozen=True)
class DreamerConfig:
    """Everything the trainer needs, typed. Field names mirror ``resolved["settings"]``."""

    mode: str = "full"
    env: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULTS["env"]))
    model_size: str = "S"
    model: ModelConfig = field(default_factory=ModelConfig)
    train_ratio: float = 512.0
    batch_size: int = 16
    batch_length: int = 64
    horizon: int = 15
    world_model_lr: float = 1e-4
    actor_lr: float = 3e-5
    critic_lr: float = 3e-5
    total_env_steps: int = DEFAULTS["total_env_steps"]
    num_envs: int = 1  # spec's "auto" is decided by the launcher before the trainer sees it
    vector_env: str = "sync"  # sync: lock-step in this process; async: one subprocess per env
    prefill: int = 1024
    log_every: int = 1000
    checkpoint_every: int = DEFAULTS["checkpoint_every"]
    eval_every: int = DEFAULTS["eval_every"]
    eval_episodes: int = 5
    device: str = "auto"
    precision: str = "fp32"
    compile: bool = False
    replay_capacity: int = 1_000_000
    replay_on_device: bool = False
    check_every: int | str = "auto"  # updates between reads of the non-finite checks; auto: 1 on CPU, 50 on CUDA
    cuda_graph: bool = False  # capture the update in a CUDA graph (deferred checks, static batch; eager off CUDA)
    pinned_staging: bool = False  # batches into static device tensors (a host replay through page-locked buffers)
    overlap_collection: bool = False  # step the envs in a thread while the due updates run (overlap.py)
    actor_grad: str = "auto"  # reinforce | dynamics | auto (paper: reinforce for discrete, dynamics for continuous)
    repval: bool = False  # replay critic loss of the current reference (off: paper v1)
    repval_scale: float = 0.3  # its weight in the critic loss (reference: 0.3)
    keep_last: int = 2  # step checkpoints kept (the replay only with the newest resume checkpoint)
    deterministic: bool = False
    tracking: dict[str, Any] = field(default_factory=dict)
    standing_still_action: float = 0.0
    standing_still_updates: int = 50

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], *, deterministic: bool | None = None) -> DreamerConfig:
        """Build from resolved settings; unknown keys are ignored (spec.py validated them already)."""
        s = dict(settings)
        size = str(s.get("model_size", "S")).upper()
        if size not in MODEL_SIZES:
            raise ValueError(f"model_size {size!r} is not one of {', '.join(MODEL_SIZES)}")
        model_fields = {f.name for f in fields(ModelConfig)}
        overrides = {k: v for k, v in dict(s.get("model") or {}).items() if v is not None}
        if "depth" in overrides:  # spec.py's name for the CNN multiplier
            overrides["cnn_depth"] = overrides.pop("depth")
        unknown = sorted(set(overrides) - model_fields)
        if unknown:
            raise ValueError(f"model overrides {unknown} unknown; valid: {sorted(model_fields)}")
        model = replace(ModelConfig(), **{**MODEL_SIZES[size], **overrides})
        kwargs: dict[str, Any] = {"model_size": size, "model": model}
        for f in fields(cls):
            if f.name in ("model", "model_size") or f.name not in s or s[f.name] is None:
                continue
            kwargs[f.name] = s[f.name]
        if kwargs.get("num_envs") == "auto":
            kwargs["num_envs"] = 1
        if deterministic is not None:
            kwargs["deterministic"] = bool(deterministic)
        cfg = cls(**kwargs)
        cfg.check()
        return cfg

    def check(self) -> None:
        """Raise ValueError on settings that cannot run (the schema catches most earlier)."""
        self._check_sizes()
        self._check_choices()

    def _check_sizes(self) -> None:
        if self.batch_size < 1 or self.batch_length < 2 or self.horizon < 1:
            raise ValueError("batch_size >= 1, batch_length >= 2 and horizon >= 1 are required")
        if self.train_ratio <= 0:
            raise ValueError(f"train_ratio must be > 0, got {self.train_ratio}")
        if self.replay_capacity < self.num_envs * self.batch_length:
            raise ValueError(
                f"replay_capacity {self.replay_capacity} must hold at least num_envs * batch_length "
                f"= {self.num_envs * self.batch_length} steps"
            )
        if self.check_every != "auto" and (not isinstance(self.check_every, int) or self.check_every < 1):
            raise ValueError(f"check_every must be auto or an integer >= 1, got {self.check_every!r}")
        if self.keep_last < 1:
            raise ValueError(f"keep_last must be >= 1, got {self.keep_last}")

    def _check_choices(self) -> None:
        if self.mode not in ("full", "standing_still"):
            raise ValueError(f"mode {self.mode!r} must be full or standing_still")
        if self.cuda_graph and (self.mode != "full" or self.check_every == 1):
            raise ValueError(
                "cuda_graph needs deferred checks: mode full and check_every auto or > 1 "
                f"(got mode {self.mode}, check_every {self.check_every})"
            )
        if self.actor_grad not in ("auto", "reinforce", "dynamics"):
            raise ValueError(f"actor_grad {self.actor_grad!r} must be auto, reinforce or dynamics")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision {self.precision!r} must be fp32 or bf16")

    @property
    def replayed_per_update(self) -> int:
        """Environment steps replayed by one update: batch_size * batch_length."""
        return self.batch_size * self.batch_length
