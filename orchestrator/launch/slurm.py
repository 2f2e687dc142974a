"""Slurm through submitit: the only module (with the cluster profiles) that speaks Slurm's words.

The runs of one submission go as one job array (``--array=0-N%P``, P = ``array_parallelism``; one array task per
run, or per group of ``runs_per_job`` runs); above the profile's ``max_array_size`` they are split into several
arrays, each starting after the previous one ended (``--dependency=afterany``) so that the throttle holds for the
whole submission. When sbatch refuses a later array, the arrays already accepted are reported
(:class:`~orchestrator.launch.backend.PartialSubmission`), never lost. States come from ONE ``sacct`` call for every
job id (the watcher caches it); cancelling is one ``scancel``, whose errors are read per job so that only the jobs
really stopped are reported stopped.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from orchestrator.errors import LaunchError
from orchestrator.launch.backend import (
    Backend,
    CancelReport,
    JobHandle,
    JobState,
    PartialSubmission,
    StateSource,
)
from orchestrator.launch.grouping import group_members, job_for, job_groups
from orchestrator.launch.runspec import RunSpec, slugify
from orchestrator.launch.secrets import secret_environment
from orchestrator.launch.submitit_private import sbatch_script

__all__ = [
    "SLURM_STATES",
    "SlurmBackend",
    "on_slurm_node",
    "parse_sacct",
    "parse_scancel",
    "restart_count",
    "slurm_parameters",
]

SACCT_FIELDS = ("JobID", "State", "NodeList", "Start", "End", "ExitCode", "Reason")
SACCT_TIMEOUT_S = 20
SCANCEL_TIMEOUT_S = 30

# orch's generic profile names -> submitit's Slurm parameter names: the one translation table.
_EQUIVALENCE = {
    "time_min": "time",
    "mem_gb": "mem",
    "cpus_per_task": "cpus_per_task",
    "gpus": "gpus_per_node",
    "array_parallelism": "array_parallelism",
    "signal_delay_s": "signal_delay_s",
}
# Profile keys passed through under the same name.
_PASS_THROUGH = ("partition", "account", "qos", "gres", "constraint", "exclude")

# Slurm job states -> run states (manifests.RUN_STATES).
SLURM_STATES: dict[str, str] = {
    "PENDING": "pending",
    "REQUEUED": "pending",
    "REQUEUE_FED": "pending",
    "REQUEUE_HOLD": "pending",
    "RESV_DEL_HOLD": "pending",
    "CONFIGURING": "pending",
    "RUNNING": "running",
    "COMPLETING": "running",
    "STAGE_OUT": "running",
    "SIGNALING": "running",
    "SUSPENDED": "running",
    "STOPPED": "running",
    "RESIZING": "running",
    "PREEMPTED": "preempted",
    "COMPLETED": "completed",
    "CANCELLED": "cancelled",
    "FAILED": "failed",
    "TIMEOUT": "failed",
    "NODE_FAIL": "failed",
    "OUT_OF_MEMORY": "failed",
    "BOOT_FAIL": "failed",
    "DEADLINE": "failed",
    "SPECIAL_EXIT": "failed",
    "REVOKED": "failed",
}
_REASONS = {
    "TIMEOUT": "time limit reached and not requeued",
    "OUT_OF_MEMORY": "out of memory",
    "NODE_FAIL": "node failure",
    "BOOT_FAIL": "node boot failure",
    "DEADLINE": "deadline reached",
}


def _mem(mem_gb: float) -> str:
    return f"{int(mem_gb)}G" if float(mem_gb).is_integer() else f"{max(1, round(mem_gb * 1024))}M"


def slurm_parameters(profile: Any, *, job_name: str) -> dict[str, Any]:
    """submitit ``SlurmExecutor`` parameters of a profile (generic names translated here and only here)."""
    params: dict[str, Any] = {"job_name": job_name, "setup": profile.setup_lines() or None}
    for generic, native in _EQUIVALENCE.items():
        value = getattr(profile, generic)
        if value is not None:
            params[native] = _mem(value) if generic == "mem_gb" else value
    for key in _PASS_THROUGH:
        if profile.site.get(key) is not None:
            params[key] = profile.site[key]
    if profile.scheduler_options:
        params["additional_parameters"] = {k.replace("_", "-"): v for k, v in profile.scheduler_options.items()}
    return {k: v for k, v in params.items() if v is not None}


def restart_count() -> int:
    """How often Slurm restarted this job (``scontrol requeue``, a node failure): 0 outside Slurm. submitit's
    ``JobEnvironment`` does not say."""
    return int(os.environ.get("SLURM_RESTART_COUNT") or 0)


def on_slurm_node() -> bool:
    """Whether this process runs inside a Slurm allocation (a batch job, ``srun`` or ``salloc``)."""
    return bool(os.environ.get("SLURM_JOB_ID"))


def _python(profile: Any) -> str:
    return profile.python or shlex.quote(sys.executable)


class SlurmBackend(Backend):
    """Job arrays on a Slurm cluster."""

    name = "slurm"

    def check(self) -> None:
        text = str(self.workdir)
        if any(c in text for c in "'\"\n%"):
            raise LaunchError(
                f"artifact root {self.workdir.parent.parent} holds a quote, a newline or '%': Slurm cannot take that "
                "path in a batch script; choose another --artifact-root"
            )

    def _job_name(self, specs: list[RunSpec]) -> str:
        return slugify(specs[0].sweep_id or specs[0].name, max_len=64)

    def _chunks(self, specs: list[RunSpec]) -> list[list[list[RunSpec]]]:
        """The arrays to submit, each a list of array tasks, each task the runs it trains (``runs_per_job``)."""
        groups = job_groups(specs, self.profile.runs_per_job)
        size = max(1, self.profile.max_array_size)
        return [groups[i : i + size] for i in range(0, len(groups), size)]

    def array_count(self, n_runs: int) -> int:
        size = max(1, self.profile.max_array_size)
        n_jobs = -(-n_runs // max(1, self.profile.runs_per_job))
        return 0 if n_jobs <= 1 else -(-n_jobs // size)

    def preview(self, specs: list[RunSpec]) -> str:  # type: ignore[override]
        """The batch script(s) submitit would hand to sbatch, built by submitit itself, submitting nothing."""
        params = slurm_parameters(self.profile, job_name=self._job_name(list(specs)))
        scripts = []
        for index, chunk in enumerate(self._chunks(list(specs))):
            extra = dict(params)
            if index:
                extra["dependency"] = f"afterany:JOBID_OF_ARRAY_{index}"
            count = len(chunk) if len(chunk) > 1 else None
            script = sbatch_script(
                python=_python(self.profile), folder=self.workdir / "%j", map_count=count, parameters=extra
            )
            scripts.append(script)
        if self.profile.runs_per_job > 1:
            tasks = sum(len(chunk) for chunk in self._chunks(list(specs)))
            scripts.insert(0, f"# {len(specs)} run(s) in {tasks} job(s), runs_per_job={self.profile.runs_per_job}")
        return "\n".join(scripts)

    def _executor(self, params: dict[str, Any]) -> Any:
        from submitit import SlurmExecutor

        executor = SlurmExecutor(
            folder=self.workdir / "%j", max_num_timeout=self.profile.max_requeues, python=_python(self.profile)
        )
        try:
            executor.update_parameters(**params)
        except ValueError as exc:
            raise LaunchError(f"cluster profile {self.profile.name}: {exc}") from None
        return executor

    def _submit(self, specs: list[RunSpec]) -> list[JobHandle]:
        params = slurm_parameters(self.profile, job_name=self._job_name(specs))
        handles: list[JobHandle] = []
        previous: str | None = None
        for arrays, chunk in enumerate(self._chunks(specs)):
            chunk_params = dict(params)
            if previous:
                chunk_params["dependency"] = f"afterany:{previous}"
            executor = self._executor(chunk_params)  # one per array: submitit pauses only between one's jobs
            jobs = [job_for(group, self.profile) for group in chunk]
            try:
                with secret_environment(self.profile.env):
                    submitted = executor.submit_array(jobs)
            except Exception as exc:  # sbatch refused: say so in one line, and keep what was queued before
                why = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
                if handles:
                    raise PartialSubmission(
                        f"sbatch refused array {arrays + 1}: {why}",
                        handles,
                    ) from exc
                raise LaunchError(f"sbatch refused the submission: {why}") from exc
            pairs = zip(chunk, submitted, strict=True)
            handles += [_handle(spec, job, group) for group, job in pairs for spec in group]
            previous = submitted[0].job_id.split("_")[0]
        return handles

    @classmethod
    def query_states(cls, job_ids: Iterable[str]) -> dict[str, JobState]:
        """One ``sacct`` call for every job (arrays asked for by their array id)."""
        wanted = sorted({str(j).split("_")[0] for j in job_ids if j})
        if not wanted:
            return {}
        command = ["sacct", "-X", "-n", "-P", "-o", ",".join(SACCT_FIELDS), "-j", ",".join(wanted)]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=SACCT_TIMEOUT_S, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            raise OSError(f"sacct could not run: {exc}") from exc
        if result.returncode != 0:
            raise OSError(f"sacct failed ({result.returncode}): {result.stderr.strip()[:200]}")
        return parse_sacct(result.stdout)

    @classmethod
    def state_source(cls, root: Path) -> StateSource:
        """sacct through the shared, rate-limited cache in ``<root>/.orch/scheduler-slurm.json``."""
        from orchestrator.launch.watcher import SchedulerWatcher

        return SchedulerWatcher(root / ".orch" / f"scheduler-{cls.name}.json", cls.query_states)

    @classmethod
    def alive(cls, job_ids: Iterable[str]) -> dict[str, bool]:
        """sacct first; a job sacct does not list yet (accounting lags the controller by a moment) is looked up in
        squeue, which knows every job that is pending or running."""
        ids = [str(j) for j in job_ids]
        states = cls.query_states(ids)
        answer = {j: states[j].alive for j in ids if j in states}
        unknown = [j for j in ids if j not in answer]
        if unknown:
            queued = _squeue_alive(unknown)
            answer.update({j: j in queued for j in unknown})
        return answer

    @classmethod
    def cancel_jobs(cls, job_ids: Iterable[str]) -> CancelReport:
        """One ``scancel`` for every job. Slurm names each job it could not cancel on stderr; a job it does not know
        (finished and purged) is not running, so it counts as stopped."""
        ids = sorted({str(j) for j in job_ids if j})
        if not ids:
            return CancelReport()
        try:
            result = subprocess.run(
                ["scancel", *ids], capture_output=True, text=True, timeout=SCANCEL_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return CancelReport(failed={j: f"scancel could not run: {exc}" for j in ids})
        return parse_scancel(ids, result.returncode, result.stderr)


def _handle(spec: RunSpec, job: Any, group: list[RunSpec]) -> JobHandle:
    """What ``run.json`` records of the array task that trains ``spec`` (with the runs of its group)."""
    return JobHandle(
        run_id=spec.run_id,
        job_id=job.job_id,
        array_id=job.job_id.split("_")[0] if "_" in job.job_id else None,
        stdout=str(job.paths.stdout),
        stderr=str(job.paths.stderr),
        group=group_members(group),
    )


_SCANCEL_JOB_ERROR = re.compile(r"job id (?P<job>[0-9_\[\]]+)[^:]*:\s*(?P<why>.+)$", re.IGNORECASE)
_GONE = ("invalid job id", "already completing or completed", "job/step already completing")


def parse_scancel(ids: list[str], returncode: int, stderr: str) -> CancelReport:
    """Which of ``ids`` scancel stopped, from its exit code and its per-job error lines."""
    failed: dict[str, str] = {}
    general: list[str] = []
    for line in stderr.splitlines():
        line = line.strip()
        if not line:
            continue
        match = _SCANCEL_JOB_ERROR.search(line)
        if match is None:
            general.append(line)
            continue
        why = match.group("why").strip()
        if not any(g in why.lower() for g in _GONE):
            failed[match.group("job")] = why
    if returncode != 0 and not failed:  # no per-job line: the call itself failed (controller down, bad option)
        why = "; ".join(general) or f"scancel exited with {returncode}"
        return CancelReport(failed=dict.fromkeys(ids, why))
    return CancelReport(frozenset(j for j in ids if j not in failed), failed)


def _squeue_alive(job_ids: list[str]) -> set[str]:
    """The ids squeue lists (pending or running; array tasks one per line). Raises OSError when it cannot run."""
    base = sorted({j.split("_")[0] for j in job_ids})
    command = ["squeue", "-h", "-r", "-o", "%i|%T", "-j", ",".join(base)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=SACCT_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise OSError(f"squeue could not run: {exc}") from exc
    if result.returncode != 0 and "Invalid job id" not in result.stderr:
        raise OSError(f"squeue failed ({result.returncode}): {result.stderr.strip()[:200]}")
    listed = {line.split("|")[0] for line in result.stdout.splitlines() if "|" in line}
    return {j for j in job_ids if j in listed}


_ARRAY_RANGE = re.compile(r"^(?P<main>\d+)_\[(?P<ranges>[0-9,\-]+)(%\d+)?\]$")


def _expand(job_id: str) -> list[str]:
    """``123_[0-3,7%2]`` -> ``123_0 ... 123_3, 123_7``; other ids as they are."""
    match = _ARRAY_RANGE.match(job_id)
    if not match:
        return [job_id]
    out = []
    for part in match.group("ranges").split(","):
        low, _, high = part.partition("-")
        out += [f"{match.group('main')}_{i}" for i in range(int(low), int(high or low) + 1)]
    return out


def _value(text: str) -> str | None:
    text = text.strip()
    return None if text in ("", "Unknown", "None", "None assigned", "(null)") else text


def parse_sacct(text: str) -> dict[str, JobState]:
    """Parse ``sacct -X -n -P -o JobID,State,NodeList,Start,End,ExitCode,Reason``; steps and junk lines skipped.

    A job listed twice (a requeued job with ``--duplicates``) keeps its last line, the current one.
    """
    states: dict[str, JobState] = {}
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) < 2 or not parts[0] or "." in parts[0] or parts[0] == "JobID":
            continue
        parts += [""] * (len(SACCT_FIELDS) - len(parts))
        job_id, raw_state, node, start, end, exit_code, reason = parts[: len(SACCT_FIELDS)]
        raw = raw_state.split()[0].rstrip("+") if raw_state.strip() else "UNKNOWN"
        state = SLURM_STATES.get(raw, "pending" if raw == "UNKNOWN" else "failed")
        why = _value(reason) if state == "pending" else None  # Slurm's Reason says why a job waits
        if raw in _REASONS:
            why = _REASONS[raw]
        elif raw == "FAILED" and exit_code and exit_code != "0:0":
            why = f"exit code {exit_code}"
        for one in _expand(job_id.strip()):
            states[one] = JobState(
                job_id=one,
                state=state,
                raw=raw,
                node=_value(node),
                start=_value(start),
                end=_value(end),
                exit_code=_value(exit_code),
                reason=why,
            )
    return states
