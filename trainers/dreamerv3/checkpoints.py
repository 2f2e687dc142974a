"""What a DreamerV3 run keeps on disk, and how much of it.

* **Resume checkpoints** (``step_<N>``, ``final``): weights, optimisers, counters, RNG states, the collector, the
  pickled envs and the replay ring's positions. The replay's steps live in range files (``replay_<N>_c<range>``,
  kind ``replay``, see ``replay_files.py``): a checkpoint writes the ranges changed since the previous one and names
  every range; once it is complete, the replay files it does not name are deleted, and only the ``keep_last`` newest
  step checkpoints stay. A resume that finds no valid replay beside its checkpoint continues with an empty one.
* **Policy checkpoints** (``policy_<N>`` at every evaluation, ``best``): the agent's weights only, what ``orch eval``
  loads.

Weights are always saved uncompiled (``nn.Module.compile`` keeps parameter names; checkpoints of the older
``torch.compile(module)`` wrapping carry ``_orig_mod.`` in their keys, which :func:`load_agent_weights` strips), and on
the host, so every checkpoint loads with and without ``compile`` and on a machine without the training device.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainers.common.checkpoints import CheckpointInfo, delete_checkpoint, list_checkpoints, verify_checkpoint

__all__ = [
    "COMPILED_PREFIX",
    "agent_weights",
    "chunk_names",
    "load_agent_weights",
    "policy_payload",
    "prune",
    "replay_of",
    "to_host",
]

COMPILED_PREFIX = "_orig_mod."
RESUME_KINDS = ("step", "final")


def to_host(tree: Any) -> Any:
    """Every tensor of a nested dict/list moved to the host (checkpoints never hold device tensors)."""
    if isinstance(tree, torch.Tensor):
        return tree.detach().cpu()
    if isinstance(tree, Mapping):
        return {k: to_host(v) for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        return type(tree)(to_host(v) for v in tree)
    return tree


def agent_weights(agent: nn.Module) -> dict[str, torch.Tensor]:
    """The agent's parameters and persistent buffers under their uncompiled names, on the host."""
    return {_uncompiled(k): v.detach().cpu() for k, v in agent.state_dict().items()}


def load_agent_weights(agent: nn.Module, weights: Mapping[str, torch.Tensor]) -> None:
    """Strict load of weights written with or without ``compile`` (old ``_orig_mod.`` keys included)."""
    agent.load_state_dict({_uncompiled(k): v for k, v in weights.items()})


def policy_payload(agent: nn.Module, env_steps: int) -> dict[str, Any]:
    """A policy checkpoint: weights only."""
    return {"format": "dreamerv3-policy", "env_steps": int(env_steps), "agent": agent_weights(agent)}


def replay_of(info: CheckpointInfo) -> CheckpointInfo | None:
    """The verified replay file a resume checkpoint names in its sidecar, or None (absent, torn or pruned)."""
    name = info.meta.get("replay_checkpoint")
    if not name:
        return None
    sidecar = info.path.parent / f"{name}.json"
    replay = next((c for c in list_checkpoints(info.path.parent.parent, verify=False) if c.sidecar == sidecar), None)
    return replay if replay is not None and verify_checkpoint(replay) else None


def chunk_names(meta: Mapping[str, Any]) -> set[str]:
    """The replay files a resume checkpoint's sidecar names: its ranges (``replay_files.py``), or the single replay
    file of an orch before them."""
    names = {str(r["name"]) for r in (meta.get("replay_chunks") or {}).values()}
    if meta.get("replay_checkpoint"):
        names.add(str(meta["replay_checkpoint"]))
    return names


def prune(run_dir: Path, newest: CheckpointInfo, keep_last: int) -> list[Path]:
    """After ``newest`` (a resume checkpoint) is complete: delete the step checkpoints beyond the ``keep_last``
    newest and every replay file ``newest`` does not name. Returns the deleted checkpoint files."""
    found = list_checkpoints(run_dir, verify=False)
    keep_replay = chunk_names(newest.meta)
    steps = [c for c in found if c.kind == "step" and c.sidecar != newest.sidecar]
    keep_steps = keep_last - (1 if newest.kind == "step" else 0)
    doomed = steps[: max(len(steps) - max(keep_steps, 0), 0)]
    doomed += [c for c in found if c.kind == "replay" and c.path.stem not in keep_replay]
    for info in doomed:
        delete_checkpoint(info)
    return [c.path for c in doomed]


def _uncompiled(key: str) -> str:
    return key.replace(COMPILED_PREFIX, "")
