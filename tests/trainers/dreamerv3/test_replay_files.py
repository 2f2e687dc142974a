"""The replay on disk in ranges (``replay_files.py``): what is written, and that loading gives the same ring back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainers.common.checkpoints import CheckpointInfo, save_checkpoint
from trainers.dreamerv3.replay import CHUNKS, SequenceReplay
from trainers.dreamerv3.replay_files import load_replay_chunks, ring_state, write_replay_chunks

SHAPES = {"observation": (3,), "grid": (2, 2)}


def _replay(capacity: int = 2 * 96, seed: int = 0) -> SequenceReplay:
    return SequenceReplay(SHAPES, 2, capacity=capacity, num_envs=2, seed=seed)


def _add(replay: SequenceReplay, steps: int, rng: np.random.Generator) -> None:
    for _ in range(steps):
        obs = {k: rng.standard_normal((2, *s)).astype(np.float32) for k, s in SHAPES.items()}
        first = rng.random(2) < 0.1
        replay.add(obs, rng.standard_normal((2, 2)), rng.standard_normal(2), first, rng.random(2) < 0.05)


def _saver(run_dir: Path, step: int) -> Any:
    def save(name: str, payload: dict[str, Any]) -> CheckpointInfo:
        return save_checkpoint(run_dir, name, lambda p: torch.save(payload, p), step=step, kind="replay")

    return save


def _same(a: SequenceReplay, b: SequenceReplay) -> None:
    n = a.count
    assert (a.pos, a.count, a.total_added) == (b.pos, b.count, b.total_added)
    for k in SHAPES:
        assert torch.equal(a.obs[k][:, :n], b.obs[k][:, :n])
    for name in ("action", "reward", "is_first", "is_terminal"):
        assert torch.equal(getattr(a, name)[:, :n], getattr(b, name)[:, :n])
    assert torch.equal(a.sample(4, 8)["index"], b.sample(4, 8)["index"])  # the sampling RNG came along too


def test_only_changed_ranges_are_written_and_the_ring_loads_back_after_wrapping(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    replay = _replay()
    assert replay.chunk_slots == 3 and CHUNKS == 32  # 96 slots per env in 32 ranges
    _add(replay, 40, rng)
    records, written = write_replay_chunks(replay, {}, 80, _saver(tmp_path, 80))
    assert len(records) == len(written) == 14  # ceil(40 / 3) ranges hold data, all new
    _add(replay, 5, rng)  # slots 40..44: ranges 13 and 14
    records2, written2 = write_replay_chunks(replay, records, 90, _saver(tmp_path, 90))
    assert sorted(int(k) for k in records2 if records2[k] != records.get(k)) == [13, 14]
    assert [w.path.stem for w in written2] == ["replay_90_c13", "replay_90_c14"]
    _add(replay, 100, rng)  # past the capacity: the ring wraps and overwrites from slot 0
    assert replay.count == 96 and replay.pos == 145 % 96
    records3, _ = write_replay_chunks(replay, records2, 290, _saver(tmp_path, 290))
    assert len(records3) == 32
    ring = ring_state(replay)
    fresh = _replay(seed=7)
    assert load_replay_chunks(fresh, records3, ring, tmp_path) is None
    _same(replay, fresh)
    assert not fresh.dirty  # what was loaded is on disk already


def test_a_torn_range_or_a_new_layout_loads_nothing(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    replay = _replay()
    _add(replay, 20, rng)
    records, written = write_replay_chunks(replay, {}, 40, _saver(tmp_path, 40))
    ring = ring_state(replay)
    other = _replay(capacity=2 * 64)
    assert "layout" in str(load_replay_chunks(other, records, ring, tmp_path))
    written[3].path.write_bytes(b"torn")
    fresh = _replay()
    why = load_replay_chunks(fresh, records, ring, tmp_path)
    assert why == f"replay file {written[3].path.stem} is absent or torn"
    assert (fresh.count, fresh.pos, fresh.total_added) == (0, 0, 0)  # verified before anything is copied in
