"""What a DreamerV3 run leaves behind: the metrics and episode streams with TensorBoard / W&B (:class:`RunOutputs`),
failure bundles, the policy manifest, run metadata."""

from __future__ import annotations

import json
import math
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from manifests import (
    PolicyManifest,
    atomic_path,
    atomic_write_json,
    publish_policy_manifest,
    save_policy_manifest,
    utc_now,
)
from manifests.provenance import code_identity, package_versions
from trainers.common.checkpoints import CheckpointInfo
from trainers.common.job import TrainJob
from trainers.common.metrics_stream import JsonlWriter, to_jsonable
from trainers.common.run_record import RunRecorder
from trainers.common.tracking import Tracker
from trainers.dreamerv3.config import DreamerConfig

__all__ = [
    "TRAINER_VERSIONS",
    "RunOutputs",
    "open_outputs",
    "run_metadata",
    "summarize",
    "write_failure_bundle",
    "write_policy_manifest",
]

TRAINER_VERSIONS = ("orch", "torch", "gymnasium", "numpy", "wandb")


@dataclass
class RunOutputs:
    """The streams a run writes while it trains: ``metrics.jsonl``, ``episodes.jsonl`` and the tracker."""

    tracker: Tracker
    metrics: JsonlWriter
    episodes: JsonlWriter
    closed: bool = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.tracker.close()
            self.metrics.close()
            self.episodes.close()


