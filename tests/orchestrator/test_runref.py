"""One way to name runs: exact id, unique prefix, exact sweep id, path; empty and ambiguous names are errors that
change nothing, for every command that takes runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from manifests import RunManifest, load_run_manifest, save_run_manifest
from orchestrator.cli import main
from orchestrator.errors import RunRefError
from orchestrator.runref import resolve_run, resolve_runs

RUNS = [
    ("20260101T000000Z-a-11111111-s0", "20260101T000000Z-a-5555aaaa"),
    ("20260101T000000Z-a-11111111-s1", "20260101T000000Z-a-5555aaaa"),
    ("20260102T000000Z-b-22222222-s0", "20260102T000000Z-b-6666bbbb"),
    ("21260102T000000Z-c-33333333-s0", "20260102T000000Z-b-6666bbbb"),  # a sweep whose runs share no prefix
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for run_id, sweep in RUNS:
        run_dir = tmp_path / "runs" / run_id
        run_dir.mkdir(parents=True)
        save_run_manifest(
            run_dir, RunManifest(run_id=run_id, trainer="toy", name="n", status="running", sweep_id=sweep)
        )
        (run_dir / "metrics.jsonl").write_text(json.dumps({"step": 1, "total_steps": 2, "reward": 0.5}) + "\n")
    return tmp_path


def _names(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_exact_id_unique_prefix_sweep_and_path(root: Path) -> None:
    runs = root / "runs"
    assert _names(resolve_runs(root, [RUNS[2][0]])) == [RUNS[2][0]]
    assert resolve_run(root, "20260102") == runs / RUNS[2][0]  # a prefix of exactly one run id
    assert _names(resolve_runs(root, ["20260102T000000Z-b-6666bbbb"])) == [RUNS[2][0], RUNS[3][0]]
    assert resolve_runs(root, [str(runs / RUNS[1][0])]) == [runs / RUNS[1][0]]
    assert len(resolve_runs(root, [str(root)])) == 4  # a folder holding run directories (artifact root)
    assert _names(resolve_runs(root, ["20260102", RUNS[2][0]])) == [RUNS[2][0]]  # each run once


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("", "an empty run name names nothing"),
        ("   ", "an empty run name names nothing"),
        ("2", "'2' is the start of 4 run ids"),
        ("20260101", "'20260101' is the start of 2 run ids: 20260101T000000Z-a-11111111-s0, 20260101T0000"),
        ("20260101T000000Z-a", "is the start of 2 run ids"),
        ("zzz", "no run or sweep 'zzz'"),
        ("./missing", "no such run or sweep directory"),
    ],
    ids=["empty", "blank", "one-digit", "date-prefix", "sweep-prefix", "unknown", "missing-path"],
)
def test_empty_ambiguous_and_unknown_names_are_errors(root: Path, word: str, message: str) -> None:
    with pytest.raises(RunRefError, match=message.replace("(", r"\(")):
        resolve_runs(root, [word])


def test_a_sweep_is_never_matched_by_prefix(root: Path) -> None:
    with pytest.raises(RunRefError):
        resolve_runs(root, ["20260102T000000Z-b-6666"])


def test_a_command_taking_one_run_refuses_a_sweep_listing_it(root: Path) -> None:
    with pytest.raises(RunRefError, match=r"names 2 runs .* takes one run"):
        resolve_run(root, "20260101T000000Z-a-5555aaaa")


@pytest.mark.parametrize("word", ["", "2", "20260101"], ids=["empty", "digit", "ambiguous"])
def test_cancel_with_an_empty_or_ambiguous_name_exits_2_and_changes_nothing(
    root: Path, word: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {run_id: (root / "runs" / run_id / "run.json").read_text() for run_id, _ in RUNS}
    assert main(["cancel", word, "-y", "--artifact-root", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    after = {run_id: (root / "runs" / run_id / "run.json").read_text() for run_id, _ in RUNS}
    assert after == before
    assert all(load_run_manifest(root / "runs" / r).status == "running" for r, _ in RUNS)


@pytest.mark.parametrize(
    "command",
    [
        ["status", "2"],
        ["logs", "2"],
        ["cancel", "2", "-y"],
        ["eval", "2"],
        ["plot", "2", "--out", "x.png"],
        ["archive", "2", "--dest", "arch"],
        ["gate", "compare", "2", "--baseline", "b"],
        ["gate", "baseline", "2", "--name", "b"],
    ],
    ids=lambda c: " ".join(c[:2]) if c[0] == "gate" else c[0],
)
def test_every_command_that_takes_runs_reads_names_the_same_way(
    root: Path, command: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([*command, "--artifact-root", str(root)]) == 2
    assert "'2' is the start of 4 run ids" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "arch").exists()


def test_plot_a_run_id_from_the_artifact_root_as_the_readme_shows(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    output = root.parent / "project" / "output"
    output.parent.mkdir()
    (root / "runs").rename(root.parent / "runs-moved")
    output.mkdir()
    (root.parent / "runs-moved").rename(output / "runs")
    monkeypatch.chdir(output.parent)  # ./output is the default artifact root
    monkeypatch.delenv("ORCH_ARTIFACT_ROOT", raising=False)
    assert main(["plot", RUNS[2][0], "--out", "x.png"]) == 0
    assert (output.parent / "x.png").stat().st_size > 1000
    assert "wrote" in capsys.readouterr().out
