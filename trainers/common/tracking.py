"""Experiment tracking: TensorBoard event files and Weights & Biases, behind one small object.

W&B runs offline into the run directory when there is no API key (or ``mode: offline``/``WANDB_MODE=offline``), so
tests and air-gapped nodes never touch the network. The W&B run id is kept by the caller in the run manifest and
passed back on resume, so a resumed run continues the same W&B run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["Tracker", "wandb_mode"]


def wandb_mode(configured: str | None) -> str:
    """``WANDB_MODE`` wins over the config; without an API key anything but ``disabled`` becomes ``offline``."""
    mode = os.environ.get("WANDB_MODE") or configured or "online"
    if mode not in ("online", "offline", "disabled"):
        mode = "offline"
    has_key = bool(os.environ.get("WANDB_API_KEY")) or (Path.home() / ".netrc").exists()
    if mode == "online" and not has_key:
        mode = "offline"
    return mode


class Tracker:
    """Scalars to TensorBoard (``run_dir/tensorboard``) and, when enabled, to W&B (``run_dir/wandb``)."""

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        *,
        tensorboard: bool = True,
        wandb_config: Mapping[str, Any] | None = None,
        run_config: Mapping[str, Any] | None = None,
        wandb_run_id: str | None = None,
        run_name: str | None = None,
    ):
        self.run_dir = Path(run_dir)
        self._tb = None
        self._wandb_run = None
        self.wandb_run_id: str | None = None
        self.wandb_mode: str | None = None
        self.tensorboard_dir: Path | None = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard_dir = self.run_dir / "tensorboard"
            self._tb = SummaryWriter(log_dir=str(self.tensorboard_dir))
        cfg = dict(wandb_config or {})
        if cfg.get("enabled"):
            self._start_wandb(cfg, run_config or {}, wandb_run_id, run_name)

    def _start_wandb(
        self, cfg: dict[str, Any], run_config: Mapping[str, Any], run_id: str | None, run_name: str | None
    ) -> None:
        mode = wandb_mode(cfg.get("mode"))
        self.wandb_mode = mode
        if mode == "disabled":
            return
        import wandb

        wandb_dir = self.run_dir / "wandb"
        wandb_dir.mkdir(parents=True, exist_ok=True)
        self._wandb_run = wandb.init(
            project=cfg.get("project") or "orch",
            group=cfg.get("group"),
            job_type=cfg.get("job_type"),
            name=cfg.get("name") or run_name,
            notes=cfg.get("notes"),
            tags=list(cfg.get("tags") or []) or None,
            config=dict(run_config),
            dir=str(self.run_dir),
            mode=mode,
            id=run_id,
            resume="allow" if run_id else None,
            settings=wandb.Settings(console="off", silent=True, x_disable_stats=True),
            reinit="create_new",
        )
        self.wandb_run_id = self._wandb_run.id

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        """Log numeric scalars; non-numeric values are ignored (they belong in metrics.jsonl)."""
        scalars = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        if self._tb is not None:
            for key, value in scalars.items():
                self._tb.add_scalar(key, value, global_step=step)
        if self._wandb_run is not None:
            self._wandb_run.log(scalars, step=step)

    def flush(self) -> None:
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        """Flush and close both; safe to call twice."""
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._wandb_run is not None:
            self._wandb_run.finish()
            self._wandb_run = None
