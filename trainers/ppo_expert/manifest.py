"""The policy manifest of a trained PPO expert, and the run manifest's start and end fields.

``policy.json`` carries every field of upstream's expert manifest (policy_id, version, seeds, scenario_profile,
metrics {mean, median, p95, ci95}, checkpoint_path, config_manifest, validation_state, created_at) plus what pins the
policy: observation signature, action space, checkpoint sha256, run id, config hash, git commit and dirty flag, SB3 and
torch versions. It is written into the run directory and published under
``<artifact_root>/policies/<policy_id>/<version>.json`` with a version nobody has used (a rerun never overwrites).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from manifests import PolicyManifest, publish_policy_manifest, save_policy_manifest, update_run_manifest, utc_now
from manifests.provenance import code_identity, package_versions
from trainers.common.checkpoints import CheckpointInfo
from trainers.ppo_expert.stats import summarize

__all__ = ["TRAINER_VERSIONS", "build_policy_manifest", "mark_dry_run", "write_policy_manifest"]

TRAINER_VERSIONS = ("orch", "torch", "stable-baselines3", "gymnasium", "numpy", "wandb")


def _counter_metric(value: float) -> dict[str, Any]:
    """A run-level number (steps) in the metric shape, as upstream writes timesteps_to_convergence."""
    return summarize([float(value)])


def build_policy_manifest(
    *,
    resolved: Mapping[str, Any],
    run_dir: Path,
    final: CheckpointInfo,
    best: CheckpointInfo | None,
    final_summary: Mapping[str, Any],
    best_summary: Mapping[str, Any],
    scenario_profile: Sequence[str],
    action_space: Mapping[str, Any],
    total_timesteps_executed: int,
    timesteps_to_convergence: int | None,
    dry_run: bool,
) -> PolicyManifest:
    """Assemble (not write) the manifest; paths are absolute so the published copy points at the real files."""
    settings = resolved["settings"]
    code = code_identity()
    versions = package_versions(TRAINER_VERSIONS)
    metrics = {k: dict(v) for k, v in final_summary.items()}
    metrics["total_timesteps_executed"] = _counter_metric(total_timesteps_executed)
    if timesteps_to_convergence is not None:
        metrics["timesteps_to_convergence"] = _counter_metric(timesteps_to_convergence)
    config_manifest = run_dir / "resolved.json"
    if not config_manifest.exists():
        config_manifest = run_dir / "config.yaml"
    manifest = PolicyManifest(
        policy_id=str(settings["policy_id"]),
        version=utc_now()[:10].replace("-", ""),
        seeds=[int(resolved["seed"])] if resolved.get("seed") is not None else [int(s) for s in resolved["seeds"]],
        scenario_profile=list(scenario_profile),
        metrics=metrics,
        checkpoint_path=str(final.path.resolve()),
        config_manifest=str(config_manifest.resolve()),
        validation_state="synthetic" if dry_run else "draft",
        trainer="ppo_expert",
        run_id=run_dir.name,
        observation_signature=dict(resolved.get("observation_signature") or {}),
        action_space=dict(action_space),
        checkpoint_sha256=final.sha256,
        config_hash=str(resolved.get("config_hash") or ""),
        git_commit=code.get("git_commit"),
        git_dirty=code.get("git_dirty"),
        versions=versions,
        metrics_best={k: dict(v) for k, v in best_summary.items()},
        dry_run=dry_run,
    )
    manifest.extra.update(
        {
            "best_checkpoint_path": str(best.path.resolve()) if best else None,
            "best_checkpoint_sha256": best.sha256 if best else None,
            "best_checkpoint_step": best.step if best else None,
            "best_checkpoint_metric": settings.get("best_checkpoint_metric", "success_rate"),
            "final_checkpoint_step": final.step,
        }
    )
    return manifest


def write_policy_manifest(run_dir: Path, manifest: PolicyManifest, artifact_root: Path) -> Path:
    """Publish first (it picks the version), then write the run's own copy with that version; return the copy."""
    published = publish_policy_manifest(artifact_root, manifest)
    manifest.extra["published_path"] = str(published.resolve())
    return save_policy_manifest(run_dir, manifest)


def mark_dry_run(run_dir: Path) -> None:
    """``dry_run: true`` in run.json (a dry run's artefacts must never pass for a real policy)."""

    def change(m: Any) -> None:
        m.dry_run = True

    update_run_manifest(run_dir, change)
