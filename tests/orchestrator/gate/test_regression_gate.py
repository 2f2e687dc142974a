"""Must hold (issue 8): an intentional regression fails ``orch gate compare`` against a baseline of the normal config,
and the normal config passes. Real Dreamer runs (configs/gates/dreamer_standing_still.yaml: a tiny deterministic
world-model-only run on CartPole, ~56 updates), the regression being the world-model learning rate x100.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("trainers.dreamerv3.train", reason="the Dreamer trainer is not importable here")

from orchestrator.cli import main
from orchestrator.gate.gates import GATE_CONFIGS, run_config
from orchestrator.gate.rundata import load_run

CONFIG = GATE_CONFIGS / "dreamer_standing_still.yaml"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Baseline run, a second run of the same config, and the regression (world_model_lr 1e-4 -> 1e-2)."""
    work = tmp_path_factory.mktemp("regression")
    out = {
        "baseline": run_config(CONFIG, work / "baseline"),
        "normal": run_config(CONFIG, work / "normal"),
        "lr_x100": run_config(CONFIG, work / "lr_x100", overrides=["world_model_lr=0.01"]),
    }
    for name, run_dir in out.items():
        assert load_run(run_dir).status == "completed", f"{name} run failed: {load_run(run_dir).error}"
    return out


def test_regression_fails_and_normal_config_passes(
    runs: dict[str, Path], baselines_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gate", "baseline", str(runs["baseline"]), "--name", "normal"]) == 0
    capsys.readouterr()

    assert main(["gate", "compare", str(runs["normal"]), "--baseline", "normal", "-q"]) == 0
    assert capsys.readouterr().out.startswith("PASS dreamer_standing_still vs baseline normal")

    assert main(["gate", "compare", str(runs["lr_x100"]), "--baseline", "normal", "-q"]) == 3
    verdict = capsys.readouterr().out.strip()
    assert verdict.startswith("FAIL dreamer_standing_still vs baseline normal:")
    assert "obs_nll" in verdict or "kl_dyn" in verdict


def test_plot_of_real_dreamer_runs_is_not_blank(runs: dict[str, Path], tmp_path: Path) -> None:
    from matplotlib.image import imread

    out = tmp_path / "ss.png"
    assert main(["plot", str(runs["baseline"]), str(runs["lr_x100"]), "--out", str(out)]) == 0
    image = imread(out)
    assert image.shape[0] >= 500 and image.shape[1] >= 1000  # curves + the world-model row
    assert image[..., :3].std() > 0.05
