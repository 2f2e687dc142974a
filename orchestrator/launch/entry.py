"""The job callable: what runs on the compute node (or in this process) for one run directory.

:class:`RunJob` is small and picklable (it carries only paths and numbers). On a preemption or time-limit warning
(SIGUSR2, ``signal_delay_s`` before the end) the trainer is asked to stop (``registry.request_stop``): it finishes
its step, writes a complete checkpoint and returns control; only then does submitit's own handler run, which calls
:meth:`RunJob.checkpoint` (record the attempt's end, return the job's own resubmission) and requeues the job. A
trainer that does not reach a step boundary in time is requeued anyway, from its last complete checkpoint, before
the scheduler kills it; a checkpoint write cut short that way leaves the previous one intact. A job killed without
notice (``scontrol requeue``, a node failure) is noticed by the next attempt, which closes the open attempt and
resumes too. Requeues are bounded. One trainer per run directory: the job holds its trainer lock while it runs.

Every attempt is recorded in ``run.json`` (job id, node, start, end, state, reason) and its output goes to
``logs/attempt_<K>.out`` / ``.err`` in the run directory, so ``orch logs RUN --attempt K`` needs no scheduler.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from submitit import JobEnvironment
from submitit.helpers import Checkpointable, DelayedSubmission

from manifests import (
    TERMINAL_STATES,
    Attempt,
    RunDirLock,
    RunLockedError,
    RunManifest,
    load_run_manifest,
    manifest_lock,
    remove_stale_temporaries,
    update_run_manifest,
    utc_now,
)
from manifests.provenance import allocated_cpus, allocated_memory_gb
from orchestrator.errors import LaunchError
from orchestrator.launch.rundir import attempt_log_paths
from orchestrator.launch.slurm import on_slurm_node, restart_count
from trainers import registry
from trainers.registry import TrainingStopped, TrialPruned, clear_stop, request_stop

if TYPE_CHECKING:
    from orchestrator.launch.clusters import ClusterProfile
    from orchestrator.launch.runspec import RunSpec

__all__ = [
    "RunJob",
    "StopOnWarning",
    "forget_submitters_wandb_service",
    "job_context",
    "local_slot",
    "profile_job_settings",
    "resolve_num_envs_on_node",
]


def profile_job_settings(
    spec: RunSpec, profile: ClusterProfile, *, slots: tuple[str, int] | None = None
) -> dict[str, Any]:
    """What a cluster profile asks of every job it runs (requeue limit, time limit, warning delay) and the spec's
    trainer: the keywords ``RunJob`` and a study's worker are both built with."""
    return {
        "max_requeues": profile.max_requeues,
        "time_min": profile.time_min,
        "signal_delay_s": profile.signal_delay_s,
        "trainer_entry": spec.trainer_entry,
        "slots": slots,
    }


def job_context() -> dict[str, Any]:
    """Job id and node of the current process, whatever runs it: a submitit job (Slurm or local) as submitit's
    ``JobEnvironment`` tells it (an array task as ``<array>_<task>``), else this process (``orch run``)."""
    try:
        env = JobEnvironment()
    except RuntimeError:  # not inside a submitit job
        return {"job_id": f"pid-{os.getpid()}", "node": socket.gethostname(), "backend": "inprocess"}
    return {"job_id": env.job_id, "node": env.hostname, "backend": "slurm" if env.cluster == "slurm" else "local"}


class _Tee:
    """A text stream that writes to two streams (the terminal and the attempt log of an in-process run)."""

    def __init__(self, first: TextIO, second: TextIO) -> None:
        self._first, self._second = first, second

    def write(self, text: str) -> int:
        self._second.write(text)
        return self._first.write(text)

    def flush(self) -> None:
        self._first.flush()
        self._second.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._first, name)


