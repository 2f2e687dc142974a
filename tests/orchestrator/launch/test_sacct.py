"""The sacct parser, on output recorded from the local Slurm cluster (plus the rarer states, hand-written in
sacct's exact format)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.launch.slurm import SLURM_STATES, parse_sacct

RECORDED = Path(__file__).parent / "data" / "sacct_recorded.txt"


def test_recorded_output() -> None:
    states = parse_sacct(RECORDED.read_text())
    assert {k: v.state for k, v in states.items()} == {
        "1": "failed",
        "2": "completed",  # a requeued job: its last line is its current state
        "4_0": "completed",
        "4_2": "completed",
        "7": "cancelled",
        "8_2": "pending",
        "8_3": "pending",
        "8_4": "pending",
        "8_7": "pending",
        "8_0": "running",
        "8_1": "pending",
        "9": "failed",
        "10": "failed",
        "11": "failed",
        "12": "failed",
    }
    assert states["1"].reason == "time limit reached and not requeued"
    assert states["7"].raw == "CANCELLED" and states["7"].node is None
    assert states["8_3"].reason == "JobArrayTaskLimit" and states["8_1"].reason == "BeginTime"
    assert states["4_2"].reason is None  # a stale pending reason on a finished job is dropped
    assert states["8_0"].node == "vm" and states["8_0"].start == "2026-11-22T03:05:00" and states["8_0"].end is None
    assert states["9"].reason == "exit code 1:0"
    assert states["10"].reason == "out of memory"
    assert all(s.authoritative for s in states.values())


def test_junk_and_empty_lines_are_skipped() -> None:
    assert parse_sacct("") == {}
    assert parse_sacct("JobID|State\n\n   \nnot a line\n") == {}


def test_every_state_maps_to_a_run_state() -> None:
    from manifests import RUN_STATES

    assert set(SLURM_STATES.values()) <= set(RUN_STATES)
