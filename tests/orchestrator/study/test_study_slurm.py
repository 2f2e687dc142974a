"""Studies on the real single-node Slurm cluster (the issue's Must-holds), with the real PPO trainer:

* six trials, ``parallel: 3``: one job array of three workers; a deliberately bad parameter range (a living penalty
  far below the default) is pruned by the median pruner; a worker requeued mid-trial (``scontrol requeue``) resumes
  that trial from its checkpoint; the journal ends with exactly six finished trials;
* every worker killed (``scancel``), then ``orch study CONFIG`` again: the same study continues, the killed trials
  are failed and asked again, and it ends with exactly its trials.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from study_helpers import write_tiny_ppo

from manifests import load_run_manifest

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster")]
optuna = pytest.importorskip("optuna")

LIVING = "env_factory_kwargs.reward_kwargs.weights.living"
CLUSTER = ["--cluster", "localslurm", "--set", "cluster.mem_gb=2", "--set", "cluster.time_min=20",
           "--set", "cluster.array_parallelism=3"]  # fmt: skip


def _release(job_ids: list[str]) -> None:
    from tests.orchestrator.launch.launch_helpers import release_begin_time_hold

    for job in job_ids:
        release_begin_time_hold(job)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("slurm_studies")
    yield folder
    for manifest in folder.glob("output/studies/*/study.json"):  # leave the cluster empty, even after a failure
        ids = [j for s in json.loads(manifest.read_text())["submissions"] for j in s["job_ids"]]
        subprocess.run(["scancel", *{j.split("_")[0] for j in ids}], capture_output=True, check=False)


def _study(folder: Path, name: str, **keys: Any) -> Path:
    base = folder / f"{name}_base.yaml"
    write_tiny_ppo(base)
    path = folder / f"{name}.yaml"
    study = {"base_config": str(base), "study_name": name, "eval_every": 256, "eval_episodes": 1, "disable_wandb": True}
    path.write_text(yaml.safe_dump({**study, **keys}, sort_keys=False))
    return path


def _status(cli: Callable[..., tuple[int, str, str]], name: str, root: Path) -> dict[str, Any]:
    code, out, err = cli("status", name, "--artifact-root", root, "--json")
    assert code == 0, err
    return json.loads(out)


def _wait(predicate: Callable[[], Any], timeout_s: float, what: str, release: list[str] | None = None) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if release:
            _release(release)
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


def _mid_trial(root: Path, study: str, good: float) -> tuple[str, Path, int] | None:
    """A good trial's run that is past its first checkpoint and not near its end: (worker job, run dir, step)."""
    for run_json in (root / "runs").glob("*/run.json"):
        try:
            data = json.loads(run_json.read_text())
        except ValueError:
            continue
        block = data.get("study") or {}
        step = (data.get("progress") or {}).get("step") or 0
        total = (data.get("progress") or {}).get("total_steps") or 1
        if (
            data.get("sweep_id") == study
            and data.get("status") == "running"
            and block.get("params", {}).get(LIVING, -1) >= good
            and list((run_json.parent / "checkpoints").glob("step_*.json"))
            and 256 <= step <= total // 2
        ):
            return str(data["scheduler"]["job_id"]), run_json.parent, int(step)
    return None


