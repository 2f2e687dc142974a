"""Learning curves of runs and sweeps: seeds of one configuration as a mean with a 95% band, configurations overlaid.

``orch plot RUN|SWEEP... [--metric M ...] [--x env_steps|wall_time] --out FILE.png`` lands here. Runs are grouped
by config hash (seeds apart); every group is one colour in every panel. Each seed's curve is interpolated onto a
common grid over the steps all seeds reached, so the mean and band never mix a seed's end with another's start.
A Dreamer run adds a row of world-model panels (reconstruction, reward, KL terms, prior/posterior entropy), and
where a run saved ``recon.npz`` an image strip and a short animation of real against decoded observations
(:mod:`orchestrator.plots.recon`). matplotlib is imported inside functions (Agg backend): importing this module
costs nothing.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.extras import require_extra
from orchestrator.gate.rundata import GateError, RunData, Series, load_runs

__all__ = ["DEFAULT_METRICS", "STANDING_STILL_PANEL", "PlotResult", "group_runs", "mean_band", "plot_runs"]

# Preferred learning-curve metrics per trainer, in panel order; those no run logs are left out.
DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
    "dreamerv3": ("episode_return", "return", "success_rate", "loss_model", "loss_actor", "loss_critic", "sps"),
    "ppo_expert": (
        "ep_return_mean",
        "ep_rew_mean",
        "success_rate",
        "collision_rate",
        "eval_episode_return",
        "loss",
        "value_loss",
        "policy_gradient_loss",
        "entropy",
        "approx_kl",
        "fps",
    ),
}
# The world-model row of a Dreamer run: (panel title, metrics drawn in it).
STANDING_STILL_PANEL: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("obs_nll", ("obs_nll",)),
    ("reward_nll", ("reward_nll",)),
    ("kl_dyn / kl_rep", ("kl_dyn", "kl_rep")),
    ("prior / posterior entropy", ("prior_entropy", "posterior_entropy")),
)
X_AXES = ("env_steps", "wall_time")
_GRID_POINTS = 200
# Two-sided 95% Student-t quantiles for n-1 degrees of freedom (few seeds are the rule, not the exception).
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


@dataclass
class PlotResult:
    """What was drawn: the files written, the metric panels, and the groups (label -> run ids)."""

    files: list[Path]
    metrics: list[str]
    groups: dict[str, list[str]]
    skipped: list[str] = field(default_factory=list)


def group_runs(runs: Sequence[RunData]) -> dict[str, list[RunData]]:
    """Runs keyed by a readable label per configuration: the run name, plus the short hash when names clash."""
    by_key: dict[str, list[RunData]] = {}
    for run in runs:
        by_key.setdefault(run.group_key, []).append(run)
    names = [group[0].name for group in by_key.values()]
    out: dict[str, list[RunData]] = {}
    for key, group in by_key.items():
        label = group[0].name if names.count(group[0].name) == 1 else f"{group[0].name} ({str(key)[:8]})"
        out[label] = group
    return out


def mean_band(curves: Sequence[Series]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(x, mean, half-width of the 95% t-interval) on the steps every curve covers; None when they do not overlap.

    One curve gives its own points and a zero band.
    """
    usable = [c for c in curves if len(c) > 0]
    if not usable:
        return None
    if len(usable) == 1:
        order = np.argsort(usable[0].steps)
        x = np.asarray(usable[0].steps, dtype=float)[order]
        y = np.asarray(usable[0].values, dtype=float)[order]
        return x, y, np.zeros_like(y)
    lo = max(min(c.steps) for c in usable)
    hi = min(max(c.steps) for c in usable)
    if hi < lo:
        return None
    x = np.linspace(lo, hi, _GRID_POINTS) if hi > lo else np.asarray([lo])
    ys = []
    for c in usable:
        order = np.argsort(c.steps)
        ys.append(np.interp(x, np.asarray(c.steps, dtype=float)[order], np.asarray(c.values, dtype=float)[order]))
    stack = np.vstack(ys)
    n = stack.shape[0]
    half = _T95.get(n - 1, 1.96) * stack.std(axis=0, ddof=1) / math.sqrt(n)
    return x, stack.mean(axis=0), half


def _curve(run: RunData, metric: str, x_axis: str) -> Series:
    return run.wall_time_series(metric) if x_axis == "wall_time" else run.series(metric)


_COUNTERS = {"env_steps", "opt_steps", "timesteps", "total_timesteps", "step", "time", "wall_time", "total_steps"}


def _pick_metrics(runs: Sequence[RunData], requested: Sequence[str] | None) -> list[str]:
    """The metrics asked for that the runs log (none of them is an error listing what they do log), else each
    trainer's defaults, else (an unknown trainer) its first few numeric keys that are not step counters."""
    available = {key for run in runs for key in run.metric_keys()}
    if requested:
        present = [m for m in requested if m in available]
        if not present:
            shown = ", ".join(sorted(available)[:30]) or "none"
            raise GateError(f"none of the metrics {', '.join(requested)} is logged by these runs; available: {shown}")
        return present
    defaults = [m for run in runs for m in DEFAULT_METRICS.get(run.trainer, ()) if m in available]
    wanted = list(dict.fromkeys(defaults)) or [k for k in sorted(available) if k not in _COUNTERS][:6]
    if not wanted:
        raise GateError("these runs have no metrics yet (metrics.jsonl empty or missing)")
    return wanted


