"""Summary statistics of per-episode metrics: mean, median, p95 and a seeded bootstrap CI95 (upstream's shape)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["bootstrap_ci95", "summarize", "summarize_episodes"]


def bootstrap_ci95(values: Sequence[float], *, seed: int = 0, n_boot: int = 1000) -> list[float | None]:
    """Percentile bootstrap 95% interval of the mean; the RNG is seeded so reruns give the same interval."""
    data = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if data.size == 0:
        return [None, None]
    if data.size == 1:
        return [float(data[0]), float(data[0])]
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(n_boot, data.size))].mean(axis=1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def summarize(values: Sequence[float], *, seed: int = 0) -> dict[str, Any]:
    """``{mean, median, p95, ci95}``; all None for an empty list (a metric no episode reported)."""
    data = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if data.size == 0:
        return {"mean": None, "median": None, "p95": None, "ci95": [None, None]}
    return {
        "mean": float(data.mean()),
        "median": float(np.median(data)),
        "p95": float(np.percentile(data, 95)),
        "ci95": bootstrap_ci95(data.tolist(), seed=seed),
    }


def summarize_episodes(episode_metrics: Sequence[Mapping[str, float]], *, seed: int = 0) -> dict[str, dict[str, Any]]:
    """One summary per metric name found in any episode, names sorted."""
    names = sorted({k for m in episode_metrics for k in m})
    return {name: summarize([m[name] for m in episode_metrics if name in m], seed=seed) for name in names}
