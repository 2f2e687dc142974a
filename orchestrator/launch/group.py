"""The job of a group of runs (a cluster profile's ``runs_per_job``): one process, one thread per run.

Each run is trained as a job of its own would train it (:meth:`RunJob.run_attempt`: its trainer lock, its attempt
in ``run.json``, its attempt logs, a failure recorded in its own manifest); a run that fails leaves its siblings
training. What belongs to the process is done once, here: the local slot, torch's CPU threads (split between the
runs), the scheduler's warning signal and the requeue. On CUDA each run's thread works on its own stream
(``registry.own_cuda_stream``), so the kernels of different runs overlap on the job's one GPU.

On the warning every trainer of the process is asked to stop (the request is process-wide), each saves a checkpoint
at its next step boundary, and once all have stopped the job is requeued once (:meth:`GroupJob.checkpoint` records
the requeue in each run's ``run.json``); the next attempt resumes each run from its own newest checkpoint and skips
the runs that ended meanwhile. Output: what a run's thread prints goes to that run's attempt logs; output of other
threads and of native code goes to the job's own log (submitit's, under the submission's ``.jobs`` folder).
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from submitit.helpers import Checkpointable, DelayedSubmission

from manifests import TERMINAL_STATES
from manifests.provenance import allocated_cpus
from orchestrator.errors import LaunchError
from orchestrator.launch.entry import (
    RunJob,
    StopOnWarning,
    failure_reason,
    forget_submitters_wandb_service,
    job_context,
    load_manifest,
    local_slot,
    profile_job_settings,
)
from trainers import registry
from trainers.registry import TrainingStopped, clear_stop, request_stop

if TYPE_CHECKING:
    from orchestrator.launch.clusters import ClusterProfile
    from orchestrator.launch.runspec import RunSpec

__all__ = ["GroupJob", "ThreadRoutedStream"]

# How often the main thread wakes while it waits for the runs' threads: it must stay free to take signals.
JOIN_POLL_S = 0.5


class ThreadRoutedStream:
    """``sys.stdout`` / ``sys.stderr`` of a group's process: a run's thread writes to its own attempt log, every
    other thread to the stream it replaced (the job's log)."""

    def __init__(self, fallback: TextIO) -> None:
        self._fallback = fallback
        self._local = threading.local()

    def _target(self) -> TextIO:
        handle: TextIO | None = getattr(self._local, "handle", None)
        return handle or self._fallback

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def route(self, handle: TextIO | None) -> None:
        """Send the calling thread's writes to ``handle`` (None: back to the job's log)."""
        self._local.handle = handle

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fallback, name)


@contextlib.contextmanager
def _routed_output() -> Iterator[tuple[ThreadRoutedStream, ThreadRoutedStream]]:
    """Install per-thread routing on ``sys.stdout`` and ``sys.stderr`` for the life of the group."""
    saved = sys.stdout, sys.stderr
    routed = ThreadRoutedStream(saved[0]), ThreadRoutedStream(saved[1])
    sys.stdout, sys.stderr = routed
    try:
        yield routed
    finally:
        sys.stdout, sys.stderr = saved


def _device_of(run_dir: Path) -> str | None:
    """The ``device`` setting of a run (``auto``, ``cpu``, ``cuda``...), None when it has none."""
    resolved = json.loads((run_dir / "resolved.json").read_text(encoding="utf-8"))
    device = (resolved.get("settings") or {}).get("device")
    return str(device) if device else None


