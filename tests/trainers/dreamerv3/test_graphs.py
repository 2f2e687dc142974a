"""The GPU throughput flags, exercised where they can run on a CPU: static batches (``pinned_staging``), the
warm-up/capture/replay bookkeeping of ``cuda_graph`` (eager replays off CUDA), and a whole run with each flag
training exactly as a run without it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from dreamer_testing import metric_lines, resolved_doc, tiny_settings

from trainers.common.job import TrainJob
from trainers.dreamerv3.agent import ActionSpec, DreamerAgent
from trainers.dreamerv3.config import DreamerConfig
from trainers.dreamerv3.graphs import EagerReplay, GraphedUpdate
from trainers.dreamerv3.learner import Learner
from trainers.dreamerv3.replay import SequenceReplay
from trainers.dreamerv3.staging import FreshBatches, StaticBatches
from trainers.dreamerv3.standin import STANDIN, is_standin, standin_device
from trainers.dreamerv3.train import DreamerTrainer, resolve_check_every

REPO = Path(__file__).resolve().parents[3]
QUIET = {"tensorboard": False, "wandb": {"enabled": False}}


def _replay(device: torch.device | str = "cpu", seed: int = 0) -> SequenceReplay:
    replay = SequenceReplay({"observation": (4,)}, 2, capacity=200, num_envs=2, device=device, seed=seed)
    rng = np.random.default_rng(seed)
    for t in range(40):
        replay.add(
            {"observation": rng.normal(size=(2, 4))},
            np.eye(2)[rng.integers(0, 2, 2)],
            rng.normal(size=2),
            np.array([t % 13 == 0] * 2),
            np.array([t % 13 == 12] * 2),
        )
    return replay


def _learner(seed: int = 4) -> Learner:
    torch.manual_seed(seed)
    cfg = DreamerConfig.from_settings(tiny_settings(check_every=4))
    agent = DreamerAgent({"observation": (4,)}, ActionSpec(True, 2), cfg.model)
    return Learner(agent, cfg, device=torch.device("cpu"), seed=seed)


def _flat(batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    return {"observation": batch["obs"]["observation"], **{k: v for k, v in batch.items() if k != "obs"}}


def test_static_batches_hold_what_fresh_batches_draw_in_the_same_tensors() -> None:
    fresh = FreshBatches(_replay(), 3, 8, torch.device("cpu"))
    static = StaticBatches(_replay(), 3, 8, torch.device("cpu"))
    pointers: dict[str, int] = {}
    for _ in range(3):
        drawn, staged = _flat(fresh.sample()), _flat(static.sample())
        assert drawn.keys() == staged.keys()
        assert all(torch.equal(drawn[k], staged[k]) for k in drawn), "same indices, same values"
        pointers = pointers or {k: v.data_ptr() for k, v in staged.items()}
        assert {k: v.data_ptr() for k, v in staged.items()} == pointers  # the same memory every time


def test_static_batches_stage_a_host_replay_onto_the_device() -> None:
    """``pinned_staging`` with the replay on the host: gathered into host buffers used in turn, copied to the device
    tensors; nothing is read back to the host."""
    host_replay = _replay()
    with standin_device() as transfers:
        static = StaticBatches(host_replay, 2, 8, STANDIN)
        assert len(static.host) == 2 and not static.on_device
        transfers.reset()
        batch = static.sample()
        assert transfers.host_to_device > 0 and transfers.device_to_host == 0
        assert all(is_standin(v) for v in _flat(batch).values())
        index = batch["index"].cpu()
        again = host_replay.gather(index, 8)
        assert torch.equal(batch["obs"]["observation"].cpu(), again["obs"]["observation"])
        assert torch.equal(batch["reward"].cpu(), again["reward"])


def test_static_batches_from_a_device_replay_need_no_copy_at_all() -> None:
    """A replay on the device: indices drawn there, gathered straight into the static tensors (what a captured
    update reads), without a copy in either direction."""
    with standin_device() as transfers:
        static = StaticBatches(_replay(STANDIN), 2, 8, STANDIN)
        assert static.on_device and not static.host
        transfers.reset()
        batch = static.sample()
        assert transfers.total == 0, transfers
        assert all(is_standin(v) for v in _flat(batch).values())


def test_graphed_update_warms_up_then_replays_and_trains_as_plain_updates() -> None:
    plain, graphed = _learner(), _learner()
    plain_batches = StaticBatches(_replay(), 2, 8, torch.device("cpu"))
    graph_batches = StaticBatches(_replay(), 2, 8, torch.device("cpu"))
    update = GraphedUpdate(graphed, graph_batches.tensors, warmup=2)
    for n in range(5):
        expected = plain.train_step(plain_batches.sample(), sync=False)
        got = update(graph_batches.sample())
        assert (update.captured is None) == (n < 1), n  # captured after the second (last warm-up) update
        assert all(torch.equal(expected[k], got[k]) for k in expected), n
    assert isinstance(update.captured, EagerReplay) and update.warmed == 2
    assert graphed.updates == plain.updates == 5
    plain.raise_pending()
    graphed.raise_pending()  # the deferred bookkeeping advanced for the replayed updates too
    for a, b in zip(plain.agent.parameters(), graphed.agent.parameters(), strict=True):
        assert torch.equal(a, b)


def test_graphed_update_refuses_a_batch_it_did_not_capture() -> None:
    learner = _learner()
    static = StaticBatches(_replay(), 2, 8, torch.device("cpu"))
    with pytest.raises(ValueError, match="static batch"):
        GraphedUpdate(learner, static.tensors)(_replay().sample(2, 8))
    with pytest.raises(ValueError, match="warm-up"):
        GraphedUpdate(learner, static.tensors, warmup=0)


@pytest.mark.parametrize(
    "changes",
    [{"mode": "standing_still"}, {"check_every": 1}],
    ids=["standing-still", "checks-every-update"],
)
def test_cuda_graph_refuses_settings_that_read_checks_inside_the_update(changes: dict) -> None:
    with pytest.raises(ValueError, match="cuda_graph needs deferred checks"):
        DreamerConfig.from_settings(tiny_settings(cuda_graph=True, **changes))


@pytest.mark.parametrize(
    ("extra", "key"),
    [("check_every: 1\n", "check_every"), ("check_every: auto\nmode: standing_still\n", "mode")],
    ids=["checks-every-update", "standing-still"],
)
def test_orch_validate_names_the_setting_a_captured_update_cannot_take(tmp_path: Path, extra: str, key: str) -> None:
    from orchestrator.config import check_config

    base = (REPO / "configs" / "dreamerv3" / "cartpole.yaml").read_text().replace("mode: full\n", "")
    ok, bad = tmp_path / "ok.yaml", tmp_path / "bad.yaml"
    ok.write_text(base + "cuda_graph: true\npinned_staging: true\n")
    bad.write_text(base + "cuda_graph: true\n" + extra)
    assert not check_config(ok).issues
    report = check_config(bad)
    assert [i.key_path for i in report.issues] == [key], [i.format() for i in report.issues]


def test_a_captured_update_defers_its_checks_on_every_device() -> None:
    learner = _learner()
    cpu = torch.device("cpu")
    assert resolve_check_every(DreamerConfig.from_settings(tiny_settings()), learner, cpu) == 1
    assert resolve_check_every(DreamerConfig.from_settings(tiny_settings(cuda_graph=True)), learner, cpu) == 50


def _run(run_dir: Path, **changes: object) -> DreamerTrainer:
    settings = tiny_settings(tracking=QUIET, eval_episodes=0, **changes)
    trainer = DreamerTrainer(TrainJob(resolved=resolved_doc(settings), run_dir=run_dir))
    trainer.run()
    return trainer


def test_runs_with_the_gpu_throughput_flags_train_exactly_as_without(tmp_path: Path) -> None:
    """Deterministic CPU runs: a captured update (replayed eagerly here) on static batches, and pinned staging
    alone, give the metrics of the plain run with the same check interval, line for line."""
    plain = _run(tmp_path / "plain", check_every=4)
    graphed = _run(tmp_path / "graphed", check_every=4, cuda_graph=True)
    staged = _run(tmp_path / "staged", check_every=4, pinned_staging=True)
    assert isinstance(plain.batches, FreshBatches) and plain.graphed is None
    assert isinstance(graphed.batches, StaticBatches) and graphed.graphed is not None
    assert isinstance(graphed.graphed.captured, EagerReplay)
    assert isinstance(staged.batches, StaticBatches) and staged.graphed is None
    expected = metric_lines(tmp_path / "plain" / "metrics.jsonl")
    assert expected[-1]["opt_steps"] > 3
    assert metric_lines(tmp_path / "graphed" / "metrics.jsonl") == expected
    assert metric_lines(tmp_path / "staged" / "metrics.jsonl") == expected


def test_speed_bench_times_captured_updates(monkeypatch: pytest.MonkeyPatch) -> None:
    """``bench/dreamer_speed.py --cuda-graph``: the timed updates are replays of the captured one (eager here)."""
    import trainers.dreamerv3.bench as bench

    made: list[GraphedUpdate] = []
    real = bench.GraphedUpdate

    def spy(*args: Any, **kwargs: Any) -> GraphedUpdate:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(bench, "GraphedUpdate", spy)
    settings = tiny_settings(num_envs=1, cuda_graph=True)
    result = bench.benchmark(settings, updates=2, warmup=1, threads=1, env_steps=100, flops=False)
    assert result["updates_per_s"] > 0
    (update,) = made
    assert isinstance(update.captured, EagerReplay) and update.learner.updates == 4 + 2  # 4 warm-up, 2 timed
