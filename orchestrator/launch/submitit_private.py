"""The submitit names orch needs that submitit does not export, all in this one module.

Everything else goes through submitit's public API (``SlurmExecutor``, ``LocalExecutor``, ``submit_array``,
``JobEnvironment``, ``helpers.Checkpointable``/``DelayedSubmission``). Two things have no public way, and are done
here with the private names they need; ``tests/orchestrator/launch/test_submitit_api.py`` checks every name in
:data:`PRIVATE_NAMES` and fails loudly when an update of submitit (pinned to 1.5.x in pyproject) removes or changes
one:

* the batch script of a submission without submitting it (``orch submit --dry-run``): submitit's own
  ``_make_sbatch_string``, the function its ``SlurmExecutor`` writes scripts with, so the preview is what sbatch gets;
* local jobs that outlive the terminal: ``LocalExecutor._submit_command`` overridden to start submitit's controller
  (``python -m submitit.local._local FOLDER``, as ``submitit.local.local.start_controller`` does) in a session of
  its own, with the variables that controller reads (:func:`controller_environment`).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "JOB_MODULE",
    "LOCAL_CONTROLLER_MODULE",
    "PRIVATE_NAMES",
    "controller_environment",
    "detached_local_executor",
    "job_command",
    "sbatch_script",
]

JOB_MODULE = "submitit.core._submit"  # what every submitit job runs: python -u -m submitit.core._submit FOLDER
LOCAL_CONTROLLER_MODULE = "submitit.local._local"
# Every private name of submitit used here, as "module:attribute" (the test resolves each one).
PRIVATE_NAMES = (
    "submitit.slurm.slurm:_make_sbatch_string",
    "submitit.local.local:LocalExecutor._submit_command",
    "submitit.local.local:start_controller",
    f"{LOCAL_CONTROLLER_MODULE}",
    f"{JOB_MODULE}",
)


def job_command(python: str, folder: Path | str) -> str:
    """The command a submitit job runs, as its executors write it."""
    return " ".join([python, "-u -m", JOB_MODULE, shlex.quote(str(folder))])


def controller_environment(command: str, *, timeout_min: float, signal_delay_s: int) -> dict[str, str]:
    """What ``submitit.local.local.start_controller`` puts in its controller's environment (submitit 1.5): one task
    on one node, no GPUs chosen, no setup lines. The controller and the job read these back."""
    return {
        "SUBMITIT_LOCAL_NTASKS": "1",
        "SUBMITIT_LOCAL_COMMAND": command,
        "SUBMITIT_LOCAL_TIMEOUT_S": str(int(60 * timeout_min)),
        "SUBMITIT_LOCAL_SIGNAL_DELAY_S": str(int(signal_delay_s)),
        "SUBMITIT_LOCAL_NODEID": "0",
        "SUBMITIT_LOCAL_JOB_NUM_NODES": "1",
        "SUBMITIT_STDERR_TO_STDOUT": "",
        "SUBMITIT_EXECUTOR": "local",
        "SUBMITIT_LOCAL_WITH_SHELL": "",
    }


def sbatch_script(*, python: str, folder: Path, map_count: int | None, parameters: Mapping[str, Any]) -> str:
    """The batch script ``SlurmExecutor`` would hand to sbatch for these parameters, submitting nothing."""
    from submitit.slurm.slurm import _make_sbatch_string

    script: str = _make_sbatch_string(
        command=job_command(python, folder), folder=folder, map_count=map_count, **parameters
    )
    return script


def detached_local_executor(folder: Path, *, python: str, max_requeues: int, env: Mapping[str, str]) -> Any:
    """A submitit ``LocalExecutor`` whose job controllers start in their own session (closing the terminal does not
    stop them), with ``env`` added to their environment."""
    from submitit.local.local import LocalExecutor, LocalJob

    class _DetachedLocalExecutor(LocalExecutor):
        def _submit_command(self, command: str) -> Any:
            variables = controller_environment(
                command,
                timeout_min=self.parameters.get("timeout_min", 2.0),
                signal_delay_s=self.parameters.get("signal_delay_s", 30),
            )
            process = subprocess.Popen(
                [sys.executable, "-m", LOCAL_CONTROLLER_MODULE, str(self.folder)],
                env={**os.environ, **variables, **env},
                start_new_session=True,
                stdin=subprocess.DEVNULL,
            )
            return LocalJob(folder=self.folder, job_id=str(process.pid), process=process, tasks=[0])

    return _DetachedLocalExecutor(folder=folder, max_num_timeout=max_requeues, python=python)
