"""``orch eval`` / ``orch bench`` argument errors: one line, exit 2, and torch never imported for them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.cli import main


def test_bench_rejects_unknown_trainer_and_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "nope"]) == 2
    assert "no benchmark for trainer 'nope'" in capsys.readouterr().err
    assert main(["bench", "dreamerv3", "--size", "XXL"]) == 2
    assert "--size must be one of XS, S, M, L, XL" in capsys.readouterr().err


def test_eval_rejects_a_run_without_resolved_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "run.json").write_text('{"run_id": "r1"}')
    assert main(["eval", str(run), "--artifact-root", str(tmp_path)]) == 2
    assert "no resolved.json" in capsys.readouterr().err


def test_argument_errors_are_answered_without_importing_torch(tmp_path: Path) -> None:
    code = (
        "import sys; from orchestrator.cli import main; "
        f"codes = [main(['bench', 'nope']), main(['eval', {str(tmp_path / 'missing')!r}])]; "
        "print([int(c) for c in codes], 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[2, 2] False", out.stdout + out.stderr