class GroupJob(StopOnWarning, Checkpointable):
    """Train several run directories side by side in this process; checkpointable, so submitit requeues the group.

    ``members`` are the runs' own jobs (:class:`RunJob`, without slots: the group holds the one slot).
    ``torch_threads`` caps torch's CPU threads for the whole process (None: the job's CPUs split evenly).
    """

    def __init__(
        self,
        members: Sequence[RunJob],
        *,
        slots: tuple[str, int] | None = None,
        signal_delay_s: int = 0,
        torch_threads: int | None = None,
    ) -> None:
        if not members:
            raise LaunchError("a group job needs at least one run")
        self.members = list(members)
        self.slots = slots
        self.signal_delay_s = int(signal_delay_s)
        self.torch_threads = torch_threads
        self._warning = None
        self._submitit_handler = None

    @classmethod
    def for_specs(
        cls, specs: Sequence[RunSpec], profile: ClusterProfile, *, slots: tuple[str, int] | None = None
    ) -> GroupJob:
        """The job of a group of planned runs under a cluster profile (each run keeps the profile's requeue and time
        limits)."""
        members = [RunJob(str(s.run_dir), **profile_job_settings(s, profile), resume=s.resume) for s in specs]
        return cls(members, slots=slots, signal_delay_s=profile.signal_delay_s)

    @property
    def run_dirs(self) -> list[Path]:
        return [Path(m.run_dir) for m in self.members]

    # ------------------------------------------------------------------------------------------- running
    def __call__(self) -> str:
        context = job_context()
        if context["backend"] != "inprocess":
            forget_submitters_wandb_service()
        threads = self.torch_threads or max(1, allocated_cpus() // len(self.members))
        with local_slot(self.slots), _routed_output() as streams, self._stop_on_warning():
            print(f"orch: {len(self.members)} runs in this process, {threads} torch thread(s)", flush=True)
            for member in self.members:
                member.share_of_node = len(self.members)
                member.defer_requeue = self._submitit_handler is not None  # requeued once, by the group
            with registry.limit_torch_threads(threads):
                outcomes = self._train_all(dict(context), streams)
            if any(m.stopped_at is not None for m in self.members) and self._submitit_handler is not None:
                signal.setitimer(signal.ITIMER_REAL, 0)  # every run saved in time: the deadline is off
                self._submitit_handler(self._warning or signal.SIGUSR2, None)  # checkpoint(), requeue, exit
        return self._conclude(outcomes)

    def _train_all(self, context: dict[str, Any], streams: tuple[ThreadRoutedStream, ...]) -> dict[str, str]:
        """One thread per run; the main thread waits in short joins so that it can take the warning signal. Ctrl-C
        (or ``orch cancel`` of a local job) stops every run at its next step boundary, then propagates."""
        outcomes: dict[str, str] = {}
        threads = [
            threading.Thread(
                target=self._train_one, args=(m, context, streams, outcomes), name=f"orch-run-{i}", daemon=True
            )
            for i, m in enumerate(self.members)
        ]
        for thread in threads:
            thread.start()
        try:
            while any(t.is_alive() for t in threads):
                for thread in threads:
                    thread.join(JOIN_POLL_S)
        except KeyboardInterrupt:
            for member in self.members:
                member.defer_requeue = False  # cancelled, not requeued: each closes its attempt itself
            request_stop("SIGINT")
            for thread in threads:
                thread.join()
            clear_stop()
            raise
        return outcomes

    @staticmethod
    def _train_one(
        member: RunJob, context: dict[str, Any], streams: tuple[ThreadRoutedStream, ...], outcomes: dict[str, str]
    ) -> None:
        """A run's thread: its attempt, its output to its logs, its CUDA stream. Never raises (a failure is its run's
        own, recorded in its ``run.json``)."""

        @contextlib.contextmanager
        def capture(out: Path, err: Path) -> Iterator[None]:
            with open(out, "a", encoding="utf-8", buffering=1) as o, open(err, "a", encoding="utf-8", buffering=1) as e:
                for stream, handle in zip(streams, (o, e), strict=True):
                    stream.route(handle)
                try:
                    yield
                finally:
                    for stream in streams:
                        stream.route(None)

        run_dir = Path(member.run_dir)
        try:
            with registry.own_cuda_stream(_device_of(run_dir)):
                outcomes[run_dir.name] = member.run_attempt(context, capture=capture)
        except TrainingStopped as stopped:
            outcomes[run_dir.name] = f"stopped at step {stopped.step}"
        except BaseException as exc:  # the run's own failure, recorded in its run.json; its siblings train on
            outcomes[run_dir.name] = f"failed: {failure_reason(exc)}"

    def _conclude(self, outcomes: dict[str, str]) -> str:
        """One line per run in the job's log; the job fails (as a job of one failed run would) when any run did."""
        for name, outcome in sorted(outcomes.items()):
            print(f"orch: run {name}: {outcome}", flush=True)
        failed = sorted(name for name, outcome in outcomes.items() if outcome.startswith("failed"))
        if failed:
            raise LaunchError(
                f"{len(failed)} of {len(self.members)} runs of this job failed ({', '.join(failed)}); the others "
                "ended as their run.json says"
            )
        return "completed"

    # ---------------------------------------------------------------------------------------- preemption
    def checkpoint(self, *args: Any, **kwargs: Any) -> DelayedSubmission | None:  # type: ignore[override]
        """Called by submitit on the warning (after every run saved) or when the grace ran out: each run that has
        not ended records its requeue; the group comes back once, with those runs, each resuming from its newest
        checkpoint. None when none may be requeued (past their requeue bound: marked failed)."""
        pending = [m for m in self.members if load_manifest(Path(m.run_dir)).status not in TERMINAL_STATES]
        again = [m.again() for m in pending if m.record_requeue()]
        if not again:
            return None
        return DelayedSubmission(
            GroupJob(again, slots=self.slots, signal_delay_s=self.signal_delay_s, torch_threads=self.torch_threads)
        )
