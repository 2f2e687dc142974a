"""``orch gate cpu`` end to end (recording into a private baselines folder), the committed CPU baseline's identity,
and the suite verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.gate.gates import CPU_BASELINE, GATE_CONFIGS, PartResult, SuiteResult, run_cpu_gate

REPO = Path(__file__).resolve().parents[3]


def test_cpu_gate_runs_every_part_and_records_a_baseline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("trainers.dreamerv3.train", reason="the Dreamer trainer is not importable here")
    from orchestrator.cli import main

    baselines = tmp_path / "baselines"
    seen: list[str] = []
    suite = run_cpu_gate(
        workdir=tmp_path / "work", baselines_dir=baselines, record=True, on_part=lambda p: seen.append(p.name)
    )
    assert seen == ["dreamer_tests", "train_smoke", "standing_still"]
    assert suite.passed, suite.verdict
    smoke = suite.parts[1].summary
    assert 1 <= smoke["updates"] <= 2 and smoke["run_status"] == "completed"
    assert smoke["policy_steps"] > 0 and smoke["eval_episodes"] >= 1  # the collector and evaluation ran the agent
    assert suite.parts[1].to_json()["status"] == "pass"
    recorded = json.loads((baselines / f"{CPU_BASELINE}.json").read_text())
    assert recorded["gate"] == "dreamer_standing_still" and recorded["metrics"]["obs_nll"]["ranges"]
    # The run it recorded from passes against it through the CLI (the compare half of the gate).
    run_dir = suite.parts[2].summary["run_dir"]
    args = ["gate", "compare", run_dir, "--baseline", str(baselines / f"{CPU_BASELINE}.json"), "-q"]
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("PASS")


def test_committed_cpu_baseline_matches_the_gate_config() -> None:
    """Editing configs/gates/dreamer_standing_still.yaml needs a deliberate baseline refresh (docs/validation.md)."""
    from orchestrator.config import resolve_config

    path = REPO / "baselines" / f"{CPU_BASELINE}.json"
    assert path.is_file(), "record it: orch gate cpu --record-baseline"
    committed = json.loads(path.read_text())
    current = resolve_config(GATE_CONFIGS / "dreamer_standing_still.yaml").config_hash
    assert committed["config_hash"] == current, "gate config changed: refresh with `orch gate cpu --record-baseline`"
    assert set(committed["metrics"]) == {"obs_nll", "reward_nll", "kl_dyn", "kl_rep"}


def test_suite_verdicts() -> None:
    ok, bad, skip = (
        PartResult("a", "pass", 1.0),
        PartResult("b", "fail", 2.0, reason="why"),
        PartResult("c", "skip", 0),
    )
    assert SuiteResult("cpu", [ok, skip]).passed
    failed = SuiteResult("cpu", [ok, bad])
    assert not failed.passed
    assert failed.verdict.splitlines() == [
        "PASS a (1.0s)",
        "FAIL b (2.0s): why",
        "FAIL gate cpu: 1 passed, 1 failed, 0 skipped",
    ]
    assert SuiteResult("gpu", [skip]).verdict.splitlines()[-1] == "SKIP gate gpu: 0 passed, 0 failed, 1 skipped"
    assert failed.summary["parts"][1] == {"part": "b", "status": "fail", "seconds": 2.0, "reason": "why"}


def test_gpu_suite_plumbing_on_the_cpu(tmp_path: Path) -> None:
    """The GPU suite's parts run end to end with device=cpu: smoke, recorded standing-still, probes; task skips."""
    pytest.importorskip("trainers.dreamerv3.train", reason="the Dreamer trainer is not importable here")
    from orchestrator.gate.gates import GPU_BASELINE, run_gpu_gate

    baselines = tmp_path / "baselines"
    suite = run_gpu_gate(workdir=tmp_path / "work", baselines_dir=baselines, record=True, device="cpu")
    status = {p.name: p.status for p in suite.parts}
    assert status == {
        "cuda_smoke": "pass",
        "standing_still": "pass",
        "task": "skip",
        "host_transfers": "pass",
        "replay_pointers": "pass",
        "cuda_graph": "pass",
        "flags_smoke": "pass",
    }, suite.verdict
    assert (baselines / f"{GPU_BASELINE}.json").is_file()
    assert "no baseline 'gpu_task'" in suite.parts[2].reason
    assert suite.parts[3].summary["host_reads"] == 0, "the deferred-check update must not read back to the host"
    assert suite.parts[3].summary["htod_copies"] == 0, "nor copy from the host (stand-in device on the CPU)"
    assert suite.parts[0].summary["policy_steps"] > 0, "the smoke must drive the collector, not the learner alone"
    graph, flags = suite.parts[5].summary, suite.parts[6].summary
    assert graph["captured_as"] == "EagerReplay" and graph["optimiser_steps"] == [graph["updates"]] * 3
    assert flags["policy_steps"] > 0 and flags["run_dir"] != suite.parts[0].summary["run_dir"]
    settings = json.loads((Path(flags["run_dir"]) / "resolved.json").read_text())["settings"]
    assert settings["cuda_graph"] and settings["overlap_collection"] and settings["replay_on_device"]


def test_cpu_gate_passes_against_the_committed_baseline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """CI runs the CPU gate exactly as a person would: ``orch gate cpu`` against ``baselines/cpu_standing_still.json``.

    A change that moves the world model's reconstruction or KL by more than the tolerance fails here; refresh the
    baseline on purpose with ``orch gate cpu --record-baseline`` (docs/validation.md)."""
    pytest.importorskip("trainers.dreamerv3.train", reason="the Dreamer trainer is not importable here")
    from orchestrator.cli import main

    code = main(["gate", "cpu", "--workdir", str(tmp_path / "work")])
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    assert "PASS gate cpu: 3 passed, 0 failed" in out
