"""`orch run` end to end with a shipped config and the real PPO trainer (dry run: a few steps, seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from manifests import load_run_manifest
from orchestrator.cli import main

REPO_ROOT = Path(__file__).resolve().parents[3]
PPO_SMOKE = REPO_ROOT / "configs" / "ppo_expert" / "grid_socnav_smoke.yaml"


@pytest.mark.skipif(not PPO_SMOKE.exists(), reason="the PPO smoke config is not in this checkout")
def test_orch_run_ppo_smoke_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("trainers.ppo_expert.train", reason="the PPO trainer is not importable here")
    real_root = tmp_path / "real"
    assert main(["run", str(PPO_SMOKE), "--dry-run", "--artifact-root", str(real_root)]) == 0
    out = capsys.readouterr().out
    assert "completed (dry run, temporary artifact root)" in out and not real_root.exists()
    run_dir = Path(out.strip().splitlines()[-1].rsplit("-> ", 1)[1])
    manifest = load_run_manifest(run_dir)
    assert manifest.status == "completed" and manifest.dry_run and manifest.trainer == "ppo_expert"
    assert manifest.attempts[0].state == "completed" and (run_dir / "logs" / "attempt_1.out").stat().st_size > 0
    assert (run_dir / "metrics.jsonl").exists() and (run_dir / "config.yaml").read_bytes() == PPO_SMOKE.read_bytes()