def test_six_trials_in_one_array_pruned_requeued_and_exactly_six_finished(
    root: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    path = _study(
        root,
        "six",
        trials=6,
        parallel=3,
        trial_timesteps=3072,
        # a deliberately bad range: every sampled living penalty costs more per step than an episode can earn; the
        # enqueued first three trials keep (about) the default, so the pruner has good trials to compare with
        search_space={LIVING: {"low": -3.0, "high": -0.01}},
        enqueue=[{LIVING: -0.01}, {LIVING: -0.011}, {LIVING: -0.012}],
        pruner={"type": "median", "n_startup_trials": 1},
    )
    out_root = root / "output"
    code, out, err = cli("study", path, *CLUSTER, "--artifact-root", out_root)
    assert code == 0, err
    assert "queued 3 worker(s) on localslurm" in out
    submission = json.loads((out_root / "studies" / "six" / "study.json").read_text())["submissions"][0]
    arrays = {j.split("_")[0] for j in submission["job_ids"]}
    assert len(arrays) == 1 and len(submission["job_ids"]) == 3  # one job array of three workers

    # requeue a worker in the middle of a (good) trial: Slurm kills it and queues it again
    job, run_dir, _ = _wait(lambda: _mid_trial(out_root, "six", -0.012) or None, 300, "a trial mid-way")
    subprocess.run(["scontrol", "requeue", job], check=True, capture_output=True)
    doc = _wait(
        lambda: (d := _status(cli, "six", out_root))["counts"]["finished"] >= 6 and not d["counts"]["running"] and d,
        600,
        "six finished trials",
        release=[job],
    )
    counts = doc["counts"]
    assert counts["finished"] == 6 and counts["complete"] + counts["pruned"] == 6 and counts["fail"] == 0
    assert counts["pruned"] >= 1, doc["trials"]
    pruned = [t for t in doc["trials"] if t["state"] == "PRUNED"]
    # what was pruned is the bad range: at least one sampled (not enqueued) living penalty
    assert any(t["params"][LIVING] < -0.012 for t in pruned), [(t["number"], t["params"]) for t in pruned]
    # the requeued worker took its trial back and resumed its run from the checkpoint
    run = load_run_manifest(run_dir)
    assert len(run.attempts) == 2, [(a.state, a.reason) for a in run.attempts]
    assert run.attempts[0].state == "requeued" and "ended without notice" in (run.attempts[0].reason or "")
    assert run.progress.get("resumed_from_step", 0) >= 256 and run.status in ("completed", "cancelled")
    requeued = [t for t in doc["trials"] if t["run_dir"] == str(run_dir)]
    assert len(requeued) == 1 and requeued[0]["state"] in ("COMPLETE", "PRUNED")
    # the journal itself: exactly six finished trials, each one run, all workers of the one array
    study = optuna.load_study(study_name="six", storage=_storage(out_root / "studies" / "six"))
    states = [t.state.name for t in study.get_trials()]
    assert len(states) == 6 and set(states) <= {"COMPLETE", "PRUNED"}
    workers = {t.user_attrs["orch_worker"]["job_id"] for t in study.get_trials()}
    assert {w.split("_")[0] for w in workers} == arrays


def _storage(folder: Path) -> Any:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(folder / "journal.log")))


def test_killing_every_worker_then_orch_study_again_continues_the_same_study(
    root: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    path = _study(
        root,
        "killed",
        trials=4,
        parallel=2,
        trial_timesteps=2048,
        search_space={"ppo_hyperparams.learning_rate": [3e-4, 1e-4]},
        pruner={"type": "none"},
    )
    out_root = root / "output"
    code, out, err = cli("study", path, *CLUSTER, "--artifact-root", out_root)
    assert code == 0 and "created" in out, err
    folder = out_root / "studies" / "killed"
    first = json.loads((folder / "study.json").read_text())["submissions"][0]["job_ids"]
    _wait(
        lambda: (
            (d := _status(cli, "killed", out_root))["counts"]["finished"] >= 1
            and any(t["state"] == "RUNNING" and (t["step"] or 0) >= 256 for t in d["trials"])
        ),
        300,
        "a finished trial and a running one",
    )
    subprocess.run(["scancel", *{j.split("_")[0] for j in first}], check=True, capture_output=True)
    _wait(lambda: not _queued(first), 60, "every worker gone")  # squeue lists a job until its processes are killed
    before = _status(cli, "killed", out_root)
    running = [t["number"] for t in before["trials"] if t["state"] == "RUNNING"]
    assert running, "the killed workers left RUNNING trials in the journal"

    code, out, err = cli("study", path, *CLUSTER, "--artifact-root", out_root)
    assert code == 0, err
    assert "study killed (ppo_expert) continued" in out
    assert f"failed trial(s) {running} of workers that are gone" in out and "queued" in out
    doc = _wait(
        lambda: (d := _status(cli, "killed", out_root))["counts"]["finished"] >= 4 and not d["counts"]["running"] and d,
        600,
        "four finished trials",
    )
    assert doc["counts"]["finished"] == 4 and doc["counts"]["complete"] + doc["counts"]["pruned"] == 4
    summaries = optuna.get_all_study_summaries(_storage(folder))
    assert [s.study_name for s in summaries] == ["killed"]  # the same study, continued
    # every trial a killed worker left RUNNING was failed (a worker that outlived the other by a moment may have
    # failed one too) and its parameters were asked again, until a retry finished: nothing lost, nothing twice
    fails = [t for t in doc["trials"] if t["state"] == "FAIL"]
    assert set(running) <= {t["number"] for t in fails}
    assert all("ended without finishing it" in (t["note"] or "") for t in fails)
    originals = {t["number"] if t["retried_from"] is None else t["retried_from"] for t in fails}
    finished_retries = {t["retried_from"] for t in doc["trials"] if t["state"] in ("COMPLETE", "PRUNED")}
    assert originals <= finished_retries
    assert len(json.loads((folder / "study.json").read_text())["submissions"]) == 2


def _queued(jobs: list[str]) -> list[str]:
    arrays = sorted({j.split("_")[0] for j in jobs})
    out = subprocess.run(["squeue", "-h", "-j", ",".join(arrays)], capture_output=True, text=True, check=False)
    return out.stdout.split()
