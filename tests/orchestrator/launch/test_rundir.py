"""Run ids, run directories (created before the job), the newest submission (names: tests/orchestrator/test_runref)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from manifests import load_run_manifest
from orchestrator.errors import LaunchError
from orchestrator.launch.rundir import Provenance, artifact_root, create_run_dir, find_duplicates, newest_submission
from orchestrator.launch.runspec import RunSpec, fingerprint, make_run_id, make_sweep_id, slugify

WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
PROV = Provenance(code={"git_commit": "abc", "git_dirty": False, "diff_file": None}, versions={"python": "3"})


def test_run_id_format() -> None:
    assert make_run_id("ppo grid/403", "0123456789abcdef", 7, when=WHEN) == "20260102T030405Z-ppo-grid-403-01234567-s7"
    assert make_run_id("x", "ff" * 32, None, when=WHEN) == "20260102T030405Z-x-ffffffff"
    assert re.fullmatch(r"\d{8}T\d{6}Z-a\+1-[0-9a-f]{8}", make_sweep_id(["a", "b", "a"], ["h1", "h2"], when=WHEN))


@pytest.mark.parametrize(("name", "slug"), [("a b'c\"d;e", "a-b-c-d-e"), ("..", "run"), ("x" * 80, "x" * 48)])
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_fingerprint_changes_with_config_seed_and_code() -> None:
    code = {"git_commit": "a", "git_dirty": False}
    base = fingerprint("h", 1, code, None)
    assert base == fingerprint("h", 1, dict(code), None)
    assert (
        len(
            {
                base,
                fingerprint("h2", 1, code, None),
                fingerprint("h", 2, code, None),
                fingerprint("h", 1, {"git_commit": "b"}, None),
                fingerprint("h", 1, code, "diff"),
            }
        )
        == 5
    )


def _spec(root: Path, run_id: str, *, seed: int = 0, sweep: str = "S1", fp: str = "fp", config: Path | None = None):
    return RunSpec(
        run_id=run_id,
        run_dir=root / "runs" / run_id,
        trainer="toy",
        name="n",
        seed=seed,
        config_hash="h" * 64,
        resolved={"trainer": "toy", "seed": seed, "settings": {}},
        config_path=config,
        sweep_id=sweep,
        fingerprint=fp,
    )


def test_create_run_dir_writes_everything_before_the_job(weird_tmp_path: Path) -> None:
    config = weird_tmp_path / "my config.yaml"
    config.write_text("# exactly as given\ntrainer: toy\n")
    prov = Provenance(
        code={"git_commit": "abc", "git_dirty": True}, versions={"python": "3"}, diff_text="d\n", diff_sha256="x"
    )
    spec = _spec(weird_tmp_path, "r1", config=config)
    run_dir = create_run_dir(spec, prov, scheduler={"backend": "local"})
    assert (run_dir / "config.yaml").read_bytes() == config.read_bytes()
    assert json.loads((run_dir / "resolved.json").read_text())["seed"] == 0
    assert (run_dir / "code.diff").read_text() == "d\n" and (run_dir / "logs").is_dir()
    manifest = load_run_manifest(run_dir)  # schema-valid
    assert manifest.status == "pending" and manifest.code["diff_file"] == "code.diff"
    assert manifest.extra["fingerprint"] == "fp" and manifest.scheduler == {"backend": "local"}
    with pytest.raises(LaunchError, match="never reused"):
        create_run_dir(spec, prov)


def test_artifact_root_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ORCH_ARTIFACT_ROOT", raising=False)
    assert artifact_root() == tmp_path / "output"
    monkeypatch.setenv("ORCH_ARTIFACT_ROOT", str(tmp_path / "env"))
    assert artifact_root() == tmp_path / "env"
    assert artifact_root(tmp_path / "flag") == tmp_path / "flag"


def test_newest_submission_is_every_run_of_the_newest_sweep(tmp_path: Path) -> None:
    for run_id, sweep in [
        ("20260101T000000Z-a-1-s0", "SW-A"),
        ("20260101T000000Z-a-1-s1", "SW-A"),
        ("20260102T000000Z-b-2-s0", "SW-B"),
        ("20260102T000000Z-b-2-s1", "SW-B"),
    ]:
        create_run_dir(_spec(tmp_path, run_id, sweep=sweep), PROV)
    assert [p.name for p in newest_submission(tmp_path)] == ["20260102T000000Z-b-2-s0", "20260102T000000Z-b-2-s1"]
    assert newest_submission(tmp_path / "empty") == []


def test_duplicates_ignore_failed_and_cancelled(tmp_path: Path) -> None:
    from manifests import update_run_manifest

    create_run_dir(_spec(tmp_path, "r1", fp="F1"), PROV)
    create_run_dir(_spec(tmp_path, "r2", fp="F2"), PROV)
    update_run_manifest(tmp_path / "runs" / "r2", lambda m: setattr(m, "status", "failed"))
    assert find_duplicates(tmp_path, {"new1": "F1", "new2": "F2"}) == {"F1": ("r1", "pending")}
