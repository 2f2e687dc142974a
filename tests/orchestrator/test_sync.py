"""orch sync: offline W&B runs of every attempt of a run go to its one W&B run; status counts what is not uploaded.

The runs here are real offline W&B runs. Uploading needs a W&B server, which tests never reach: the upload step is
handed a stand-in that does what ``wandb sync`` does to the files (writes its ``.wandb.synced`` markers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from manifests import RunManifest, save_run_manifest, update_run_manifest
from orchestrator.cli import main
from orchestrator.status import collect_status
from orchestrator.sync import SyncItem, plan_sync, sync_runs, unsynced_wandb_files
from trainers.common.tracking import Tracker

RUN_ID = "20260101T000000Z-toy-aaaaaaaa-s0"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run with two attempts, each logging offline into the same W&B run (a requeue on a node without network)."""
    run_dir = tmp_path_factory.mktemp("root") / "runs" / RUN_ID
    run_dir.mkdir(parents=True)
    save_run_manifest(run_dir, RunManifest(run_id=RUN_ID, trainer="toy", name="n", status="completed", sweep_id="SW"))
    wandb_id = None
    for attempt in range(2):
        config = {"enabled": True, "mode": "offline", "project": "orch-tests"}
        tracker = Tracker(run_dir, tensorboard=False, wandb_config=config, wandb_run_id=wandb_id, run_name=RUN_ID)
        tracker.log({"reward": float(attempt)}, step=attempt)
        tracker.close()
        wandb_id = tracker.wandb_run_id
        update_run_manifest(run_dir, lambda m, w=wandb_id: m.tracking.update(wandb_run_id=w, wandb_mode="offline"))
    return run_dir


def _mark_synced(item: SyncItem, timeout_s: float) -> None:
    """What a successful ``wandb sync`` leaves next to each file it uploaded."""
    for path in item.files:
        Path(str(path) + ".synced").write_text("")


def test_every_attempt_is_uploaded_into_the_one_wandb_run_and_status_counts_the_rest(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = run_dir.parent.parent
    files = unsynced_wandb_files(run_dir)
    wandb_id = (run_dir / "run.json").read_text().split('"wandb_run_id": "')[1].split('"')[0]
    assert len(files) == 2 and all(f.name == f"run-{wandb_id}.wandb" for f in files)
    assert files == sorted(files)  # oldest attempt first
    assert collect_status(root, RUN_ID).runs[0].wandb_unsynced == 2
    assert main(["status", RUN_ID, "--artifact-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "W&B: 2 unsynced" in out and "orch sync SW" in out

    assert main(["sync", RUN_ID, "--dry-run", "--artifact-root", str(root)]) == 0
    listed = capsys.readouterr().out
    assert (
        f"{RUN_ID}: 2 file(s) to upload" in listed
        and f"-m wandb sync --yes --id {wandb_id} {files[0]} {files[1]}" in listed
    )

    (item,) = plan_sync([run_dir])
    result = sync_runs([item], upload=lambda i, t: _mark_synced(i, t))
    assert result.synced == {RUN_ID: 2} and not result.failed
    assert unsynced_wandb_files(run_dir) == [] and collect_status(root, RUN_ID).runs[0].wandb_unsynced == 0
    assert sync_runs(plan_sync([run_dir]), upload=lambda i, t: pytest.fail("nothing to upload")).nothing == [RUN_ID]


def test_an_upload_that_leaves_files_unmarked_is_not_counted_as_synced(tmp_path: Path) -> None:
    folder = tmp_path / "wandb" / "offline-run-20260101_000000-abc"
    folder.mkdir(parents=True)
    (folder / "run-abc.wandb").write_bytes(b"x")
    item = SyncItem("r", tmp_path, "abc", (folder / "run-abc.wandb",))
    quiet = sync_runs([item], upload=lambda i, t: None)
    assert quiet.failed == {"r": "1 file(s) still not marked synced by W&B"} and not quiet.synced
    loud = sync_runs([item], upload=lambda i, t: "wandb sync exited 1: 401 unauthorized")
    assert loud.failed == {"r": "wandb sync exited 1: 401 unauthorized"}


def test_sync_without_credentials_says_how_to_log_in(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    for path in run_dir.glob("wandb/offline-run-*/*.synced"):
        path.unlink()
    assert main(["sync", str(run_dir)]) == 2
    assert "no W&B credentials here (WANDB_API_KEY or ~/.netrc): run wandb login" in capsys.readouterr().err
    assert len(unsynced_wandb_files(run_dir)) == 2
