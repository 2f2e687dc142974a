"""Bad input on the command line: one line naming what is wrong, exit 2, no traceback, nothing written, no hang."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = REPO_ROOT / "configs" / "ppo_expert" / "grid_socnav_smoke.yaml"
TWELVE = ",".join(str(i) for i in range(12))

CASES = {
    "negative-seed": (["run", str(CONFIG), "--seed", "-3"], "--seed must be between 0 and 4294967295, got -3"),
    "huge-seed": (["run", str(CONFIG), "--seed", str(2**40)], "--seed must be between 0 and"),
    "stall-after-negative": (["status", "--stall-after", "-5"], "--stall-after must be a positive, finite number"),
    "stall-after-zero": (["status", "--stall-after", "0"], "--stall-after must be a positive, finite number"),
    "stall-after-inf": (["status", "--stall-after", "inf"], "--stall-after must be a positive, finite number"),
    "stall-factor-nan": (["status", "--stall-factor", "nan"], "--stall-factor must be a positive, finite number"),
    "resume-stall-nan": (["resume", "--stalled", "--stall-factor", "nan"], "--stall-factor must be a positive"),
    "sync-timeout": (["sync", "x", "--timeout", "0"], "--timeout must be a positive number of seconds"),
    "bench-threads": (["bench", "dreamerv3", "--threads", "0"], "--threads must be >= 1, got 0"),
    "fifo-submit": (["submit", "{fifo}", "--dry-run"], "is not a regular file (a FIFO, socket or device)"),
    "fifo-run": (["run", "{fifo}"], "is not a regular file (a FIFO, socket or device)"),
    "fifo-validate": (["validate", "{fifo}"], "is not a regular file (a FIFO, socket or device)"),
    "fifo-sweep": (["submit", str(CONFIG), "--sweep", "{fifo}", "--dry-run"], "--sweep {fifo}: not a regular file"),
    "huge-grid": (
        ["submit", str(CONFIG), "--dry-run", *(f"--grid=ppo_hyperparams.k{i}={TWELVE}" for i in range(7))],
        "the grid has 35,831,808 points (12 x 12 x 12 x 12 x 12 x 12 x 12), more than 10,000 per submission",
    ),
    "empty-cancel": (["cancel", "", "-y"], "an empty run name names nothing"),
    "ppo-runs-per-job": (
        ["submit", str(CONFIG), "--runs-per-job", "2"],
        "runs_per_job=2, but trainer 'ppo_expert' cannot share a process with other runs (it uses process-wide "
        "random state); set runs_per_job: 1 in the profile or pass --set cluster.runs_per_job=1",
    ),
    "ppo-runs-per-job-dry": (
        ["submit", str(CONFIG), "--dry-run", "--set", "cluster.runs_per_job=3"],
        "runs_per_job=3, but trainer 'ppo_expert' cannot share a process",
    ),
    "runs-per-job-zero": (
        ["submit", str(CONFIG), "--dry-run", "--runs-per-job", "0"],
        "runs_per_job: 0 is less than the minimum of 1",
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input_is_one_line_exit_2_and_changes_nothing(tmp_path: Path, case: str) -> None:
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    args, message = CASES[case]
    args = [a.replace("{fifo}", str(fifo)) for a in args]
    root = tmp_path / "root"
    env = {**os.environ, "ORCH_ARTIFACT_ROOT": str(root), "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message.replace("{fifo}", str(fifo)) in result.stderr and "Traceback" not in result.stderr
    assert not root.exists() and not any((tmp_path / "tmp").iterdir())  # nothing written, no dry-run folder
