"""The batch script for a submission, as submitit would hand it to sbatch, against a golden file.

On a deliberate change, regenerate it and review the diff:
    ORCH_REGEN_GOLDEN=1 python3 -m pytest tests/orchestrator/launch/test_sbatch_golden.py
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from orchestrator.launch.clusters import load_cluster
from orchestrator.launch.runspec import RunSpec
from orchestrator.launch.slurm import SlurmBackend, slurm_parameters

GOLDEN = Path(__file__).parent / "data" / "auxme_sbatch.golden.txt"
REGENERATE = "ORCH_REGEN_GOLDEN=1 python3 -m pytest tests/orchestrator/launch/test_sbatch_golden.py"


def _specs(n: int) -> list[RunSpec]:
    return [
        RunSpec(f"R{i}", Path(f"/ROOT/runs/R{i}"), "toy", "n", i, "h" * 64, {}, sweep_id="20260101T000000Z-grid-abc")
        for i in range(n)
    ]


def test_golden_sbatch_script() -> None:
    profile = load_cluster("auxme", {"python": "/opt/venv/bin/python", "max_array_size": 3})
    backend = SlurmBackend(profile, Path("/ROOT/.jobs/20260101T000000Z-grid-abc"))
    text = backend.preview(_specs(5)) + "\n"
    if os.environ.get("ORCH_REGEN_GOLDEN"):
        GOLDEN.write_text(text)
    expected = GOLDEN.read_text()
    if text != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), "golden", "now"))
        pytest.fail(f"the sbatch script changed; if on purpose, regenerate with:\n  {REGENERATE}\n{diff}")


def test_script_content() -> None:
    text = GOLDEN.read_text()
    # five runs above max_array_size 3: two arrays, the second after the first, each throttled to 2 at once
    assert text.count("#!/bin/bash") == 2
    assert "#SBATCH --array=0-2%2" in text and "#SBATCH --array=0-1%2" in text
    assert "#SBATCH --dependency=afterany:JOBID_OF_ARRAY_1" in text
    for line in (
        "#SBATCH --partition=a30",
        "#SBATCH --account=mitarbeiter",
        "#SBATCH --qos=a30-gpu",
        "#SBATCH --gres=gpu:a30:1",
        "#SBATCH --cpus-per-task=24",
        "#SBATCH --mem=64G",
        "#SBATCH --time=1440",
        "#SBATCH --signal=USR2@300",
        "module load gcc/13.2.0",
        "module load cuda/12.1",
        "export CUBLAS_WORKSPACE_CONFIG=:4096:8",
        "/opt/venv/bin/python -u -m submitit.core._submit /ROOT/.jobs/20260101T000000Z-grid-abc/%j",
    ):
        assert line in text, line


def test_generic_names_translated_once() -> None:
    profile = load_cluster("auxme", {"gpus": 1, "mem_gb": 0.5, "scheduler_options": {"mail_type": "END"}})
    params = slurm_parameters(profile, job_name="j")
    assert params["gpus_per_node"] == 1 and params["mem"] == "512M" and params["time"] == 1440
    assert params["additional_parameters"] == {"mail-type": "END"}
    assert "mem_gb" not in params and "time_min" not in params


def test_single_run_is_not_an_array() -> None:
    backend = SlurmBackend(load_cluster("localslurm"), Path("/ROOT/.jobs/s"))
    assert "--array" not in backend.preview(_specs(1)) and backend.array_count(1) == 0
    assert backend.array_count(100) == 1 and backend.array_count(2500) == 3


def test_paths_slurm_cannot_take_are_refused_before_anything_is_queued(weird_tmp_path: Path) -> None:
    from orchestrator.errors import LaunchError

    backend = SlurmBackend(load_cluster("localslurm"), weird_tmp_path / ".jobs" / "s")
    with pytest.raises(LaunchError, match="choose another --artifact-root"):
        backend.submit(_specs(2))
