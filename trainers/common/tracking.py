"""Experiment tracking: TensorBoard event files and Weights & Biases, behind one small object.

W&B runs offline into the run directory when there is no API key (or ``mode: offline``/``WANDB_MODE=offline``), so
tests and air-gapped nodes never touch the network. On a cluster's compute nodes the job entry sets
``ORCH_WANDB_OFFLINE`` (unless the profile sets ``WANDB_MODE``): nodes usually have no route out, and ``orch sync``
uploads the offline runs from a login node. The W&B run id is kept by the caller in the run manifest and passed back
on resume, so a resumed run continues the same W&B run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from trainers.common.job import WANDB_OFFLINE_ON_NODE

if TYPE_CHECKING:  # heavy, imported only when a tracker is built
    from torch.utils.tensorboard import SummaryWriter
    from wandb.sdk.wandb_run import Run

__all__ = ["Tracker", "WandbMode", "wandb_mode"]

WandbMode = Literal["online", "offline", "disabled"]


def wandb_mode(configured: str | None) -> WandbMode:
    """``WANDB_MODE`` wins over the config; without an API key anything but ``disabled`` becomes ``offline``.

    An unknown mode also becomes ``offline``: a typo must never send data anywhere. ``$ORCH_WANDB_OFFLINE`` (a compute
    node without network) turns ``online`` into ``offline`` too.
    """
    requested = os.environ.get("WANDB_MODE") or configured or "online"
    if requested == "disabled":
        return "disabled"
    if os.environ.get(WANDB_OFFLINE_ON_NODE):
        return "offline"
    has_key = bool(os.environ.get("WANDB_API_KEY")) or (Path.home() / ".netrc").exists()
    if requested == "online" and has_key:
        return "online"
    return "offline"


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
        self._tb: SummaryWriter | None = None
        self._wandb_run: Run | None = None
        self.wandb_run_id: str | None = None
        self.wandb_mode: WandbMode | None = None
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
        run = wandb.init(
            project=cfg.get("project") or "orch",
            entity=cfg.get("entity"),
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
        self._wandb_run = run
        self.wandb_run_id = run.id

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
