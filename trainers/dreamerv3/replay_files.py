"""The replay on disk in chunks, so that a checkpoint writes what changed, not the whole replay again.

The ring (``SequenceReplay``) is cut into fixed slot ranges (:data:`~trainers.dreamerv3.replay.CHUNKS` of them). A
resume checkpoint names one immutable file per filled range (``replay_<env steps>_c<range>``, kind ``replay``, with
its sha256) and keeps the ring's positions and sampling RNG in its own state. Writing a checkpoint writes only the
ranges the ring wrote into since the previous checkpoint, plus any the previous one did not name; the others are
named again as they are. With the auxme config (a 5M-step replay, a checkpoint every 100k env steps) that is about 2
of 32 ranges, 1 GB instead of 16.7 GB per checkpoint (``bench/dreamer_checkpoints.py``).

Files are never rewritten in place: a checkpoint that dies half-written leaves the previous one whole, and the
files only the previous one named are deleted once the new one is complete (``checkpoints.prune``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from trainers.common.checkpoints import CheckpointInfo, list_checkpoints, verify_checkpoint
from trainers.dreamerv3.replay import SequenceReplay

__all__ = ["ChunkRecords", "load_replay_chunks", "ring_state", "write_replay_chunks"]

ChunkRecords = dict[str, dict[str, str]]  # range index (a string: JSON keys) -> {"name": file stem, "sha256": ...}
_FIELDS = ("action", "reward", "is_first", "is_terminal")


def ring_state(replay: SequenceReplay) -> dict[str, Any]:
    """What a resume needs of the ring besides its stored steps: positions, layout and the sampling RNG."""
    return {
        "pos": replay.pos,
        "count": replay.count,
        "total_added": replay.total_added,
        "num_envs": replay.num_envs,
        "per_env": replay.per_env,
        "chunk_slots": replay.chunk_slots,
        "generator": replay.generator.get_state(),
    }


def _filled_ranges(replay: SequenceReplay) -> range:
    return range(-(-replay.count // replay.chunk_slots))


def _range_payload(replay: SequenceReplay, index: int) -> dict[str, Any]:
    start = index * replay.chunk_slots
    stop = min(start + replay.chunk_slots, replay.count)

    def part(t: Tensor) -> Tensor:
        return t[:, start:stop].cpu().clone()

    return {
        "start": start,
        "obs": {k: part(v) for k, v in replay.obs.items()},
        **{name: part(getattr(replay, name)) for name in _FIELDS},
    }


def write_replay_chunks(
    replay: SequenceReplay,
    previous: Mapping[str, Mapping[str, str]],
    step: int,
    save: Callable[[str, dict[str, Any]], CheckpointInfo],
) -> tuple[ChunkRecords, list[CheckpointInfo]]:
    """Save the ranges changed since ``previous`` (the records of the last checkpoint) with ``save(name, payload)``;
    returns the records of every filled range and the files written."""
    records: ChunkRecords = {}
    written: list[CheckpointInfo] = []
    for index in _filled_ranges(replay):
        key = str(index)
        if index in replay.dirty or key not in previous:
            info = save(f"replay_{step}_c{index:02d}", _range_payload(replay, index))
            written.append(info)
            records[key] = {"name": info.path.stem, "sha256": info.sha256}
        else:
            records[key] = dict(previous[key])
    replay.dirty.clear()
    return records, written


def load_replay_chunks(
    replay: SequenceReplay, records: Mapping[str, Mapping[str, str]], ring: Mapping[str, Any], run_dir: Path
) -> str | None:
    """Fill ``replay`` from the named ranges; returns why it could not (the replay is then left empty), or None.

    Every file is verified against the sha256 its checkpoint recorded before anything is copied in."""
    layout = tuple(int(ring[k]) for k in ("num_envs", "per_env", "chunk_slots"))
    if layout != (replay.num_envs, replay.per_env, replay.chunk_slots):
        now = (replay.num_envs, replay.per_env, replay.chunk_slots)
        return f"the replay's layout (envs, slots per env, slots per range) changed from {layout} to {now}"
    found = {c.path.stem: c for c in list_checkpoints(run_dir, verify=False) if c.kind == "replay"}
    files = []
    for key in sorted(records, key=int):
        info = found.get(records[key]["name"])
        if info is None or info.sha256 != records[key]["sha256"] or not verify_checkpoint(info):
            return f"replay file {records[key]['name']} is absent or torn"
        files.append(info.path)
    for path in files:
        _copy_in(replay, torch.load(path, map_location="cpu", weights_only=False))
    replay.pos, replay.count, replay.total_added = int(ring["pos"]), int(ring["count"]), int(ring["total_added"])
    replay.generator.set_state(ring["generator"])
    replay.dirty.clear()
    return None


def _copy_in(replay: SequenceReplay, payload: Mapping[str, Any]) -> None:
    start = int(payload["start"])
    stop = start + int(payload["reward"].shape[1])
    for k, v in payload["obs"].items():
        replay.obs[k][:, start:stop] = v.to(replay.device)
    for name in _FIELDS:
        getattr(replay, name)[:, start:stop] = payload[name].to(replay.device)
