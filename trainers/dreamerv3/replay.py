"""Sequence replay: one ring buffer per environment, uniform sampling of fixed-length windows.

Each stored step is (obs_t, action that led to obs_t, reward_t, is_first_t, is_terminal_t). A sampled window never
spans two environments or the ring's write head, and the world model resets its state at every ``is_first`` inside a
window (and starts every window from its initial state), so no sequence carries state across an episode boundary.
Storage is allocated once for ``capacity`` steps
(pages are committed as they fill, so resident memory grows with the fill and is bounded by the capacity) and can
live on the GPU (``replay_on_device``). The ring is cut into :data:`CHUNKS` slot ranges that are saved separately
(``replay_files.py``); :meth:`SequenceReplay.add` marks the range it writes into, so that a checkpoint rewrites only
what changed since the last one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["CHUNKS", "SequenceReplay"]

CHUNKS = 32  # slot ranges of the ring on disk: a checkpoint every 1/32 of the capacity rewrites about 2 of them


class SequenceReplay:
    """Ring buffers of shape (num_envs, capacity // num_envs, ...) with one shared write position."""

    def __init__(
        self,
        obs_shapes: Mapping[str, tuple[int, ...]],
        action_size: int,
        *,
        capacity: int,
        num_envs: int,
        device: torch.device | str = "cpu",
        seed: int = 0,
    ):
        self.num_envs = num_envs
        self.per_env = capacity // num_envs
        if self.per_env < 2:
            raise ValueError(f"replay capacity {capacity} too small for {num_envs} envs")
        self.device = torch.device(device)
        shape = (num_envs, self.per_env)
        self.obs = {k: torch.empty(*shape, *s, dtype=torch.float32, device=self.device) for k, s in obs_shapes.items()}
        self.action = torch.empty(*shape, action_size, dtype=torch.float32, device=self.device)
        self.reward = torch.empty(*shape, dtype=torch.float32, device=self.device)
        self.is_first = torch.empty(*shape, dtype=torch.bool, device=self.device)
        self.is_terminal = torch.empty(*shape, dtype=torch.bool, device=self.device)
        self.pos = 0
        self.count = 0
        self.total_added = 0
        self.chunk_slots = -(-self.per_env // CHUNKS)  # slots per env in one chunk (ceil)
        self.dirty: set[int] = set()  # chunks written since they were last saved
        # On the replay's device: with a GPU replay the indices are drawn there and a batch is gathered without any
        # host-to-device copy.
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed + 104729)

    @property
    def capacity(self) -> int:
        return self.num_envs * self.per_env

    def __len__(self) -> int:
        """Steps held (all environments)."""
        return self.count * self.num_envs

    def add(self, obs: Mapping[str, Any], action: Any, reward: Any, is_first: Any, is_terminal: Any) -> None:
        """Append one step of every environment (arrays with a leading num_envs axis)."""
        p = self.pos
        for k, v in obs.items():
            self.obs[k][:, p] = torch.as_tensor(np.asarray(v), dtype=torch.float32, device=self.device)
        self.action[:, p] = torch.as_tensor(np.asarray(action), dtype=torch.float32, device=self.device)
        self.reward[:, p] = torch.as_tensor(np.asarray(reward), dtype=torch.float32, device=self.device)
        self.is_first[:, p] = torch.as_tensor(np.asarray(is_first), dtype=torch.bool, device=self.device)
        self.is_terminal[:, p] = torch.as_tensor(np.asarray(is_terminal), dtype=torch.bool, device=self.device)
        self.dirty.add(p // self.chunk_slots)
        self.pos = (p + 1) % self.per_env
        self.count = min(self.count + 1, self.per_env)
        self.total_added += self.num_envs

    def can_sample(self, length: int) -> bool:
        return self.count >= length

    def sample_indices(self, batch: int, length: int) -> tuple[Tensor, Tensor]:
        """Uniform (env, physical start) pairs over every window of ``length`` that fits in stored data."""
        if not self.can_sample(length):
            raise ValueError(f"replay holds {self.count} steps per env, fewer than the sequence length {length}")
        starts_per_env = self.count - length + 1
        k = torch.randint(0, self.num_envs * starts_per_env, (batch,), generator=self.generator, device=self.device)
        env = k // starts_per_env
        oldest = self.pos if self.count == self.per_env else 0
        start = (oldest + k % starts_per_env) % self.per_env
        return env, start

    def sample(self, batch: int, length: int, device: torch.device | None = None) -> dict[str, Any]:
        """A (batch, length) batch: {"obs": {key: ...}, "action", "reward", "is_first", "is_terminal", "index"}."""
        env, start = self.sample_indices(batch, length)
        return self.gather(torch.stack([env, start], 1), length, device)

    def gather(self, index: Tensor, length: int, device: torch.device | None = None) -> dict[str, Any]:
        """The windows of ``length`` at ``index`` ((batch, 2) rows of env, physical start), as :meth:`sample` gives
        them: a batch can be rebuilt from its ``"index"`` while the ring has not overwritten it."""
        env, start = index[:, 0], index[:, 1]
        env_d, start_d = env.to(self.device), start.to(self.device)
        time = (start_d.unsqueeze(1) + torch.arange(length, device=self.device)) % self.per_env
        e = env_d.unsqueeze(1)
        out: dict[str, Any] = {
            "obs": {k: v[e, time] for k, v in self.obs.items()},
            "action": self.action[e, time],
            "reward": self.reward[e, time],
            "is_first": self.is_first[e, time],
            "is_terminal": self.is_terminal[e, time],
        }
        if device is not None and device != self.device:
            out = _to(out, device)
        out["index"] = torch.stack([env, start], 1)
        return out

    def empty_batch(
        self, batch: int, length: int, device: torch.device | None = None, *, pin: bool = False
    ) -> dict[str, Any]:
        """Tensors shaped like :meth:`sample`'s batch, allocated once (on ``device``, default the replay's; ``pin``:
        page-locked host memory, so a copy to a GPU can run without blocking)."""
        where = self.device if device is None else torch.device(device)

        def empty(*shape: int, dtype: torch.dtype = torch.float32) -> Tensor:
            out = torch.empty(*shape, dtype=dtype, device=where)
            return out.pin_memory() if pin else out

        return {
            "obs": {k: empty(batch, length, *v.shape[2:]) for k, v in self.obs.items()},
            "action": empty(batch, length, self.action.shape[-1]),
            "reward": empty(batch, length),
            "is_first": empty(batch, length, dtype=torch.bool),
            "is_terminal": empty(batch, length, dtype=torch.bool),
            "index": empty(batch, 2, dtype=torch.long),
        }

    def gather_into(self, index: Tensor, length: int, out: Mapping[str, Any]) -> Mapping[str, Any]:
        """:meth:`gather` into preallocated tensors on the replay's device (from :meth:`empty_batch`), without
        allocating: one ``index_select`` per field over the storage seen as (num_envs * per_env, ...) rows."""
        env, start = index[:, 0].to(self.device), index[:, 1].to(self.device)
        time = (start.unsqueeze(1) + torch.arange(length, device=self.device)) % self.per_env
        rows = (env.unsqueeze(1) * self.per_env + time).reshape(-1)
        fields = [(self.obs[k], out["obs"][k]) for k in self.obs]
        fields += [(getattr(self, k), out[k]) for k in ("action", "reward", "is_first", "is_terminal")]
        for storage, target in fields:
            flat = storage.reshape(-1, *storage.shape[2:])
            torch.index_select(flat, 0, rows, out=target.view(-1, *target.shape[2:]))
        out["index"].copy_(index)
        return out

    def state_dict(self) -> dict[str, Any]:
        """The stored steps (only the filled part) plus positions and the sampling RNG.

        A full CPU buffer is handed over as it is (no copy: a checkpoint of a 1e6-step replay must not double the
        process's memory); a partly filled one is copied down to its filled part so the file stays small.
        """
        n = self.count

        def part(t: Tensor) -> Tensor:
            if n == self.per_env and t.device.type == "cpu":
                return t
            return t[:, :n].cpu().clone()

        return {
            "obs": {k: part(v) for k, v in self.obs.items()},
            "action": part(self.action),
            "reward": part(self.reward),
            "is_first": part(self.is_first),
            "is_terminal": part(self.is_terminal),
            "pos": self.pos,
            "count": self.count,
            "total_added": self.total_added,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        n = int(state["count"])
        for k, v in state["obs"].items():
            self.obs[k][:, :n] = v.to(self.device)
        for name in ("action", "reward", "is_first", "is_terminal"):
            getattr(self, name)[:, :n] = state[name].to(self.device)
        self.pos, self.count, self.total_added = int(state["pos"]), n, int(state["total_added"])
        self.generator.set_state(state["generator"])


def _to(tree: Any, device: torch.device) -> Any:
    if isinstance(tree, dict):
        return {k: _to(v, device) for k, v in tree.items()}
    return tree.to(device, non_blocking=True)
