"""``orch logs``: the output of a run's attempts, read from its own folder, optionally followed live.

Each attempt writes ``logs/attempt_<K>.out`` and ``.err`` in the run directory (the job entry redirects there),
so logs need no scheduler and survive requeues. When an attempt's file is missing (the job died before orch's entry
could start: a bad module line, a missing Python) the scheduler's own log named in ``run.json`` is shown instead.
Following stops when the run has ended, or when its backend says the job is gone (a job killed without notice
never records its end).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from manifests import TERMINAL_STATES
from orchestrator.errors import StatusError
from orchestrator.launch.backend import job_alive
from orchestrator.launch.rundir import attempt_log_paths, read_run_json
from orchestrator.runref import resolve_run

__all__ = ["LogSource", "follow_log", "locate_log", "read_log"]


@dataclass(frozen=True)
class LogSource:
    """Which file holds the wanted output."""

    run_id: str
    run_dir: Path
    path: Path
    attempt: int
    attempts: int
    stream: str
    from_scheduler: bool = False


def locate_log(root: Path, ref: str, *, stderr: bool = False, attempt: int | None = None) -> LogSource:
    """The log of attempt ``attempt`` (default: the latest) of run ``ref``; stdout unless ``stderr``."""
    run_dir = resolve_run(root, ref)
    data = read_run_json(run_dir) or {}
    run_id = str(data.get("run_id") or run_dir.name)
    count = len(data.get("attempts") or [])
    stream = "stderr" if stderr else "stdout"
    if attempt is not None and not 1 <= attempt <= max(count, 1):
        raise StatusError(f"run {run_id} has {count} attempt(s); --attempt takes 1..{max(count, 1)}")
    chosen = attempt or max(count, 1)
    out, err = attempt_log_paths(run_dir, chosen)
    path = err if stderr else out
    if path.exists():
        return LogSource(run_id, run_dir, path, chosen, count, stream)
    sched = data.get("scheduler") or {}
    fallback = sched.get(stream)
    if fallback and Path(fallback).exists():
        return LogSource(run_id, run_dir, Path(fallback), chosen, count, stream, from_scheduler=True)
    return LogSource(run_id, run_dir, path, chosen, count, stream)


def read_log(source: LogSource) -> str:
    """The whole log (empty when the run has not written one yet)."""
    try:
        return source.path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def follow_log(
    source: LogSource,
    *,
    poll_s: float = 0.5,
    follow_attempts: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    max_idle_polls: int | None = None,
    alive_every: int = 20,
    alive: Callable[[dict], bool | None] = lambda data: job_alive(data.get("scheduler") or {}),
) -> Iterator[str]:
    """Yield the log as it grows until the run has ended and nothing new arrives (``tail -f`` that stops).

    With ``follow_attempts`` a new attempt (a requeue) is followed into its own file, after a separator line.
    Every ``alive_every`` polls without news the backend is asked whether the job still lives (``alive``); a dead
    job ends the follow. ``max_idle_polls`` bounds the wait without news (tests); None waits for the run to end.
    """
    path, attempt, offset, idle = source.path, source.attempt, 0, 0
    while True:
        chunk = _read_from(path, offset)
        if chunk:
            offset += len(chunk.encode("utf-8"))
            idle = 0
            yield chunk
            continue
        data = read_run_json(source.run_dir) or {}
        if follow_attempts and len(data.get("attempts") or []) > attempt:
            attempt += 1
            path = attempt_log_paths(source.run_dir, attempt)[1 if source.stream == "stderr" else 0]
            offset = 0
            yield f"\n---- attempt {attempt} ----\n"
            continue
        end = _end_of_follow(
            data, attempt, follow_attempts, check_alive=idle > 0 and idle % alive_every == 0, alive=alive
        )
        if end is not None:
            if end:  # the job is gone: say so as the last line
                yield end
            return
        idle += 1
        if max_idle_polls is not None and idle > max_idle_polls:
            return
        sleep(poll_s)


def _end_of_follow(
    data: dict, attempt: int, follow_attempts: bool, *, check_alive: bool, alive: Callable[[dict], bool | None]
) -> str | None:
    """None to keep following; ``""`` when the run has ended (and no later attempt is to follow); a last line when
    its job is gone although ``run.json`` says otherwise (asked only when ``check_alive``)."""
    count = len(data.get("attempts") or [])
    if data.get("status") in TERMINAL_STATES and (count <= attempt or not follow_attempts):
        return ""
    if check_alive and alive(data) is False:
        return f"\n---- the job is gone; run.json still says {data.get('status')} (see orch status) ----\n"
    return None


def _read_from(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return ""
    return data[: _complete_utf8(data)].decode("utf-8", errors="replace")


def _complete_utf8(data: bytes) -> int:
    """Length of ``data`` without a UTF-8 character cut at its end (the writer is mid-character)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:
            continue
        if byte < 0x80:
            return len(data)
        need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
        return len(data) if back >= need else len(data) - back
    return len(data)
