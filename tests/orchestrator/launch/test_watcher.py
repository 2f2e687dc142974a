"""The shared scheduler cache: one query per refresh, shared by callers, backoff on failure, never fatal."""

from __future__ import annotations

from pathlib import Path

from orchestrator.launch.backend import JobState
from orchestrator.launch.watcher import STALE_MESSAGE, SchedulerWatcher


class FakeClock:
    """Time moved by hand (SUB conftest fast_forward_clock)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Scheduler:
    """A scheduler answering from a table, counting calls, that can be made unreachable."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.table: dict[str, str] = {}
        self.down = False

    def query(self, ids: list[str]) -> dict[str, JobState]:
        self.calls.append(list(ids))
        if self.down:
            raise OSError("sacct: Connection refused")
        return {i: JobState(i, self.table[i], self.table[i].upper()) for i in ids if i in self.table}


def _watcher(tmp_path: Path, scheduler: Scheduler, clock: FakeClock, **kw: float) -> SchedulerWatcher:
    return SchedulerWatcher(tmp_path / ".orch" / "cache.json", scheduler.query, clock=clock, **kw)


def test_one_query_for_many_jobs_then_cache(tmp_path: Path) -> None:
    sched, clock = Scheduler(), FakeClock()
    sched.table = {"1_0": "running", "1_1": "pending", "2": "running"}
    watcher = _watcher(tmp_path, sched, clock, ttl_s=5)
    result = watcher.states(["1_0", "1_1", "2"])
    assert {k: v.state for k, v in result.states.items()} == {"1_0": "running", "1_1": "pending", "2": "running"}
    assert len(sched.calls) == 1 and result.queried
    clock.advance(4)
    assert watcher.states(["1_0", "2"]).states["2"].state == "running"
    assert len(sched.calls) == 1  # within the TTL: from the cache
    clock.advance(2)
    watcher.states(["1_0"])
    assert len(sched.calls) == 2


def test_cache_is_shared_by_every_caller(tmp_path: Path) -> None:
    sched, clock = Scheduler(), FakeClock()
    sched.table = {"7": "running"}
    first, second = _watcher(tmp_path, sched, clock), _watcher(tmp_path, sched, clock)
    first.states(["7"])
    assert second.states(["7"]).states["7"].state == "running"
    assert len(sched.calls) == 1  # the second terminal did not ask the scheduler


def test_finished_jobs_are_not_asked_again(tmp_path: Path) -> None:
    sched, clock = Scheduler(), FakeClock()
    sched.table = {"1": "completed", "2": "running"}
    watcher = _watcher(tmp_path, sched, clock, ttl_s=1)
    watcher.states(["1", "2"])
    clock.advance(10)
    watcher.states(["1", "2"])
    assert sched.calls == [["1", "2"], ["2"]]
    clock.advance(10)
    watcher.states(["1"])
    assert len(sched.calls) == 2  # only a finished job wanted: no query at all


def test_unreachable_scheduler_keeps_last_answer_and_backs_off(tmp_path: Path) -> None:
    sched, clock = Scheduler(), FakeClock()
    sched.table = {"5": "running"}
    watcher = _watcher(tmp_path, sched, clock, ttl_s=5, base_backoff_s=10, max_backoff_s=40)
    assert not watcher.states(["5"]).stale
    sched.down = True
    clock.advance(6)
    result = watcher.states(["5"])
    assert result.stale and result.states["5"].state == "running"
    assert (
        result.message is not None
        and result.message.startswith(STALE_MESSAGE)
        and "Connection refused" in result.message
    )
    calls = len(sched.calls)
    clock.advance(9)  # inside the 10 s backoff: no new query
    assert watcher.states(["5"]).stale and len(sched.calls) == calls
    delays = []
    for _ in range(4):  # each failure doubles the wait, up to the cap
        before = len(sched.calls)
        waited = 0.0
        while len(sched.calls) == before:
            clock.advance(1)
            waited += 1
            watcher.states(["5"])
        delays.append(waited)
    assert delays == [1.0, 20.0, 40.0, 40.0]  # (the first retry was due after 10 s; 9 had passed)
    sched.down = False
    clock.advance(41)
    result = watcher.states(["5"])
    assert not result.stale and result.message is None


def test_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    sched, clock = Scheduler(), FakeClock()
    sched.table = {"3": "pending"}
    cache = tmp_path / ".orch" / "cache.json"
    cache.parent.mkdir()
    cache.write_text("{not json")
    assert _watcher(tmp_path, sched, clock).states(["3"]).states["3"].state == "pending"


def test_a_finished_job_named_for_recheck_is_asked_again_within_the_rate_limit(tmp_path: Path) -> None:
    sched, clock = Scheduler(), FakeClock()
    sched.table = {"9": "failed"}
    watcher = _watcher(tmp_path, sched, clock, ttl_s=5)
    assert watcher.states(["9"]).states["9"].state == "failed"
    sched.table["9"] = "pending"  # scontrol requeue of the failed job
    clock.advance(10)
    assert watcher.states(["9"]).states["9"].state == "failed"  # not rechecked: the cache stands
    assert len(sched.calls) == 1
    assert watcher.states(["9"], recheck=["9"]).states["9"].state == "pending"
    assert len(sched.calls) == 2
    clock.advance(1)
    watcher.states(["9"], recheck=["9"])
    assert len(sched.calls) == 2  # a recheck is still one query per TTL, shared by every caller
