"""``orch gate baseline|compare|gpu`` through the real entry point: exit codes, verdict line, JSON summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rundirs import standing_still_run

from orchestrator.cli import main


def _json_and_verdict(out: str) -> tuple[dict, str]:
    lines = out.strip().splitlines()
    return json.loads("\n".join(lines[:-1])), lines[-1]


def test_baseline_then_compare_pass_and_fail(
    tmp_path: Path, standing_still_sweep: Path, baselines_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gate", "baseline", str(standing_still_sweep), "--name", "ss"]) == 0
    assert "baseline ss (dreamer_standing_still, 3 run(s)" in capsys.readouterr().out
    assert (baselines_dir / "ss.json").is_file()

    good = standing_still_run(tmp_path / "g", 5)
    assert main(["gate", "compare", str(good), "--baseline", "ss"]) == 0
    summary, verdict = _json_and_verdict(capsys.readouterr().out)
    assert verdict.startswith("PASS") and summary["passed"] is True and summary["gate"] == "dreamer_standing_still"

    bad = standing_still_run(tmp_path / "b", 5, kl_scale=0.5)
    assert main(["gate", "compare", str(bad), "--baseline", "ss", "-q"]) == 3
    out = capsys.readouterr().out.strip()
    assert out.startswith("FAIL dreamer_standing_still vs baseline ss:") and "kl_dyn" in out
    assert main(["gate", "compare", str(bad), "--baseline", "ss", "-q", "--tol", "rtol=0.9"]) == 0


def test_usage_errors_exit_2_with_one_line(
    tmp_path: Path, standing_still_sweep: Path, baselines_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gate", "compare", str(standing_still_sweep), "--baseline", "missing"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: baseline 'missing' not found") and len(err.strip().splitlines()) == 1
    assert main(["gate", "compare", str(tmp_path / "nowhere"), "--baseline", "x"]) == 2
    assert "no such run or sweep directory" in capsys.readouterr().err
    assert main(["gate", "baseline", str(standing_still_sweep), "--name", "ss", "--tol", "oops"]) == 2
    assert "expected key=value" in capsys.readouterr().err


def test_gpu_gate_skips_clearly_without_cuda(capsys: pytest.CaptureFixture[str]) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the skip path cannot be shown here")
    assert main(["gate", "gpu", "-q"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("SKIP cuda_smoke") and "no CUDA device" in lines[0]
    assert lines[-1] == "SKIP gate gpu: 0 passed, 0 failed, 7 skipped"