def _draw_panel(ax: Any, groups: dict[str, list[RunData]], metrics: Sequence[str], x_axis: str, colors: Any) -> bool:
    """Draw ``metrics`` for every group into ``ax``; True when anything was drawn."""
    drawn = False
    styles = ("-", "--", ":", "-.")
    for gi, (label, group) in enumerate(groups.items()):
        for mi, metric in enumerate(metrics):
            band = mean_band([_curve(run, metric, x_axis) for run in group])
            if band is None:
                continue
            x, mean, half = band
            name = label if len(metrics) == 1 else f"{label}: {metric}"
            suffix = f" (n={len(group)})" if len(group) > 1 else ""
            color = colors(gi % 10)
            marker = "o" if len(x) <= 20 else None  # sparse evaluation points stay visible as points
            ax.plot(
                x,
                mean,
                styles[mi % len(styles)],
                color=color,
                label=name + suffix,
                linewidth=1.5,
                marker=marker,
                markersize=3,
            )
            if np.any(half > 0):
                ax.fill_between(x, mean - half, mean + half, color=color, alpha=0.2, linewidth=0)
            drawn = True
    return drawn


def plot_runs(
    paths: Sequence[str | os.PathLike[str]],
    *,
    out: str | os.PathLike[str],
    metrics: Sequence[str] | None = None,
    x_axis: str = "env_steps",
) -> PlotResult:
    """Draw learning curves of the runs and sweeps at ``paths`` into ``out`` (PNG), plus Dreamer extras beside it."""
    require_extra("plot", "orch plot")
    if x_axis not in X_AXES:
        raise GateError(f"--x {x_axis!r}: use one of {', '.join(X_AXES)}")
    runs = load_runs(paths)
    chosen = _pick_metrics(runs, metrics)
    groups = group_runs(runs)
    dreamer = [r for r in runs if r.trainer == "dreamerv3" and any(m in r.metric_keys() for m in ("obs_nll", "kl_dyn"))]
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    cols = min(3, len(chosen))
    rows = math.ceil(len(chosen) / cols) + (1 if dreamer else 0)
    width = max(cols, len(STANDING_STILL_PANEL) if dreamer else 0)
    fig, axes = plt.subplots(rows, width, figsize=(4.2 * width, 3.2 * rows), squeeze=False)
    skipped = _metric_panels(axes, groups, chosen, cols, x_axis)
    if dreamer:
        _world_model_panels(axes[rows - 1], group_runs(dreamer), x_axis)
    out_path = _write_figure(fig, axes, Path(out))
    plt.close(fig)
    files = [out_path]
    from orchestrator.plots.recon import write_recon_views

    for run in (r for r in runs if r.trainer == "dreamerv3"):
        files.extend(write_recon_views(run.path, out_path, tag=run.run_id if len(runs) > 1 else None))
    return PlotResult(files, chosen, {k: [r.run_id for r in v] for k, v in groups.items()}, skipped)


def _x_label(x_axis: str) -> str:
    return "wall time (s)" if x_axis == "wall_time" else "steps"


def _metric_panels(
    axes: Any, groups: dict[str, list[RunData]], chosen: Sequence[str], cols: int, x_axis: str
) -> list[str]:
    """One panel per metric, ``cols`` to a row (the rest of the grid blank, the last row left to the world model);
    returns the metrics no run had data for."""
    import matplotlib.pyplot as plt

    colors = plt.get_cmap("tab10")
    skipped: list[str] = []
    for i, metric in enumerate(chosen):
        ax = axes[i // cols][i % cols]
        if not _draw_panel(ax, groups, [metric], x_axis, colors):
            skipped.append(metric)
        ax.set_title(metric)
        ax.set_xlabel(_x_label(x_axis))
        ax.grid(alpha=0.3)
    for index in range(len(chosen), math.ceil(len(chosen) / cols) * cols):
        axes[index // cols][index % cols].axis("off")
    for row in axes[: math.ceil(len(chosen) / cols)]:
        for ax in row[cols:]:
            ax.axis("off")
    return skipped


def _world_model_panels(row: Any, groups: dict[str, list[RunData]], x_axis: str) -> None:
    """The bottom row for Dreamer runs: world-model losses, one panel per group of :data:`STANDING_STILL_PANEL`."""
    import matplotlib.pyplot as plt

    colors = plt.get_cmap("tab10")
    for ax, (title, names) in zip(row, STANDING_STILL_PANEL, strict=False):
        if _draw_panel(ax, groups, names, x_axis, colors) and len(names) > 1:
            ax.legend(fontsize="x-small", frameon=False)
        ax.set_title(f"world model: {title}")
        ax.set_xlabel(_x_label(x_axis))
        ax.grid(alpha=0.3)
    for ax in row[len(STANDING_STILL_PANEL) :]:
        ax.axis("off")


def _write_figure(fig: Any, axes: Any, out: Path) -> Path:
    """The legend of the first panel above the grid, then the PNG, written atomically."""
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper center", ncol=min(4, len(labels)), fontsize="small", frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.93 if handles else 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    _save(fig, out)
    return out


def _save(fig: Any, path: Path) -> None:
    """Save atomically (a plot read by a browser or a test never sees half a PNG)."""
    from manifests import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
