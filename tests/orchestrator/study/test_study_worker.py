"""A study worker in this process, with the real PPO trainer: trials are ordinary runs, a losing trial is pruned at
its first evaluation, a dead worker's trial is failed and asked again (never counted twice), safety constraints
prune at a report or penalise at the end; then status, best, plot and archive of the study."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from study_helpers import write_tiny_ppo

from manifests import load_run_manifest
from orchestrator.cli import main
from orchestrator.launch.rundir import Provenance
from orchestrator.study.launch import prepare_study
from orchestrator.study.objective import reduce_series
from orchestrator.study.trials import (
    RUN_DIR_ATTR,
    RUN_ID_ATTR,
    SERIES_ATTR,
    WORKER_ATTR,
    create_trial_run,
    fail_stale,
    tally,
)
from orchestrator.study.worker import Claim, StudySession, StudyWorker, TrialReporter
from trainers.common.trial import TrialPruned

pytest.importorskip("optuna")
LIVING = "env_factory_kwargs.reward_kwargs.weights.living"


def _tiny(folder: Path) -> Path:
    path = folder / "tiny_ppo.yaml"
    write_tiny_ppo(path)
    return path


def _study_file(folder: Path, name: str, **keys: Any) -> Path:
    path = folder / f"{name}.yaml"
    document = {
        "base_config": str(_tiny(folder)),
        "study_name": name,
        "trial_timesteps": 384,
        "eval_every": 128,
        "eval_episodes": 1,
        "disable_wandb": True,
        "parallel": 1,
        **keys,
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def pruned_study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A two-trial study run by one worker here: a good reward first, then a deliberately bad one (a living penalty
    500 times the default: every step costs more than an episode can earn), which the median pruner must stop at
    its first evaluation."""
    folder = tmp_path_factory.mktemp("pruned")
    path = _study_file(
        folder,
        "pruned",
        trials=2,
        search_space={LIVING: [-0.01, -5.0]},
        enqueue=[{LIVING: -0.01}, {LIVING: -5.0}],
        pruner={"type": "median", "n_startup_trials": 1},
    )
    root = folder / "output"
    _, study_folder = prepare_study(path, root=root)
    assert StudyWorker(str(study_folder), tee=True)() == "completed"
    session = StudySession(study_folder)
    return {"root": root, "folder": study_folder, "path": path, "trials": session.study.get_trials(), "name": "pruned"}


def test_trials_run_as_runs_and_the_losing_one_is_pruned_at_its_first_evaluation(pruned_study: dict[str, Any]) -> None:
    good, bad = pruned_study["trials"]
    assert (good.state.name, bad.state.name) == ("COMPLETE", "PRUNED")
    assert sorted(good.intermediate_values) == [128, 256, 384] and list(bad.intermediate_values) == [128]
    series = [(int(s), float(v)) for s, v in good.user_attrs[SERIES_ATTR]["eval_episode_return"]]
    assert good.value == pytest.approx(reduce_series(series, mode="last_n_mean", window=3))
    assert bad.intermediate_values[128] < good.intermediate_values[128]
    run = load_run_manifest(Path(good.user_attrs[RUN_DIR_ATTR]))
    assert run.status == "completed" and run.sweep_id == "pruned" and run.name.endswith("_optuna_000")
    assert run.extra["study"]["state"] == "COMPLETE" and run.extra["study"]["params"] == {LIVING: -0.01}
    assert run.extra["study"]["value"] == pytest.approx(good.value)
    pruned = load_run_manifest(Path(bad.user_attrs[RUN_DIR_ATTR]))
    assert pruned.status == "cancelled" and (pruned.error or "").startswith("pruned at step 128: median pruner")
    assert pruned.attempts[-1].state == "pruned" and pruned.extra["study"]["state"] == "PRUNED"
    # the trial's config is its own, ready to run: the study's trainer config with the trial's value
    trial_config = yaml.safe_load((Path(bad.user_attrs[RUN_DIR_ATTR]) / "config.yaml").read_text())
    assert trial_config["env_factory_kwargs"]["reward_kwargs"]["weights"]["living"] == -5.0
    assert trial_config["total_timesteps"] == 384


