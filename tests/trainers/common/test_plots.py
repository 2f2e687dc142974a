"""The trainer-side end-of-run plot: written from metrics.jsonl/episodes.jsonl, never raising."""

from __future__ import annotations

import json
import math
from pathlib import Path

from trainers.common.metrics_stream import JsonlWriter
from trainers.common.plots import write_learning_curves


def test_writes_learning_curves_png_from_a_run(tmp_path: Path) -> None:
    from matplotlib.image import imread

    with JsonlWriter(tmp_path / "metrics.jsonl") as out:
        for i in range(1, 30):
            out.write({"env_steps": 100 * i, "loss_model": 10 / i, "obs_nll": math.exp(-i / 10), "kl_dyn": None})
    with open(tmp_path / "episodes.jsonl", "w", encoding="utf-8") as handle:
        for step in (1000, 2000, 3000):
            for k in range(4):
                handle.write(json.dumps({"eval_step": step, "metrics": {"success_rate": float(k % 2)}}) + "\n")
    path = write_learning_curves(tmp_path)
    assert path == tmp_path / "plots" / "learning_curves.png"
    image = imread(path)
    assert image.shape[0] >= 250 and image.shape[1] >= 800  # three panels: success, obs_nll, loss_model
    assert image[..., :3].std() > 0.05


def test_nothing_to_draw_returns_none(tmp_path: Path) -> None:
    assert write_learning_curves(tmp_path) is None
    (tmp_path / "metrics.jsonl").write_text('{"env_steps": 1, "loss_model": null}\n')
    assert write_learning_curves(tmp_path, metrics=["loss_model"]) is None
