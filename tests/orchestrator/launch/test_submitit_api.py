"""The submitit names orch relies on exist in the installed submitit, with the shapes orch uses.

Public names first, then every private one listed in ``orchestrator.launch.submitit_private``: when an update of
submitit removes or changes one, this test says which and what orch needs it for, before a submission fails on a
cluster.
"""

from __future__ import annotations

import importlib.util
import inspect
import pkgutil
import re
import tomllib
from pathlib import Path

import pytest
import submitit
from submitit.local import local as submitit_local

from orchestrator.launch import submitit_private
from orchestrator.launch.slurm import _EQUIVALENCE, _PASS_THROUGH

ROOT = Path(__file__).resolve().parents[3]


def test_installed_submitit_is_in_the_pinned_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (pin,) = [r for r in project["dependencies"] if r.startswith("submitit")]
    low, high = re.match(r"submitit>=([\d.]+),<([\d.]+)", pin).groups()  # type: ignore[union-attr]

    def version(text: str) -> tuple[int, ...]:
        return tuple(int(p) for p in text.split("."))

    assert version(low) <= version(submitit.__version__) < version(high), (submitit.__version__, pin)


def test_the_public_names_orch_uses() -> None:
    for name in ("SlurmExecutor", "LocalExecutor", "JobEnvironment", "helpers"):
        assert hasattr(submitit, name), f"submitit.{name} is gone"
    assert hasattr(submitit.helpers, "Checkpointable") and hasattr(submitit.helpers, "DelayedSubmission")
    assert submitit.JobEnvironment.USR_SIG.isalnum()  # the warning signal orch puts its stop request in front of
    for executor in (submitit.SlurmExecutor, submitit.LocalExecutor):
        assert callable(executor.submit) and callable(executor.update_parameters)


@pytest.mark.parametrize("name", submitit_private.PRIVATE_NAMES)
def test_every_private_name_still_exists(name: str) -> None:
    if ":" in name:
        assert pkgutil.resolve_name(name) is not None
    else:
        assert importlib.util.find_spec(name) is not None, f"module {name} is gone (orch runs it with python -m)"


def test_the_sbatch_builder_takes_every_parameter_orch_passes() -> None:
    from submitit.slurm.slurm import _make_sbatch_string

    accepted = set(inspect.signature(_make_sbatch_string).parameters)
    passed = {"command", "folder", "map_count", "job_name", "setup", "dependency", "additional_parameters"}
    passed |= set(_EQUIVALENCE.values()) | set(_PASS_THROUGH)
    assert passed <= accepted, f"_make_sbatch_string no longer takes {sorted(passed - accepted)}"


def test_the_local_controller_gets_the_environment_submitit_gives_it() -> None:
    theirs = set(re.findall(r"\b(SUBMITIT_\w+)=", inspect.getsource(submitit_local.start_controller)))
    ours = set(submitit_private.controller_environment("cmd", timeout_min=1, signal_delay_s=1))
    assert ours == theirs, f"start_controller now sets {sorted(theirs - ours)} and no longer {sorted(ours - theirs)}"
    assert submitit_private.LOCAL_CONTROLLER_MODULE in inspect.getsource(submitit_local.start_controller)
    assert {"folder", "job_id", "process", "tasks"} <= set(inspect.signature(submitit_local.LocalJob).parameters)
    assert "_submit_command" in vars(submitit_local.LocalExecutor)  # the method orch's local executor overrides