def test_status_best_plot_and_archive_of_the_study(
    pruned_study: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, name = str(pruned_study["root"]), pruned_study["name"]
    assert main(["status", name, "--artifact-root", root, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["counts"]["complete"] == 1 and doc["counts"]["pruned"] == 1 and doc["best"]["number"] == 0
    assert [t["state"] for t in doc["trials"]] == ["COMPLETE", "PRUNED"]
    assert doc["trials"][1]["step"] == 128 and doc["trials"][1]["run_status"] == "cancelled"
    assert main(["status", name, "--artifact-root", root]) == 0
    table = capsys.readouterr().out
    assert "2 of 2 trials finished (1 complete, 1 pruned)" in table and "best: trial 0" in table
    # orch resume leaves trials to their study
    run_id = doc["trials"][1]["run_id"]
    assert main(["resume", run_id, "--artifact-root", root]) == 0
    assert "a trial of study pruned" in capsys.readouterr().out

    best = tmp_path / "best.yaml"
    assert main(["study", "best", name, "--out", str(best), "--artifact-root", root]) == 0
    capsys.readouterr()
    assert main(["validate", str(best)]) == 0
    config = yaml.safe_load(best.read_text())
    assert config["env_factory_kwargs"]["reward_kwargs"]["weights"]["living"] == -0.01
    assert "Best trial 0 of study pruned" in best.read_text()

    assert main(["plot", name, "--out", str(tmp_path / "p.png"), "--artifact-root", root]) == 0
    drawn = {p.name for p in tmp_path.glob("p_*.png")}
    assert {"p_history.png", "p_intermediate.png"} <= drawn  # importances need two complete trials: said if not
    assert "p_importances.png" in drawn or "not drawn: importances" in capsys.readouterr().err

    dest = tmp_path / "archives"
    assert main(["archive", name, "--dest", str(dest), "--artifact-root", root]) == 0
    assert main(["archive", "verify", str(dest / f"{name}.tar.zst")]) == 0
    assert main(["archive", "restore", str(dest / f"{name}.tar.zst"), "--into", str(tmp_path / "back")]) == 0
    restored = tmp_path / "back" / name
    assert {"study.json", "journal.log", "runs"} <= {p.name for p in restored.iterdir()}
    assert {p.name for p in (restored / "runs").iterdir()} == {t["run_id"] for t in doc["trials"]}


def test_a_dead_workers_trial_is_failed_and_asked_again_and_counted_once(tmp_path: Path) -> None:
    space = {"ppo_hyperparams.learning_rate": [3e-4, 1e-4]}
    path = _study_file(tmp_path, "stale", trials=1, search_space=space, max_failed_trials=2)
    root = tmp_path / "output"
    definition, folder = prepare_study(path, root=root)
    session = StudySession(folder)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        trials = []
        for pid in (dead.pid, alive.pid):
            trial = session.study.ask({"ppo_hyperparams.learning_rate": _distribution(definition)})
            trial.set_user_attr(WORKER_ATTR, {"backend": "inprocess", "job_id": f"pid-{pid}"})
            run = create_trial_run(root, definition, trial.number, dict(trial.params), scheduler={},
                                   provenance=Provenance.collect())  # fmt: skip
            trial.set_user_attr(RUN_ID_ATTR, run.run_id)
            trial.set_user_attr(RUN_DIR_ATTR, str(run.run_dir))
            trials.append((trial, run))
        assert fail_stale(session.study, root, folder) == [0]  # the live worker's trial is left alone
        frozen = session.study.get_trials()
        assert [t.state.name for t in frozen] == ["FAIL", "RUNNING", "WAITING"]
        assert frozen[2].params == frozen[0].params and frozen[2].system_attrs["failed_trial"] == 0
        failed_run = load_run_manifest(trials[0][1].run_dir)
        assert failed_run.status == "failed" and "its worker (job pid-" in (failed_run.error or "")
        session.study.tell(trials[1][0], state=_state("FAIL"))  # the live one, for the rest of the test
    finally:
        alive.kill()
        alive.wait()
    # a worker takes the re-asked trial first; the study ends with exactly one finished trial
    StudyWorker(str(folder), tee=True)()
    counts = tally(StudySession(folder).study)
    assert counts["finished"] == 1 and counts["complete"] + counts["pruned"] == 1 and counts["waiting"] == 0
    done = [t for t in StudySession(folder).study.get_trials() if t.state.name == "COMPLETE"]
    assert done[0].system_attrs.get("failed_trial") == 0 and done[0].params == frozen[0].params


def _distribution(definition: Any) -> Any:
    import optuna

    return optuna.distributions.CategoricalDistribution(list(definition.space[0].choices))


def _state(name: str) -> Any:
    from optuna.trial import TrialState

    return TrialState[name]


@pytest.mark.parametrize("handling", ["prune", "penalize"])
def test_safety_constraints_prune_at_a_report_or_penalise_at_the_end(tmp_path: Path, handling: str) -> None:
    path = _study_file(tmp_path, f"safe_{handling}", trials=2, constraint_collision_rate_max=0.2,
                       constraint_handling=handling, metric="success_rate")  # fmt: skip
    _, folder = prepare_study(path, root=tmp_path / "output")
    session = StudySession(folder)
    trial = session.study.ask()
    reporter = TrialReporter(session, Claim(trial, None))
    reporter(100, {"success_rate": 0.5, "collision_rate": 0.1})  # feasible so far
    if handling == "prune":
        with pytest.raises(TrialPruned, match=r"safety constraint: collision_rate 0\.3 above its bound"):
            reporter(200, {"success_rate": 0.9, "collision_rate": 0.5})  # last_n_mean 0.3 > 0.2
        return
    reporter(200, {"success_rate": 0.9, "collision_rate": 0.5})  # penalize: never stopped early
    session.finish(Claim(trial, None), reporter.series)
    told = session.study.get_trials()[0]
    assert told.state.name == "COMPLETE"
    assert told.value == pytest.approx(0.7 - 1_000_000 - 1_000 * 0.1)  # mean 0.7, mean collision 0.3 > 0.2
    assert told.user_attrs["orch_feasibility"]["violations"] == {"collision_rate": pytest.approx(0.1)}


def test_the_pruner_stops_a_losing_trial_before_its_last_evaluation_never_at_it(tmp_path: Path) -> None:
    path = _study_file(tmp_path, "last", trials=3, pruner={"type": "median", "n_startup_trials": 1})
    _, folder = prepare_study(path, root=tmp_path / "output")  # trial_timesteps 384, evaluations every 128
    session = StudySession(folder)
    winner = session.study.ask()
    for step in (128, 256, 384):
        TrialReporter(session, Claim(winner, None))(step, {"eval_episode_return": 10.0})
    session.study.tell(winner, 10.0)
    at_the_end = TrialReporter(session, Claim(session.study.ask(), None))
    at_the_end(384, {"eval_episode_return": -10.0})  # trained its budget: it completes, whatever the median says
    midway = TrialReporter(session, Claim(session.study.ask(), None))
    with pytest.raises(TrialPruned, match="median pruner"):
        midway(256, {"eval_episode_return": -10.0})


def test_a_report_without_the_study_metric_fails_the_trial_with_the_reason(tmp_path: Path) -> None:
    _, folder = prepare_study(_study_file(tmp_path, "nometric", trials=1), root=tmp_path / "output")
    session = StudySession(folder)
    reporter = TrialReporter(session, Claim(session.study.ask(), None))
    with pytest.raises(ValueError, match="reports no eval_episode_return"):
        reporter(100, {"success_rate": 1.0})


def test_cli_study_dry_run_writes_nothing(tmp_path: Path, cli: Callable[..., tuple[int, str, str]]) -> None:
    path = _study_file(tmp_path, "dry", trials=3, parallel=2)
    root = tmp_path / "output"
    code, out, _ = cli("study", path, "--dry-run", "--artifact-root", root)
    assert code == 0 and "dry run: study dry, nothing written or queued" in out
    assert "background process(es)" in out and not root.exists()
