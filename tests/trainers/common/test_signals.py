"""The stop request a trainer polls at its step boundaries, and env workers deaf to the trainer's signals."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trainers.common.signals import TrainingStopped, clear_stop, request_stop, stop_if_requested, stop_requested

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_nothing_happens_until_a_stop_is_requested_then_one_save_and_a_stop() -> None:
    saves: list[int] = []
    try:
        stop_if_requested(lambda: saves.append(1), step=5)
        assert saves == [] and stop_requested() is None
        request_stop("SIGUSR2")
        request_stop("SIGUSR1")  # the first reason stands
        with pytest.raises(TrainingStopped) as stopped:
            stop_if_requested(lambda: saves.append(7), step=7)
        assert saves == [7] and (stopped.value.step, stopped.value.reason) == (7, "SIGUSR2")
        assert not isinstance(stopped.value, Exception)  # trainers' `except Exception` failure paths let it through
    finally:
        clear_stop()
    assert stop_requested() is None


_WORKERS = textwrap.dedent(
    """
    import multiprocessing as mp, os, signal, sys, time
    from trainers.common.signals import STOP_SIGNALS, workers_ignore_stop_signals

    def worker(queue):
        queue.put(os.getpid())
        time.sleep(60)

    def start(ctx, shielded):
        queue = ctx.Queue()
        if shielded:
            with workers_ignore_stop_signals():
                process = ctx.Process(target=worker, args=(queue,), daemon=True)
                process.start()
        else:
            process = ctx.Process(target=worker, args=(queue,), daemon=True)
            process.start()
        return process, queue.get(timeout=60)

    if __name__ == "__main__":
        method, shielded = sys.argv[1], sys.argv[2] == "shielded"
        process, pid = start(mp.get_context(method), shielded)
        for sig in STOP_SIGNALS:
            os.kill(pid, sig)
        time.sleep(0.5)
        print("alive" if process.is_alive() else "dead")
        process.kill()
    """
)


@pytest.mark.parametrize("method", ["spawn", "forkserver", "fork"])
def test_env_workers_started_in_the_block_survive_the_trainers_stop_signals(tmp_path: Path, method: str) -> None:
    script = tmp_path / "workers.py"
    script.write_text(_WORKERS)
    env = {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}

    def run(mode: str) -> str:
        result = subprocess.run([sys.executable, str(script), method, mode], capture_output=True, text=True, env=env)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert run("shielded") == "alive"
    assert run("exposed") == "dead"  # what Slurm's SIGUSR2 does to a worker without the block
