"""Checkpoints that fit on scratch: uncompiled weights, weights-only policy checkpoints, the replay only with the
newest resume checkpoint and written by changed ranges, ``keep_last`` step checkpoints, and a resume that verifies
newest first."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from dreamer_testing import resolved_doc, tiny_settings

from manifests import load_run_manifest
from trainers.common import checkpoints as common
from trainers.common.job import TrainJob
from trainers.dreamerv3.agent import ActionSpec, DreamerAgent
from trainers.dreamerv3.checkpoints import COMPILED_PREFIX, chunk_names, load_agent_weights
from trainers.dreamerv3.config import DreamerConfig
from trainers.dreamerv3.replay import SequenceReplay
from trainers.dreamerv3.replay_files import load_replay_chunks
from trainers.dreamerv3.train import DreamerTrainer, compile_step_cells, train

QUIET = {"tensorboard": False, "wandb": {"enabled": False}}


def _files(run_dir: Path, prefix: str) -> list[str]:
    return sorted(p.name for p in (run_dir / "checkpoints").glob(f"{prefix}*.pt"))


class CountingTrainer(DreamerTrainer):
    """Records, after every resume checkpoint, the replay files it wrote and named, and which files are on disk."""

    def __init__(self, job: TrainJob):
        super().__init__(job)
        self.after: list[dict[str, Any]] = []

    def _checkpoint(self, name: str, kind: str, metrics: Any = None) -> Any:
        before = set(_files(self.run_dir, "replay_"))
        info = super()._checkpoint(name, kind, metrics)
        named = {f"{n}.pt" for n in chunk_names(info.meta)}
        on_disk = set(_files(self.run_dir, "replay_"))
        written = {f for f in named if f not in before}
        seen = {"named": named, "written": written, "replay": on_disk, "steps": _files(self.run_dir, "step_")}
        self.after.append({**seen, "filled": self.parts.replay.count, "per_range": self.parts.replay.chunk_slots})
        return info


def test_keep_last_step_checkpoints_and_one_replay(tmp_path: Path) -> None:
    settings = tiny_settings(checkpoint_every=20, tracking=QUIET, keep_last=2)
    run_dir = tmp_path / "runs" / "pruned"
    trainer = CountingTrainer(TrainJob(resolved=resolved_doc(settings), run_dir=run_dir))
    trainer.run()
    for seen in trainer.after:  # once a checkpoint is complete, the replay on disk is exactly what it names
        assert seen["replay"] == seen["named"] and len(seen["steps"]) <= settings["keep_last"]
    assert _files(run_dir, "step_") == ["step_100.pt", "step_80.pt"]
    final = json.loads((run_dir / "checkpoints" / "final.json").read_text())["meta"]
    assert set(_files(run_dir, "replay_")) == {f"{n}.pt" for n in chunk_names(final)}
    recorded = {Path(c.path).name for c in load_run_manifest(run_dir).checkpoints}
    assert {"step_80.pt", "step_100.pt", "final.pt", "best.pt"} | set(_files(run_dir, "replay_")) <= recorded
    assert not {"step_20.pt", "step_60.pt"} & recorded
    assert not {f for f in recorded if f.startswith("replay_")} - set(_files(run_dir, "replay_"))


def test_a_checkpoint_writes_only_the_replay_ranges_that_changed(tmp_path: Path) -> None:
    """2 envs x 500 slots in 32 ranges of 16 slots; a checkpoint every 20 env steps (10 slots per env) touches at
    most 2 ranges, however many the replay holds."""
    settings = tiny_settings(checkpoint_every=20, tracking=QUIET, total_env_steps=200)
    trainer = CountingTrainer(TrainJob(resolved=resolved_doc(settings), run_dir=tmp_path / "runs" / "ranges"))
    trainer.run()
    assert trainer.after[0]["per_range"] == 16
    for seen in trainer.after:  # every filled range is named
        assert len(seen["named"]) == -(-seen["filled"] // 16)
    later = trainer.after[1:]
    assert len(later) >= 8 and len(later[-1]["named"]) >= 6
    assert max(len(seen["written"]) for seen in later) <= 2
    assert sum(len(seen["written"]) for seen in later) < sum(len(seen["named"]) for seen in later) / 2


def test_policy_checkpoints_hold_weights_only(tmp_path: Path) -> None:
    settings = tiny_settings(eval_every=40, tracking=QUIET)
    run_dir = tmp_path / "runs" / "policies"
    train(TrainJob(resolved=resolved_doc(settings), run_dir=run_dir))
    assert _files(run_dir, "policy_") == ["policy_120.pt", "policy_40.pt", "policy_80.pt"]
    for name in ("best.pt", "policy_40.pt"):
        state = torch.load(run_dir / "checkpoints" / name, weights_only=False)
        assert set(state) == {"format", "env_steps", "agent"}
    best = (run_dir / "checkpoints" / "best.pt").stat().st_size
    assert best < (run_dir / "checkpoints" / "final.pt").stat().st_size / 2  # no optimiser state, no replay


def test_compiled_runs_save_plain_weights_and_orch_eval_loads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``compile: true`` writes checkpoints whose keys carry no ``_orig_mod.``; ``orch eval`` loads them strictly.
    The compiler runs with dynamo's eager backend here (the same wrapping, without minutes of code generation)."""
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    settings = tiny_settings(compile=True, tracking=QUIET, total_env_steps=80, eval_every=80, checkpoint_every=40)
    run_dir = tmp_path / "runs" / "compiled"
    (run_dir).mkdir(parents=True)
    (run_dir / "resolved.json").write_text(json.dumps(resolved_doc(settings)))
    train(TrainJob(resolved=resolved_doc(settings), run_dir=run_dir))
    for name in ("best.pt", "final.pt", "step_40.pt"):
        keys = torch.load(run_dir / "checkpoints" / name, weights_only=False)["agent"]
        assert not [k for k in keys if COMPILED_PREFIX in k], name
    from orchestrator.cli import main

    assert main(["eval", str(run_dir), "--episodes", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["checkpoint_kind"] == "best"


def test_weights_load_into_compiled_and_uncompiled_agents_and_from_old_compiled_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    cfg = DreamerConfig.from_settings(tiny_settings())
    plain = DreamerAgent({"observation": (4,)}, ActionSpec(True, 2), cfg.model)
    compiled = DreamerAgent({"observation": (4,)}, ActionSpec(True, 2), cfg.model)
    compile_step_cells(compiled)
    assert list(compiled.state_dict()) == list(plain.state_dict())
    load_agent_weights(compiled, plain.state_dict())
    old_style = {k.replace("rssm.gru.", f"rssm.gru.{COMPILED_PREFIX}"): v for k, v in plain.state_dict().items()}
    load_agent_weights(plain, old_style)  # a checkpoint of the earlier torch.compile(module) wrapping


def test_resume_hashes_newest_first_and_stops_at_the_first_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tiny_settings(checkpoint_every=20, tracking=QUIET, keep_last=3)
    run_dir = tmp_path / "runs" / "torn"
    train(TrainJob(resolved=resolved_doc(settings), run_dir=run_dir))
    hashed: list[str] = []
    real = common.sha256_file
    monkeypatch.setattr(common, "sha256_file", lambda p: hashed.append(Path(p).name) or real(p))
    assert common.find_latest_checkpoint(run_dir).path.name == "final.pt"  # type: ignore[union-attr]
    assert hashed == ["final.pt"]
    hashed.clear()
    for name in ("final.pt", "step_100.pt"):  # torn files: the search goes on to the next newest
        (run_dir / "checkpoints" / name).write_bytes(b"torn")
    assert common.find_latest_checkpoint(run_dir).path.name == "step_80.pt"  # type: ignore[union-attr]
    assert hashed == ["final.pt", "step_100.pt", "step_80.pt"]


def test_resume_without_its_replay_goes_on_with_an_empty_one(tmp_path: Path) -> None:
    settings = tiny_settings(checkpoint_every=60, tracking=QUIET)
    run_dir = tmp_path / "runs" / "no-replay"
    train(TrainJob(resolved=resolved_doc(settings), run_dir=run_dir))
    final = json.loads((run_dir / "checkpoints" / "final.json").read_text())["meta"]
    step_60 = json.loads((run_dir / "checkpoints" / "step_60.json").read_text())["meta"]
    assert chunk_names(step_60) - chunk_names(final), "final rewrote a range step_60 named"
    for name in ("final.pt", "final.json"):
        (run_dir / "checkpoints" / name).unlink()  # step_60's changed range was pruned when final was written
    with pytest.warns(UserWarning, match="without its replay"):
        train(TrainJob(resolved=resolved_doc(settings), run_dir=run_dir, resume=True))
    assert load_run_manifest(run_dir).status == "completed"


def test_a_checkpoint_of_the_single_file_layout_still_resumes_with_its_replay(tmp_path: Path) -> None:
    """Runs checkpointed by an orch before the replay ranges name one replay file (``replay_checkpoint``); resuming
    them with this orch loads that file."""
    settings = tiny_settings(checkpoint_every=60, tracking=QUIET)
    run_dir = tmp_path / "runs" / "single-file"
    train(TrainJob(resolved=resolved_doc(settings), run_dir=run_dir))
    folder = run_dir / "checkpoints"
    final = json.loads((folder / "final.json").read_text())
    state = torch.load(folder / "final.pt", weights_only=False)
    replay = SequenceReplay({"observation": (4,)}, 2, capacity=settings["replay_capacity"], num_envs=2)
    assert load_replay_chunks(replay, final["meta"]["replay_chunks"], state.pop("replay_ring"), run_dir) is None
    for path in folder.glob("replay_*"):
        path.unlink()
    single = common.save_checkpoint(
        run_dir, "replay_final", lambda p: torch.save({"replay": replay.state_dict()}, p), step=120, kind="replay"
    )
    meta = {
        "opt_steps": final["meta"]["opt_steps"],
        "replay_checkpoint": "replay_final",
        "replay_sha256": single.sha256,
    }
    common.save_checkpoint(run_dir, "final", lambda p: torch.save(state, p), step=120, kind="final", meta=meta)
    longer = {**settings, "total_env_steps": 160}
    resumed = DreamerTrainer(TrainJob(resolved=resolved_doc(longer), run_dir=run_dir, resume=True))
    try:
        assert not resumed.replay_missing_on_resume and resumed.resumed_from is not None
        assert resumed.parts.replay.count == replay.count > 0
        assert torch.equal(resumed.parts.replay.reward[:, : replay.count], replay.reward[:, : replay.count])
    finally:
        resumed.close()
