"""``orch plot``: PNGs opened and checked for size and content (not blank), seeds as bands, Dreamer extras."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "gate"))
from rundirs import full_run, ppo_run_records, standing_still_run, write_run

from orchestrator.cli import main
from orchestrator.gate.rundata import Series
from orchestrator.plots.curves import mean_band


def _image(path: Path) -> np.ndarray:
    from matplotlib.image import imread

    assert path.is_file(), f"{path} was not written"
    return imread(path)


def _not_blank(image: np.ndarray, min_h: int = 200, min_w: int = 300) -> None:
    assert image.shape[0] >= min_h and image.shape[1] >= min_w, image.shape
    assert image[..., :3].std() > 0.05, "the image is (nearly) one colour"


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """Two configs of three seeds each (a sweep folder), plus a PPO run elsewhere."""
    root = tmp_path / "sweep"
    for seed in (0, 1, 2):
        standing_still_run(root, seed, config_hash="aa" * 8)
        standing_still_run(root, seed, name="ss_big_lr", config_hash="bb" * 8, obs_scale=1.4)
    return root


def test_sweep_plot_has_two_groups_and_world_model_row(
    sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plots" / "sweep.png"
    assert main(["plot", str(sweep), "--out", str(out), "--metric", "obs_nll", "--metric", "kl_dyn"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    image = _image(out)
    _not_blank(image)
    assert image.shape[0] > image.shape[1] / 3  # two rows: chosen metrics + the world-model panel row


def test_plot_by_wall_time_and_ppo_episodes(tmp_path: Path) -> None:
    metrics, episodes = ppo_run_records(0)
    run = write_run(
        tmp_path, "ppo", trainer="ppo_expert", seed=0, config_hash="cc" * 8, metrics=metrics, episodes=episodes
    )
    out = tmp_path / "ppo.png"
    assert main(["plot", str(run), "--out", str(out)]) == 0
    _not_blank(_image(out), min_w=900)  # default PPO panels: returns, success, collisions, losses
    assert main(["plot", str(run), "--out", str(tmp_path / "wall.png"), "--x", "wall_time", "-m", "fps"]) == 0
    _not_blank(_image(tmp_path / "wall.png"))


def test_unknown_metric_and_axis_are_usage_errors(sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["plot", str(sweep), "--out", str(tmp_path / "x.png"), "-m", "nope"]) == 2
    assert "none of the metrics nope is logged" in capsys.readouterr().err
    assert main(["plot", str(sweep), "--out", str(tmp_path / "x.png"), "--x", "epochs"]) == 2


@pytest.mark.parametrize("shape", [(20, 6), (12, 1, 16, 16), (12, 16, 16, 3)], ids=["vector", "chw", "hwc"])
def test_recon_strip_and_animation(tmp_path: Path, shape: tuple[int, ...]) -> None:
    run = full_run(tmp_path, 0, config_hash="dd" * 8, lines=10)
    real = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    np.savez(run / "recon.npz", real=real, decoded=real * 0.8, step=np.int64(5000))
    out = tmp_path / "full.png"
    assert main(["plot", str(run), "--out", str(out)]) == 0
    _not_blank(_image(out))
    _not_blank(_image(tmp_path / "full-recon.png"), min_h=150)
    from PIL import Image

    with Image.open(tmp_path / "full-recon.gif") as gif:
        assert gif.n_frames == shape[0]


def test_mean_band_is_the_t_interval_over_the_common_steps() -> None:
    a = Series([0, 10], [0.0, 10.0])
    b = Series([0, 10, 20], [2.0, 12.0, 22.0])
    x, mean, half = mean_band([a, b])  # type: ignore[misc]
    assert x[0] == 0 and x[-1] == 10  # only where both seeds have data
    assert mean[0] == pytest.approx(1.0) and mean[-1] == pytest.approx(11.0)
    # two seeds 2 apart: std (ddof=1) = sqrt(2), t(0.975, 1) = 12.706, n = 2
    assert half[0] == pytest.approx(12.706 * np.sqrt(2) / np.sqrt(2))
    single = mean_band([a])
    assert single is not None and not single[2].any()
    assert mean_band([Series([0, 1], [1.0, 1.0]), Series([5, 6], [1.0, 1.0])]) is None
