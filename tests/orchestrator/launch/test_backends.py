"""The one backend interface, per backend: which job a run names, states, alive, truthful cancel reports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from orchestrator.launch.backend import backend_for
from orchestrator.launch.inprocess import InProcessBackend
from orchestrator.launch.local import LocalBackend
from orchestrator.launch.slurm import SlurmBackend, parse_scancel


def test_backend_for_names_only_known_backends() -> None:
    assert backend_for({"backend": "slurm"}) is SlurmBackend
    assert backend_for({"backend": "inprocess"}) is InProcessBackend
    assert backend_for({"backend": "pbs"}) is None and backend_for({}) is None


@pytest.mark.parametrize("backend", [LocalBackend, InProcessBackend], ids=["local", "inprocess"])
def test_a_pid_on_another_host_is_unreachable_and_never_asked_about(backend) -> None:
    sched = {"backend": backend.name, "job_id": "123", "submit_host": "elsewhere-node-7"}
    assert backend.job_id(sched) is None
    assert "elsewhere-node-7" in (backend.unreachable(sched) or "")
    here = {**sched, "submit_host": socket.gethostname()}
    assert backend.job_id(here) == "123" and backend.unreachable(here) is None


def test_in_process_states_and_cancel_of_a_real_process() -> None:
    code = "import sys, time; print('ready', flush=True); time.sleep(60)"
    sleeper = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    job = f"pid-{sleeper.pid}"
    try:
        # A signal that reaches the child between fork and exec is lost at exec (seen under load): wait for Python.
        assert sleeper.stdout is not None and sleeper.stdout.readline().strip() == "ready"
        assert InProcessBackend.alive([job]) == {job: True}
        assert InProcessBackend.query_states([job])[job].raw == "ALIVE"
        report = InProcessBackend.cancel_jobs([job])
        assert report.stopped == {job} and not report.failed
        assert sleeper.wait(timeout=10) != 0  # interrupted as Ctrl-C would
    finally:
        sleeper.kill()
    assert InProcessBackend.alive([job]) == {job: False}
    assert InProcessBackend.cancel_jobs([job]).stopped == {job}  # gone already: nothing left running


def test_local_alive_asks_for_the_submitit_controller_not_any_process() -> None:
    assert LocalBackend.alive([str(os.getpid())]) == {str(os.getpid()): False}  # pytest is no controller


def test_scancel_report_names_the_jobs_it_could_not_stop() -> None:
    stderr = (
        "scancel: error: Kill job error on job id 12_3: Access/permission denied\n"
        "scancel: error: Kill job error on job id 14: Invalid job id specified\n"
    )
    report = parse_scancel(["11", "12_3", "14"], 1, stderr)
    assert report.stopped == {"11", "14"}  # 14 is unknown to Slurm: it does not run
    assert report.failed == {"12_3": "Access/permission denied"}


def test_scancel_that_could_not_reach_the_controller_stopped_nothing() -> None:
    report = parse_scancel(["1", "2"], 1, "scancel: error: Unable to contact slurm controller (connect failure)\n")
    assert report.stopped == frozenset() and set(report.failed) == {"1", "2"}
    assert "Unable to contact" in report.failed["1"]


def test_scancel_missing_from_the_path_stops_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    report = SlurmBackend.cancel_jobs(["5"])
    assert report.stopped == frozenset() and "scancel could not run" in report.failed["5"]
