"""Secrets in cluster profiles never reach a file; profile values that would break a batch script are refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from manifests import load_run_manifest
from orchestrator.errors import LaunchError
from orchestrator.launch.clusters import load_cluster, profile_from_dict
from orchestrator.launch.secrets import is_secret_name, redact_line, redacted_profile
from orchestrator.launch.submit import submit
from orchestrator.status import wait_for

SECRET = "secret123"


@pytest.mark.parametrize(
    ("name", "secret"),
    [("WANDB_API_KEY", True), ("HF_TOKEN", True), ("DB_PASSWORD", True), ("AWS_SECRET_ACCESS_KEY", True),
     ("GH_AUTH", True), ("OMP_NUM_THREADS", False), ("MPLBACKEND", False), ("SDL_VIDEODRIVER", False)],
)  # fmt: skip
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_manifests_record_names_and_only_plain_values() -> None:
    profile = profile_from_dict(
        {
            "backend": "slurm",
            "env": {"WANDB_API_KEY": SECRET, "OMP_NUM_THREADS": 1},
            "setup": ['export HF_TOKEN="tok en" && echo ok', "ulimit -n 4096"],
        }
    )
    recorded = json.dumps(redacted_profile(profile))
    assert SECRET not in recorded and "tok en" not in recorded
    doc = redacted_profile(profile)
    assert doc["env"] == {"WANDB_API_KEY": "<redacted>", "OMP_NUM_THREADS": "1"}
    assert doc["setup"] == ["export HF_TOKEN=<redacted> && echo ok", "ulimit -n 4096"]
    assert redact_line("A=1 B_KEY='x y' cmd") == "A=1 B_KEY=<redacted> cmd"
    script = "\n".join(profile.setup_lines())
    assert SECRET not in script and "export OMP_NUM_THREADS=1" in script and "# WANDB_API_KEY: secret" in script


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"env": {"BAD-NAME": "x"}}, "'BAD-NAME' is not a variable name"),
        ({"env": {"1ST": "x"}}, "'1ST' is not a variable name"),
        ({"env": {"A": "x\n#SBATCH --account=other"}}, "env.A: the value holds a newline"),
        ({"partition": "debug\n#SBATCH --qos=high"}, "partition: the value holds a newline"),
        ({"scheduler_options": {"mail type": "END"}}, "'mail type' is not a scheduler option name"),
        ({"modules": ["gcc\nrm -rf x"]}, "modules[0]: holds a newline"),
    ],
    ids=["dash-name", "digit-name", "newline-value", "newline-partition", "option-name", "newline-module"],
)
def test_values_that_would_break_the_batch_script_are_refused(change: dict, message: str) -> None:
    with pytest.raises(LaunchError, match=message.replace("[", r"\[").replace("]", r"\]")):
        profile_from_dict({"backend": "slurm", **change})


def test_a_local_job_gets_the_secret_and_no_file_holds_it(tmp_path: Path, make_toy_config, toy_resolver) -> None:
    config = make_toy_config(total_steps=2, report_env=["WANDB_API_KEY"])
    profile = load_cluster("local", {"env": {"WANDB_API_KEY": SECRET, "MPLBACKEND": "Agg"}})
    preview = submit([config], root=tmp_path, resolver=toy_resolver, profile=profile, dry_run=True)
    assert SECRET not in (preview.script or "") and "WANDB_API_KEY=<redacted>" in (preview.script or "")
    result = submit([config], root=tmp_path, resolver=toy_resolver, profile=profile)
    assert wait_for(tmp_path, result.sweep_id, poll_s=0.5, timeout_s=60).runs[0].status == "completed"
    run_dir = Path(result.runs[0]["run_dir"])
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert lines[0]["env_present"] == {"WANDB_API_KEY": True}  # the job had it
    assert load_run_manifest(run_dir).scheduler["profile"]["env"]["WANDB_API_KEY"] == "<redacted>"
    found = subprocess.run(["grep", "-rl", SECRET, str(tmp_path)], capture_output=True, text=True)
    assert found.stdout == "", f"secret written to: {found.stdout}"


def test_bad_profile_values_given_on_the_command_line_exit_2(tmp_path: Path, make_toy_config, capsys) -> None:
    from orchestrator.cli import main

    config = make_toy_config(total_steps=2)
    code = main(["submit", str(config), "--set", "cluster.env={A-B: 1}", "--artifact-root", str(tmp_path)])
    assert code == 2 and "'A-B' is not a variable name" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_a_resumed_job_gets_the_secret_back_from_the_profile_file(
    tmp_path: Path, make_toy_config, toy_resolver, monkeypatch
) -> None:
    from orchestrator.cli import main

    clusters = tmp_path / "clusters"
    clusters.mkdir()
    (clusters / "mine.yaml").write_text(f"backend: local\nenv:\n  WANDB_API_KEY: {SECRET}\n  MPLBACKEND: Agg\n")
    monkeypatch.setenv("ORCH_CLUSTERS", str(clusters))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    config = make_toy_config(total_steps=3, fail_at_step=2, fail_once=True, report_env=["WANDB_API_KEY"])
    root = tmp_path / "root"
    result = submit([config], root=root, resolver=toy_resolver, profile=load_cluster("mine", {"array_parallelism": 1}))
    assert wait_for(root, result.sweep_id, poll_s=0.5, timeout_s=60).runs[0].status == "failed"
    assert main(["resume", result.runs[0]["run_id"], "--artifact-root", str(root)]) == 0
    assert wait_for(root, result.sweep_id, poll_s=0.5, timeout_s=60).runs[0].status == "completed"
    run_dir = Path(result.runs[0]["run_dir"])
    reports = [
        json.loads(x)["env_present"] for x in (run_dir / "metrics.jsonl").read_text().splitlines() if "env_" in x
    ]
    assert reports == [{"WANDB_API_KEY": True}, {"WANDB_API_KEY": True}]  # both attempts had it
    manifest = load_run_manifest(run_dir)
    assert manifest.scheduler["profile"]["array_parallelism"] == 1  # the profile as submitted, override included
    found = subprocess.run(["grep", "-rl", SECRET, str(root)], capture_output=True, text=True)
    assert found.stdout == ""
