"""One scheduler query for every job, shared by every caller through a small cache file, never fatal.

``orch status`` (and ``--watch``, and several terminals at once) ask :class:`SchedulerWatcher` for the states of
many job ids. It answers from ``<artifact_root>/.orch/scheduler-<backend>.json`` when that is younger than
``ttl_s``; otherwise ONE process (a file lock elects it) asks the backend once for every job not known to be
finished, and writes the answer for the others. When the scheduler cannot be reached the last answer is kept,
the next try is pushed back (doubling, up to ``max_backoff_s``) and the caller is told that the state may be stale.
A finished job is not asked about again, unless the caller names it in ``recheck``: a job can come back from a
final state (``scontrol requeue`` of a failed job, a requeue after NODE_FAIL), and ``orch status`` rechecks every
job whose run still says pending or running, so such a job shows as pending or running again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from manifests import TERMINAL_STATES, atomic_write_json
from orchestrator.launch.backend import JobState

__all__ = ["STALE_MESSAGE", "SchedulerWatcher", "WatchResult"]

STALE_MESSAGE = "scheduler unreachable, state may be stale"
_LOCK_WAIT_S = 10.0


def _num(value: Any) -> float:
    """A stored time, or minus infinity when absent."""
    return float(value) if isinstance(value, int | float) else float("-inf")


@dataclass
class WatchResult:
    """States found (possibly stale), whether they are stale, and why."""

    states: dict[str, JobState] = field(default_factory=dict)
    stale: bool = False
    message: str | None = None
    queried: bool = False


class SchedulerWatcher:
    """Cached, rate-limited, batched scheduler queries for one backend.

    ``query(job_ids) -> {job_id: JobState}`` is the backend's one call (it raises ``OSError`` when the scheduler is
    unreachable). ``clock`` is injectable so tests can move time by hand.
    """

    def __init__(
        self,
        cache_path: Path,
        query: Callable[[list[str]], dict[str, JobState]],
        *,
        ttl_s: float = 5.0,
        base_backoff_s: float = 5.0,
        max_backoff_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cache_path = Path(cache_path)
        self.query = query
        self.ttl_s = ttl_s
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self.clock = clock

    # ------------------------------------------------------------------------------------------- cache file
    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.cache_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self, cache: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):  # a read-only artifact root still gets an answer, only not a shared one
            atomic_write_json(self.cache_path, cache)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[bool]:
        """Hold the query lock (True) or give up after a while (False: answer from the cache)."""
        try:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.cache_path.with_suffix(".lock"), "a")  # noqa: SIM115
        except OSError:
            yield True
            return
        deadline = time.monotonic() + _LOCK_WAIT_S
        try:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        yield False
                        return
                    time.sleep(0.05)
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            handle.close()

    # -------------------------------------------------------------------------------------------- answers
    @staticmethod
    def _states(cache: dict[str, Any], ids: Iterable[str]) -> dict[str, JobState]:
        known = cache.get("states") or {}
        return {i: JobState.from_dict(known[i]) for i in ids if isinstance(known.get(i), dict)}

    @staticmethod
    def _open(cache: dict[str, Any], ids: Iterable[str], recheck: frozenset[str]) -> list[str]:
        """Ids to (re)ask about: not known to be finished, or named for a recheck."""
        known = cache.get("states") or {}
        return [i for i in ids if i in recheck or (known.get(i) or {}).get("state") not in TERMINAL_STATES]

    def _fresh_enough(self, cache: dict[str, Any], ids: list[str], now: float, recheck: frozenset[str]) -> bool:
        open_ids = self._open(cache, ids, recheck)
        if not open_ids:
            return True
        asked = set(cache.get("asked") or [])
        return now - _num(cache.get("updated_at")) < self.ttl_s and set(open_ids) <= asked

    def _stale(self, cache: dict[str, Any], ids: list[str]) -> WatchResult:
        error = cache.get("error")
        message = f"{STALE_MESSAGE} ({error})" if error else STALE_MESSAGE
        return WatchResult(self._states(cache, ids), stale=True, message=message)

    def states(self, job_ids: Iterable[str], recheck: Iterable[str] = ()) -> WatchResult:
        """States of ``job_ids``: from the cache when fresh, else from one backend query. Never raises.

        ``recheck``: ids asked about again even when cached as finished (still within the rate limit)."""
        ids = sorted({str(j) for j in job_ids if j})
        if not ids:
            return WatchResult()
        again = frozenset(str(j) for j in recheck) & set(ids)
        cache = self._load()
        now = self.clock()
        if self._fresh_enough(cache, ids, now, again):
            return WatchResult(self._states(cache, ids), stale=bool(cache.get("failures")), message=None)
        if now < _num(cache.get("retry_at")):
            return self._stale(cache, ids)
        with self._lock() as holder:
            cache = self._load()  # another process may have refreshed it while we waited
            now = self.clock()
            if self._fresh_enough(cache, ids, now, again):
                return WatchResult(self._states(cache, ids))
            if not holder or now < _num(cache.get("retry_at")):
                return self._stale(cache, ids)
            return self._refresh(cache, ids, now, again)

    def _refresh(self, cache: dict[str, Any], ids: list[str], now: float, recheck: frozenset[str]) -> WatchResult:
        known: dict[str, Any] = dict(cache.get("states") or {})
        # Ask for every job not known to be finished (ours and other callers'), and the rechecks, in one call.
        open_known = [i for i, s in known.items() if (s or {}).get("state") not in TERMINAL_STATES]
        ask = sorted({*self._open(cache, ids, recheck), *open_known})
        try:
            answer = self.query(ask)
        except Exception as exc:  # never fatal: keep the last answer and back off
            failures = int(cache.get("failures", 0)) + 1
            delay = min(self.max_backoff_s, self.base_backoff_s * 2 ** (failures - 1))
            cache.update(failures=failures, retry_at=now + delay, error=str(exc).splitlines()[0][:200])
            self._save(cache)
            return self._stale(cache, ids)
        for job_id, state in answer.items():
            known[job_id] = state.to_dict()
        cache = {
            "version": 1,
            "updated_at": now,
            "asked": ask,
            "states": known,
            "failures": 0,
            "retry_at": None,
            "error": None,
        }
        self._save(cache)
        return WatchResult(self._states(cache, ids), queried=True)
