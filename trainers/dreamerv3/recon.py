"""Real against decoded observations of one replayed sequence, saved as ``recon.npz`` for ``orch plot``.

:func:`save_reconstruction` runs the world model's posterior over the first sequence of a batch (the same path as the
reconstruction loss: encoder, RSSM ``observe``, decoder) and writes, atomically:

* ``real`` and ``decoded``: ``(T, D)`` float32 for vector observations (the concatenated vector keys, decoded from
  symlog space with symexp), or ``(T, C, H, W)`` for image/grid keys when the observation has them (then the vector
  part is stored as ``real_vector``/``decoded_vector``);
* ``step``: the env step, when given.

``orch plot`` draws it as an image strip (and a short GIF) next to the learning curves
(``orchestrator/plots/recon.py``). Call it once at the end of a run with a replayed batch::

    save_reconstruction(agent, replay.sample(1, cfg.batch_length, device), run_dir / "recon.npz", step=env_steps)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from manifests import atomic_path
from trainers.dreamerv3.agent import DreamerAgent
from trainers.dreamerv3.maths import symexp

__all__ = ["reconstruct", "save_reconstruction"]


@torch.no_grad()
def reconstruct(agent: DreamerAgent, batch: Mapping[str, Any], *, max_len: int = 64) -> dict[str, np.ndarray]:
    """Real and decoded observations of the batch's first sequence (at most ``max_len`` steps), as numpy arrays."""
    obs = {k: v[:1, :max_len] for k, v in batch["obs"].items()}
    action = batch["action"][:1, :max_len]
    is_first = batch["is_first"][:1, :max_len]
    was_training = agent.training
    agent.eval()
    try:
        post, _ = agent.rssm.observe(agent.encoder(obs), action, is_first, None, None)
        feat = torch.cat([post["deter"], post["stoch"]], -1)
        out: dict[str, np.ndarray] = {}
        encoder, decoder = agent.encoder, agent.decoder
        if decoder.mlp is not None:
            out["real_vector"] = encoder.vector(obs, 2)[0].float().cpu().numpy()
            out["decoded_vector"] = symexp(decoder.mlp(feat).float())[0].cpu().numpy()
        if decoder.cnn is not None:
            out["real_image"] = torch.cat([obs[k] for k in encoder.img_keys], -3)[0].float().cpu().numpy()
            out["decoded_image"] = decoder.cnn(feat).float()[0].cpu().numpy()
    finally:
        agent.train(was_training)
    kind = "image" if "real_image" in out else "vector"
    out["real"], out["decoded"] = out[f"real_{kind}"], out[f"decoded_{kind}"]
    return out


def save_reconstruction(
    agent: DreamerAgent,
    batch: Mapping[str, Any],
    path: str | os.PathLike[str],
    *,
    step: int | None = None,
    max_len: int = 64,
) -> Path:
    """Write ``recon.npz`` (see the module docstring) and return its path."""
    arrays = reconstruct(agent, batch, max_len=max_len)
    if step is not None:
        arrays["step"] = np.asarray(int(step), dtype=np.int64)
    target = Path(path)
    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]
    return target