@contextlib.contextmanager
def _capture_output(out_path: Path, err_path: Path, *, tee: bool) -> Iterator[None]:
    """Send this process's stdout/stderr to the attempt logs: at the file-descriptor level in a job (so native
    libraries are captured too), through a Python-level tee in the foreground (so the terminal still sees it)."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    if tee:
        with (
            open(out_path, "a", encoding="utf-8", buffering=1) as out,
            open(err_path, "a", encoding="utf-8", buffering=1) as err,
        ):
            saved = sys.stdout, sys.stderr
            sys.stdout, sys.stderr = _Tee(saved[0], out), _Tee(saved[1], err)
            try:
                yield
            finally:
                sys.stdout, sys.stderr = saved
        return
    saved_fds = os.dup(1), os.dup(2)
    out_fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    err_fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    saved_streams = sys.stdout, sys.stderr
    try:
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        # Python-level streams too, in case they were not on fds 1 and 2 (a harness that captures output)
        sys.stdout = open(1, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = saved_streams
        os.dup2(saved_fds[0], 1)
        os.dup2(saved_fds[1], 2)
        for fd in (*saved_fds, out_fd, err_fd):
            os.close(fd)


@contextlib.contextmanager
def local_slot(slots: tuple[str, int] | None, poll_s: float = 0.5) -> Iterator[int | None]:
    """Hold one of ``n`` lock files (local parallelism limit); the kernel frees it if the process dies."""
    if not slots:
        yield None
        return
    folder, count = Path(slots[0]), int(slots[1])
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        for index in range(count):
            handle = open(folder / f"slot-{index}.lock", "a")  # noqa: SIM115 - held for the whole run
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            try:
                yield index
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
            return
        time.sleep(poll_s)


def resolve_num_envs_on_node(resolved: dict[str, Any], cpus: int, mem_gb: float | None) -> dict[str, Any] | None:
    """Decide ``num_envs: auto`` again for the CPUs and memory this job really has (the submit host guessed).

    A config asked for auto when ``source.auto`` names ``num_envs`` (or settings still say ``"auto"``). The trainer's
    light spec decides how many (``auto_num_envs(cpus, mem_gb)``: headroom, memory cap); without one, every CPU but
    one. A ``worker_mode`` that was auto follows (subprocesses when more than one env). Returns what was decided,
    or None when the config fixed num_envs itself.
    """
    settings = resolved.get("settings")
    auto = (resolved.get("source") or {}).get("auto") or {}
    if not isinstance(settings, dict) or not ("num_envs" in auto or settings.get("num_envs") == "auto"):
        return None
    number = max(1, cpus - 1)
    try:
        chooser = getattr(registry.load_spec(str(resolved.get("trainer"))), "auto_num_envs", None)
        if callable(chooser):
            number = int(chooser(cpus, mem_gb))
    except (ImportError, KeyError):
        pass
    before = settings.get("num_envs")
    settings["num_envs"] = number
    decided: dict[str, Any] = {"num_envs": number, "submit_host_num_envs": before, "cpus": cpus, "mem_gb": mem_gb}
    if "worker_mode" in auto:
        settings["worker_mode"] = "subproc" if number > 1 else "dummy"
        decided["worker_mode"] = settings["worker_mode"]
    if isinstance(auto, dict):
        mem = f", {mem_gb:.0f} GB" if mem_gb is not None else ""
        auto["num_envs"] = f"auto: {number} from {cpus} CPUs{mem} (decided on the compute node)"
    return decided


class StopOnWarning:
    """The scheduler's warning signal turned into a stop request, for a job of one run (:class:`RunJob`) or of
    several runs in one process (``launch.group.GroupJob``): every trainer of the process saves at its next step
    boundary (the request is process-wide), then submitit's handler requeues the job once."""

    # After the warning signal, how long the trainer may take to reach a step boundary and save before the job is
    # requeued anyway; None: ``signal_delay_s`` less a reserve for the requeue itself (5..30 s).
    stop_grace_s: float | None = None
    signal_delay_s: int = 0
    _warning: int | None = None  # the signal that asked the trainers to stop
    _submitit_handler: Any = None

    def _grace_s(self) -> float:
        if self.stop_grace_s is not None:
            return float(self.stop_grace_s)
        delay = max(1, self.signal_delay_s)
        return float(max(1, delay - min(30, max(5, delay // 4))))

    @contextlib.contextmanager
    def _stop_on_warning(self) -> Iterator[None]:
        """Under submitit, put orch's handler in front of submitit's for the warning signal: it only asks the trainer
        to stop (a flag), and arms a deadline after which submitit's handler requeues the job anyway."""
        warning = signal.Signals[f"SIG{JobEnvironment.USR_SIG}"]  # what submitit warns with (USR2 unless set)
        submitit_handler = signal.getsignal(warning)
        if not callable(submitit_handler):  # not under submitit (orch run in a terminal): nothing to requeue
            yield
            return
        owner, grace = os.getpid(), self._grace_s()

        def give_up(signum: int, frame: Any) -> None:
            print(
                f"orch: the trainer did not reach a step boundary within {grace:.0f} s of the warning; requeuing "
                "from its last complete checkpoint",
                file=sys.stderr,
                flush=True,
            )
            submitit_handler(self._warning or warning, frame)

        def on_warning(signum: int, frame: Any) -> None:
            if os.getpid() != owner or self._warning is not None:  # a forked worker, or a second warning
                return
            self._warning = signum
            request_stop(signal.Signals(signum).name)
            print(
                f"orch: {signal.Signals(signum).name}: the job ends soon; the trainer saves at its next step boundary "
                f"(within {grace:.0f} s), then the job requeues",
                file=sys.stderr,
                flush=True,
            )
            signal.signal(signal.SIGALRM, give_up)
            signal.setitimer(signal.ITIMER_REAL, grace)

        self._submitit_handler = submitit_handler
        signal.signal(warning, on_warning)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(warning, submitit_handler)
            clear_stop()


class RunJob(StopOnWarning, Checkpointable):
    """Run the trainer of one run directory; checkpointable so that submitit can requeue it.

    ``trainer_entry`` (spec module and entry point, captured at submit time) lets a trainer registered at runtime,
    a plugin or a test's trainer, be found on the compute node. ``slots`` is ``(lock folder, count)`` for the
    local backend's parallelism limit. ``tee`` keeps output on the terminal for ``orch run``. ``torch_threads`` caps
    torch's threads while the trainer runs in this process (the gate's tiny runs; None leaves the trainer's choice).
    """

    # How long a starting job waits for the run directory's trainer lock before it refuses to train.
    lock_wait_s: float = 10.0
    # Set per instance; the class default keeps jobs pickled by an older orch loadable.
    torch_threads: int | None = None
    # A run of a group (``launch.group``): its share of the node's CPUs and memory is 1/share_of_node, and on a stop
    # request its attempt stays open for the group's one requeue (``defer_requeue``).
    share_of_node: int = 1
    defer_requeue: bool = False

    def __init__(
        self,
        run_dir: str,
        *,
        max_requeues: int = 3,
        time_min: float | None = None,
        signal_delay_s: int = 0,
        trainer_entry: Mapping[str, str] | None = None,
        slots: tuple[str, int] | None = None,
        resume: bool = False,
        dry_run: bool = False,
        tee: bool = False,
        torch_threads: int | None = None,
    ) -> None:
        self.run_dir = str(run_dir)
        self.max_requeues = int(max_requeues)
        self.time_min = time_min
        self.signal_delay_s = int(signal_delay_s)
        self.trainer_entry = dict(trainer_entry or {})
        self.slots = slots
        self.resume = resume
        self.dry_run = dry_run
        self.tee = tee
        self.torch_threads = torch_threads
        self._requeueing = False
        self._started = 0.0
        self._warning: int | None = None  # the signal that asked the trainer to stop
        self._saved_step: int | None = None  # where the trainer saved after it
        self._submitit_handler: Any = None
        self.stopped_at: int | None = None  # set when the trainer saved and stopped on a request (a group reads it)

    @classmethod
    def for_spec(cls, spec: RunSpec, profile: ClusterProfile, *, slots: tuple[str, int] | None = None) -> RunJob:
        """The job of one planned run under a cluster profile: its requeue limit, time limit and warning delay."""
        return cls(str(spec.run_dir), **profile_job_settings(spec, profile, slots=slots), resume=spec.resume)

    # ------------------------------------------------------------------------------------------- running
    def __call__(self) -> str:
        context = job_context()
        if context["backend"] != "inprocess":
            forget_submitters_wandb_service()
        return self.run_attempt(
            context,
            capture=lambda out, err: _capture_output(out, err, tee=self.tee),
            guard=self._stop_on_warning,
        )

    def run_attempt(
        self,
        context: Mapping[str, Any],
        *,
        capture: Callable[[Path, Path], contextlib.AbstractContextManager[Any]],
        guard: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
    ) -> str:
        """One attempt at this run: its trainer lock, a local slot, the attempt recorded in ``run.json``, the output
        sent where ``capture(out, err)`` says, and the trainer run inside ``guard()`` (the stop-on-warning handler of
        a job; a group of runs installs it once for all of them). A run completed already is not trained again."""
        run_dir = Path(self.run_dir)
        if load_manifest(run_dir).status == "completed":
            # a requeue that arrived after the trainer had finished (Slurm lets a job run KillWait seconds on)
            print(f"orch: run {run_dir.name} is completed already; nothing to do", flush=True)
            return "completed"
        lock = RunDirLock(run_dir)
        try:
            lock.acquire(job_id=context["job_id"], wait_s=self.lock_wait_s)
        except RunLockedError as exc:  # another trainer owns this run: touch nothing of it
            print(f"orch: {exc}", file=sys.stderr, flush=True)
            raise
        try:
            with local_slot(self.slots):
                stale = _remove_stale_temporaries(run_dir)
                manifest = self._open_attempt(run_dir, dict(context))
                attempt = len(manifest.attempts)
                out, err = attempt_log_paths(run_dir, attempt)
                with capture(out, err):
                    banner = f"==== orch attempt {attempt} of run {manifest.run_id}: job {context['job_id']} on "
                    banner += f"{context['node']} at {utc_now()} (resume={self._resuming(manifest)}) ===="
                    print(banner, flush=True)
                    if not self.tee:  # in the foreground the terminal shows it once
                        print(banner, file=sys.stderr, flush=True)
                    if stale:
                        print(f"orch: removed {len(stale)} stale temporary file(s) of an interrupted write", flush=True)
                    with guard():
                        return self._train(run_dir, manifest)
        finally:
            lock.release()

    def _resuming(self, manifest: RunManifest) -> bool:
        return self.resume or len(manifest.attempts) > 1

    def _open_attempt(self, run_dir: Path, context: dict[str, Any]) -> RunManifest:
        """Close an attempt a previous process left open (killed without notice), enforce the requeue bound, and
        record this attempt's start."""
        limit_hit: list[str] = []

        def change(m: RunManifest) -> None:
            if m.attempts and m.attempts[-1].end is None:
                last = m.attempts[-1]
                last.end = utc_now()
                last.state = "requeued"
                note = "ended without notice (requeued or killed by the scheduler)"
                last.reason = f"{note}; {last.reason}" if last.reason else note
                m.requeue_count += 1
            if m.requeue_count > self.max_requeues:
                limit_hit.append(f"requeued {m.requeue_count} times, more than max_requeues={self.max_requeues}")
                m.status = "failed"
                m.error = limit_hit[0]
                m.ended_at = utc_now()
                return
            restarts = restart_count()
            m.attempts.append(
                Attempt(
                    job_id=context["job_id"],
                    node=context["node"],
                    start=utc_now(),
                    state="running",
                    reason=f"scheduler restart {restarts}" if restarts else None,
                )
            )
            m.status = "running"
            m.ended_at = None
            m.scheduler = {**m.scheduler, "job_id": m.scheduler.get("job_id") or context["job_id"]}

        manifest = update_run_manifest(run_dir, change)
        if limit_hit:
            raise LaunchError(f"run {manifest.run_id}: {limit_hit[0]}; resubmit with `orch run --resume {run_dir}`")
        self._started = time.time()
        return manifest

    def _train(self, run_dir: Path, manifest: RunManifest) -> str:
        resolved: dict[str, Any] = json.loads((run_dir / "resolved.json").read_text(encoding="utf-8"))
        trainer = str(resolved.get("trainer") or manifest.trainer)
        entry = self.trainer_entry or manifest.extra.get("trainer_entry") or {}
        try:
            registry.get_trainer(trainer)
        except KeyError:
            if not entry:
                raise
            registry.register(trainer, spec_module=entry["spec_module"], entry_point=entry["entry_point"])
        memory = allocated_memory_gb()
        share = max(1, self.share_of_node)
        cpus, memory = max(1, allocated_cpus() // share), (memory / share if memory is not None else None)
        node_choice = resolve_num_envs_on_node(resolved, cpus, memory)
        if node_choice:
            update_run_manifest(run_dir, lambda m: m.extra.__setitem__("resolved_on_node", node_choice))
            print(f"orch: num_envs auto -> {node_choice['num_envs']} on this node ({node_choice['cpus']} CPUs)")
        resume = self._resuming(manifest)
        _wandb_offline_on_cluster_node()
        try:
            train = registry.load_entry_point(trainer)
            with registry.limit_torch_threads(self.torch_threads):
                train(registry.TrainJob(resolved=resolved, run_dir=run_dir, resume=resume, dry_run=self.dry_run))
        except TrainingStopped as stopped:
            self._requeue_after_stop(run_dir, stopped)
            raise
        except TrialPruned as pruned:  # a study's pruner stopped this trial early: an outcome, not a failure
            self._close_attempt(run_dir, "pruned", str(pruned))
            raise
        except BaseException as exc:
            if self._requeueing:
                # checkpoint() ran in the signal handler and submitit is exiting to requeue: keep "preempted".
                update_run_manifest(run_dir, _set_status("preempted"))
                raise
            if isinstance(exc, KeyboardInterrupt):  # Ctrl-C in the foreground, or orch cancel of a local job
                self._close_attempt(run_dir, "cancelled", "interrupted")
                raise
            traceback.print_exc()
            self._close_attempt(run_dir, "failed", failure_reason(exc))
            raise
        self._close_attempt(run_dir, "completed", None)
        return "completed"

    def _close_attempt(self, run_dir: Path, state: str, reason: str | None) -> None:
        """Record how this attempt ended and, with it, the run's outcome: the one place where ``run.json`` learns
        that a run failed or was cancelled, whichever trainer ran (trainers write their traceback under
        ``failures/`` and raise)."""

        def change(m: RunManifest) -> None:
            if m.attempts and m.attempts[-1].end is None:
                m.attempts[-1].end = utc_now()
                m.attempts[-1].state = state
                m.attempts[-1].reason = reason
            if state == "completed":  # the trainer finished: that is the truth, whatever a cancel asked meanwhile
                m.status = "completed"
                m.extra.pop("cancel_requested_at", None)
            elif state == "pruned":  # stopped on purpose before its end: cancelled, and the reason says by whom
                m.status, m.error = "cancelled", reason
            elif m.extra.get("cancel_requested_at") or state == "cancelled":
                m.status, m.error = "cancelled", m.error or ("cancelled by orch cancel" if reason is None else reason)
            elif state == "failed" and m.status != "failed":
                m.status, m.error = "failed", reason
            if m.status in TERMINAL_STATES:
                m.ended_at = m.ended_at or utc_now()

        update_run_manifest(run_dir, change)

    # ---------------------------------------------------------------------------------------- preemption
    def _requeue_after_stop(self, run_dir: Path, stopped: TrainingStopped) -> None:
        """The trainer saved at a step boundary and stopped: hand over to submitit's handler, which calls
        :meth:`checkpoint` and requeues the job (it exits this process). Without submitit there is nothing to requeue:
        the attempt is closed and the run can be resumed."""
        self._saved_step = self.stopped_at = stopped.step
        print(f"orch: the trainer saved a checkpoint at step {stopped.step} and stopped", flush=True)
        if self.defer_requeue:  # one of a group: the group requeues once, for all its runs (RunJob.record_requeue)
            return
        signal.setitimer(signal.ITIMER_REAL, 0)
        if self._submitit_handler is None:
            self._close_attempt(run_dir, "cancelled", f"stopped at step {stopped.step}: {stopped.reason}")
            return
        self._submitit_handler(self._warning or signal.SIGUSR2, None)

    def checkpoint(self, *args: Any, **kwargs: Any) -> DelayedSubmission | None:  # type: ignore[override]
        """Called by submitit on the preemption/time-limit signal: record the attempt's end and return the
        resubmission (resume from the newest checkpoint), or None past the requeue bound (the run fails)."""
        if not self.record_requeue():
            return None
        return DelayedSubmission(self.again())

    def record_requeue(self) -> bool:
        """Close the attempt as requeued in ``run.json`` and count the requeue; False (the run marked failed) past
        the requeue bound. A group of runs calls it for each of its runs before it requeues once."""
        run_dir = Path(self.run_dir)
        elapsed = time.time() - self._started if self._started else 0.0
        near_limit = self.time_min is not None and elapsed >= self.time_min * 60 - self.signal_delay_s - 60
        reason = "time limit reached" if near_limit else "preempted"
        if self._saved_step is not None:
            reason += f"; saved at step {self._saved_step}"
        allowed: list[bool] = []

        def change(m: RunManifest) -> None:
            ok = m.requeue_count < self.max_requeues
            allowed.append(ok)
            if m.attempts and m.attempts[-1].end is None:
                m.attempts[-1].end = utc_now()
                m.attempts[-1].state = "requeued" if ok else "failed"
                m.attempts[-1].reason = reason if ok else f"{reason}; requeue limit {self.max_requeues} reached"
            if ok:
                m.requeue_count += 1
                m.status = "preempted"
            else:
                m.status = "failed"
                m.error = f"{reason} and the requeue limit ({self.max_requeues}) is reached"
                m.ended_at = utc_now()

        try:
            update_run_manifest(run_dir, change)
        except Exception as exc:  # never let bookkeeping stop a requeue
            print(f"orch: could not record the requeue in run.json: {exc}", file=sys.stderr, flush=True)
            allowed = [True]
        if not allowed[0]:
            return False
        self._requeueing = True
        return True

    def again(self) -> RunJob:
        """The job of this run's next attempt: the same settings, resuming from the newest complete checkpoint."""
        again = RunJob(
            self.run_dir,
            max_requeues=self.max_requeues,
            time_min=self.time_min,
            signal_delay_s=self.signal_delay_s,
            trainer_entry=self.trainer_entry,
            slots=self.slots,
            resume=True,
            dry_run=self.dry_run,
            tee=self.tee,
            torch_threads=self.torch_threads,
        )
        again.share_of_node, again.defer_requeue = self.share_of_node, self.defer_requeue
        return again


def forget_submitters_wandb_service() -> None:
    """W&B keeps its service's address in the environment, and jobs inherit the submitter's environment: a job must
    start its own service, never attach to the submitting process's (another host, or one that still holds this
    run's W&B id after its trainer was killed: "run ID ... is in use")."""
    os.environ.pop("WANDB_SERVICE", None)


def failure_reason(exc: BaseException) -> str:
    """``Type: first line of the message``: the one-line reason ``run.json`` keeps (the traceback is in the log)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _wandb_offline_on_cluster_node() -> None:
    """On a cluster node W&B logs offline (nodes rarely reach the internet; ``orch sync`` uploads later), unless the
    profile's ``env`` chose a ``WANDB_MODE`` itself (a site whose nodes do reach W&B)."""
    if on_slurm_node() and not os.environ.get("WANDB_MODE"):
        os.environ[registry.WANDB_OFFLINE_ON_NODE] = "1"
        print("orch: W&B logs offline on this node; upload later with orch sync RUN from a login node", flush=True)


def _remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """``.tmp-*`` files a killed attempt left mid-write. Safe now: this process holds the trainer lock (no trainer
    writes) and the manifest lock (no run.json writer is between its temporary file and its rename)."""
    with manifest_lock(run_dir):
        return remove_stale_temporaries(run_dir, run_dir / "checkpoints")


def _set_status(status: str) -> Any:
    def change(m: RunManifest) -> None:
        m.status = status  # type: ignore[assignment]

    return change


def load_manifest(run_dir: Path) -> RunManifest:
    """``run.json`` without schema validation (the job's hot path)."""
    return load_run_manifest(run_dir, validate=False)
