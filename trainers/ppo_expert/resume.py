"""Resuming a run: restore the trainer state from a checkpoint and cut the logs back to it.

Anything written after the checkpoint (metrics lines, evaluation episodes, a ``best`` newer than the state) belongs to
work that the resumed run will redo, so it is dropped; that is what makes "no evaluation step repeated or skipped"
hold in the files as well as in the schedule.
"""

from __future__ import annotations

from pathlib import Path

from manifests import atomic_write_text
from trainers.common.checkpoints import CheckpointInfo, list_checkpoints, save_checkpoint
from trainers.common.metrics_stream import read_jsonl
from trainers.common.run_record import RunRecorder
from trainers.ppo_expert.callbacks import write_timeline
from trainers.ppo_expert.state import TrainerState, restore_rng

__all__ = ["clear_logs", "restore_state", "sync_best", "truncate_logs"]


def restore_state(checkpoint: CheckpointInfo) -> TrainerState:
    """The trainer state saved with ``checkpoint``; RNG states are restored into this process."""
    data = checkpoint.meta.get("trainer_state")
    if not data:
        raise ValueError(f"{checkpoint.sidecar} has no trainer_state: it was not written by the ppo_expert trainer")
    state = TrainerState.from_json(data)
    if state.rng:
        restore_rng(state.rng)
    return state


def _rewrite_jsonl(path: Path, keep: list[dict]) -> None:
    import json

    atomic_write_text(path, "".join(json.dumps(r, allow_nan=False) + "\n" for r in keep))


def truncate_logs(run_dir: Path, checkpoint: CheckpointInfo) -> None:
    """Keep metrics lines up to the checkpoint's step and episodes up to its evaluation step; rewrite the timeline."""
    eval_step = int(checkpoint.meta.get("eval_step", checkpoint.step))
    metrics = run_dir / "metrics.jsonl"
    if metrics.exists():
        _rewrite_jsonl(metrics, [r for r in read_jsonl(metrics) if int(r.get("step", 0)) <= checkpoint.step])
    episodes = run_dir / "episodes.jsonl"
    if episodes.exists():
        _rewrite_jsonl(episodes, [r for r in read_jsonl(episodes) if int(r.get("eval_step", 0)) <= eval_step])
    state = TrainerState.from_json(checkpoint.meta["trainer_state"])
    write_timeline(run_dir, state.timeline)


def clear_logs(run_dir: Path) -> None:
    """Empty the logs of an attempt that left no checkpoint (a resume of it starts from step 0)."""
    for name in ("metrics.jsonl", "episodes.jsonl"):
        if (run_dir / name).exists():
            _rewrite_jsonl(run_dir / name, [])
    if (run_dir / "eval_timeline.json").exists():
        write_timeline(run_dir, [])


def sync_best(run_dir: Path, state: TrainerState, recorder: RunRecorder) -> None:
    """Make ``best`` the checkpoint the restored tracker names (a crash may have left a newer or older one)."""
    if state.best.step is None:
        return
    all_ckpts = list_checkpoints(run_dir)
    best = next((c for c in all_ckpts if c.kind == "best"), None)
    if best is not None and int(best.meta.get("eval_step", -1)) == state.best.step:
        return
    source = next(
        (c for c in all_ckpts if c.kind == "step" and int(c.meta.get("eval_step", -1)) == state.best.step), None
    )
    if source is None:
        return
    data = source.path.read_bytes()
    info = save_checkpoint(
        run_dir,
        "best",
        lambda p: p.write_bytes(data),
        step=source.step,
        kind="best",
        suffix=".zip",
        metrics=source.metrics,
        meta=source.meta,
    )
    recorder.record_checkpoint(info.path, step=info.step, sha256=info.sha256, kind="best", metrics=info.metrics)