def open_outputs(
    run_dir: Path, cfg: DreamerConfig, job: TrainJob, recorder: RunRecorder, device: torch.device
) -> RunOutputs:
    """Open the tracker (TensorBoard, W&B with the run's recorded id on a resume) and the JSONL streams (appending),
    record the tracking in ``run.json`` and write ``run_meta.json``."""
    tracking = cfg.tracking or {}
    manifest = recorder.load()
    tracker = Tracker(
        run_dir,
        tensorboard=bool(tracking.get("tensorboard", True)),
        wandb_config=tracking.get("wandb") or {},
        run_config=to_jsonable(dict(job.settings)),
        wandb_run_id=manifest.tracking.get("wandb_run_id"),
        run_name=run_dir.name,
    )
    recorder.set_tracking(
        tensorboard_dir="tensorboard" if tracker.tensorboard_dir else None,
        wandb_run_id=tracker.wandb_run_id,
        wandb_mode=tracker.wandb_mode,
    )
    outputs = RunOutputs(tracker, JsonlWriter(run_dir / "metrics.jsonl"), JsonlWriter(run_dir / "episodes.jsonl"))
    atomic_write_json(run_dir / "run_meta.json", to_jsonable(run_metadata(device, job.resolved)))
    return outputs


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """{mean, median, p95, ci95 [lo, hi], n}: upstream's metric shape (normal approximation for the CI)."""
    vals = sorted(float(v) for v in values)
    n = len(vals)
    if n == 0:
        return {"mean": None, "median": None, "p95": None, "ci95": [None, None], "n": 0}
    mean = sum(vals) / n
    median = vals[n // 2] if n % 2 else 0.5 * (vals[n // 2 - 1] + vals[n // 2])
    p95 = vals[min(n - 1, math.ceil(0.95 * n) - 1)]
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else 0.0
    half = 1.96 * std / math.sqrt(n)
    return {"mean": mean, "median": median, "p95": p95, "ci95": [mean - half, mean + half], "n": n}


def run_metadata(device: torch.device, resolved: Mapping[str, Any]) -> dict[str, Any]:
    """torch version, device name, git commit and dirty flag, config hash (written to ``run_meta.json``)."""
    code = code_identity()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return {
        "torch_version": torch.__version__,
        "device": str(device),
        "device_name": name,
        "num_threads": torch.get_num_threads(),
        "git_commit": code.get("git_commit"),
        "git_dirty": code.get("git_dirty"),
        "config_hash": resolved.get("config_hash"),
        "seed": resolved.get("seed"),
        "created_at": utc_now(),
    }


def write_failure_bundle(
    run_dir: Path,
    *,
    reason: str,
    env_steps: int,
    opt_steps: int,
    last_metrics: Mapping[str, Any],
    error_metrics: Mapping[str, Any],
    resolved: Mapping[str, Any],
    batch: Mapping[str, Any] | None,
    max_sequences: int = 2,
) -> Path:
    """``failures/<time>-step<N>/``: reason, step, last metrics, config, a tiny batch and a repro command."""
    stamp = utc_now().replace(":", "").replace("-", "").replace("+0000", "Z")
    folder = run_dir / "failures" / f"{stamp}-step{env_steps}"
    folder.mkdir(parents=True, exist_ok=True)
    repro = [
        f"orch run --resume {shlex.quote(str(run_dir))}",
        f"orch run {shlex.quote(str(run_dir / 'config.yaml'))} --seed {resolved.get('seed')}",
    ]
    indices: list[Any] = []
    nonfinite_obs: dict[str, int] = {}
    if batch is not None:
        _save_tiny_batch(batch, folder / "batch.pt", max_sequences)
        indices = batch["index"].tolist()
        nonfinite_obs = {key: int((~torch.isfinite(v)).sum()) for key, v in batch["obs"].items()}
    atomic_write_json(
        folder / "failure.json",
        to_jsonable(
            {
                "reason": reason,
                "env_steps": env_steps,
                "opt_steps": opt_steps,
                "time": utc_now(),
                "replay_indices": indices,
                "replay_index_columns": ["env", "start"],
                "nonfinite_obs_values": nonfinite_obs,
                "error_metrics": dict(error_metrics),
                "last_metrics": dict(last_metrics),
                "repro": repro,
                "argv": sys.argv,
            }
        ),
    )
    atomic_write_json(folder / "resolved.json", to_jsonable(dict(resolved)))
    (folder / "repro.sh").write_text(
        "#!/bin/sh\n# Resume the failed run (or rerun it from its config):\n" + "\n".join(repro) + "\n"
    )
    return folder


def _save_tiny_batch(batch: Mapping[str, Any], path: Path, sequences: int) -> None:
    """The first ``sequences`` sequences of the failing batch (and its replay indices), on the host."""
    tiny = {
        "obs": {key: v[:sequences].detach().cpu() for key, v in batch["obs"].items()},
        **{k: batch[k][:sequences].detach().cpu() for k in ("action", "reward", "is_first", "is_terminal")},
        "replay_index": batch["index"].cpu(),
    }
    with atomic_path(path) as tmp:
        torch.save(tiny, tmp)


def write_policy_manifest(
    *,
    run_dir: Path,
    resolved: Mapping[str, Any],
    final: CheckpointInfo,
    best: CheckpointInfo | None,
    eval_returns: Sequence[float],
    best_returns: Sequence[float],
    observation_signature: Mapping[str, Any],
    action_space: Mapping[str, Any],
    env_steps: int,
    dry_run: bool,
) -> Path:
    """Write ``policy.json`` and publish it under ``<artifact_root>/policies/<policy_id>/``; returns the run copy."""
    code = code_identity()
    settings = resolved.get("settings") or {}
    config_manifest = run_dir / "resolved.json"
    if not config_manifest.exists():
        config_manifest = run_dir / "config.yaml"
    scenario = (settings.get("env") or {}).get("scenario_id") or (settings.get("env") or {}).get("id")
    manifest = PolicyManifest(
        policy_id=str(resolved.get("name") or run_dir.name),
        version=utc_now()[:10].replace("-", ""),
        seeds=[int(resolved["seed"])] if resolved.get("seed") is not None else [],
        scenario_profile=[str(scenario)] if scenario else [],
        metrics={"eval_episode_return": summarize(eval_returns), "env_steps": summarize([env_steps])},
        checkpoint_path=str(final.path.resolve()),
        config_manifest=str(config_manifest.resolve()),
        validation_state="synthetic" if dry_run else "draft",
        trainer="dreamerv3",
        run_id=run_dir.name,
        observation_signature=dict(observation_signature),
        action_space=dict(action_space),
        checkpoint_sha256=final.sha256,
        config_hash=str(resolved.get("config_hash") or ""),
        git_commit=code.get("git_commit"),
        git_dirty=code.get("git_dirty"),
        versions=package_versions(TRAINER_VERSIONS),
        metrics_best={"eval_episode_return": summarize(best_returns)},
        dry_run=dry_run,
    )
    manifest.extra.update(
        {
            "best_checkpoint_path": str(best.path.resolve()) if best else None,
            "best_checkpoint_sha256": best.sha256 if best else None,
            "best_checkpoint_step": best.step if best else None,
            "final_checkpoint_step": final.step,
        }
    )
    artifact_root = run_dir.parent.parent
    try:
        published = publish_policy_manifest(artifact_root, manifest)
        manifest.extra["published_path"] = str(published.resolve())
    except OSError as exc:  # a read-only or odd artifact root must not lose the run's own copy
        manifest.extra["publish_error"] = str(exc)
    return save_policy_manifest(run_dir, manifest)


def dump_json(path: Path, data: Any) -> None:
    """Small helper: atomic JSON of anything JSON-able after :func:`to_jsonable`."""
    atomic_write_json(path, json.loads(json.dumps(to_jsonable(data))))
