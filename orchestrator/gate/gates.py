"""The gate suites behind ``orch gate cpu`` and ``orch gate gpu``: each part a JSON summary and a PASS/FAIL/SKIP line.

``cpu`` (CI, under a minute on 2 cores):
  1. ``dreamer_tests``: the Dreamer math and RSSM tests (``tests/trainers/dreamerv3/test_*math*.py``,
     ``test_*rssm*.py``, ``test_*network*.py``) through pytest in a child process.
  2. ``train_smoke``: ``configs/gates/dreamer_smoke.yaml``, a full-mode run of 1-2 updates; it must complete with
     finite losses.
  3. ``standing_still``: ``configs/gates/dreamer_standing_still.yaml`` (deterministic), compared with the committed
     baseline ``baselines/cpu_standing_still.json`` under the ``dreamer_standing_still`` rules.

``gpu`` (on a CUDA node; every part skips with the reason where there is no GPU):
  1. ``cuda_smoke``: the smoke config on ``device=cuda`` through the trainer's whole loop (prefill, collection with the
     agent, updates, evaluation, checkpoints); it fails unless the agent acted in collection and evaluation.
  2. ``standing_still``: the standing-still config on CUDA against ``baselines/gpu_standing_still.json``.
  3. ``task``: ``configs/gates/dreamer_task.yaml`` against ``baselines/gpu_task.json`` (dreamer_full rules).
  4. ``host_transfers``: torch.profiler over one update and the sampling of its batch: no copies either way.
  5. ``replay_pointers``: the GPU replay keeps its storage (data pointers unchanged) through wrap-around and sampling.
  6. ``cuda_graph``: the same updates plain and captured in a CUDA graph; losses, weights and optimiser steps agree.
  7. ``flags_smoke``: the smoke run again through the whole loop with the GPU throughput flags on (``cuda_graph``,
     which stages batches in pinned buffers, ``overlap_collection`` and ``replay_on_device``).
  Parts 2 and 3 skip when their baseline has not been recorded on a GPU yet (the line says how to record it).

Training runs are ordinary ``orch run`` runs (``orchestrator.launch.submit.run_one``): named, recorded and failed
like any other, in this process, through the registered entry point. The GPU probes are the ``probes`` part Dreamer
registers (``trainers.registry``), run in a child process, so orch itself never imports Dreamer's modules. The gate
configs and baselines ship with the package (``manifests.shipped``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from manifests.shipped import CHECKOUT, shipped_path
from orchestrator.errors import RunFailed
from orchestrator.extras import require_extra
from orchestrator.gate.baseline import baseline_path, build_baseline, load_baseline, save_baseline
from orchestrator.gate.compare import compare_runs
from orchestrator.gate.rundata import GateError, RunData, load_run
from trainers import registry

__all__ = [
    "CPU_BASELINE",
    "GATE_CONFIGS",
    "GPU_BASELINE",
    "PartResult",
    "SuiteResult",
    "run_config",
    "run_cpu_gate",
    "run_gpu_gate",
]

REPO_ROOT = CHECKOUT  # where the Dreamer tests of part 1 live (a checkout only)
GATE_CONFIGS = shipped_path("configs", "gates")
GATE_TRAINER = "dreamerv3"  # every gate config trains it; its registered probes are the GPU gate's parts 4 to 6
CPU_BASELINE = "cpu_standing_still"
GPU_BASELINE = "gpu_standing_still"
GPU_TASK_BASELINE = "gpu_task"
# The Dreamer math tests and the RSSM/network shape tests (RSSM observe/imagine lives in test_networks.py).
DREAMER_TEST_PATTERNS = ("test_*math*.py", "test_*rssm*.py", "test_*network*.py")
_LOSS_KEYS = ("loss_model", "obs_nll", "kl_dyn", "kl_rep", "loss_actor", "loss_critic")
GPU_PARTS = ("cuda_smoke", "standing_still", "task", "host_transfers", "replay_pointers", "cuda_graph", "flags_smoke")
# The throughput flags of docs/dreamerv3.md ("First GPU session"); cuda_graph implies pinned_staging.
GPU_FLAGS = ("cuda_graph=true", "overlap_collection=true", "replay_on_device=true")


@dataclass
class PartResult:
    """One part of a suite: ``status`` is pass, fail or skip; ``summary`` is its JSON document."""

    name: str
    status: str
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    @property
    def line(self) -> str:
        return f"{self.status.upper():4} {self.name} ({self.seconds:.1f}s){': ' + self.reason if self.reason else ''}"

    def to_json(self) -> dict[str, Any]:
        head = {"part": self.name, "status": self.status, "seconds": round(self.seconds, 2), "reason": self.reason}
        return {**head, **{k: v for k, v in self.summary.items() if k not in head}}


@dataclass
class SuiteResult:
    """A whole suite: passed when no part failed (skips do not fail it)."""

    suite: str
    parts: list[PartResult]

    @property
    def passed(self) -> bool:
        return all(p.status != "fail" for p in self.parts)

    @property
    def verdict(self) -> str:
        counts = {s: sum(p.status == s for p in self.parts) for s in ("pass", "fail", "skip")}
        head = "PASS" if self.passed else "FAIL"
        if self.parts and counts["skip"] == len(self.parts):
            head = "SKIP"  # nothing ran: say so instead of claiming a pass
        tail = f"{head} gate {self.suite}: {counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped"
        return "\n".join([*(p.line for p in self.parts), tail])

    @property
    def summary(self) -> dict[str, Any]:
        return {"suite": self.suite, "passed": self.passed, "parts": [p.to_json() for p in self.parts]}


def _timed(name: str, body: Callable[[], tuple[str, dict[str, Any], str]]) -> PartResult:
    """Run one part; an unexpected exception fails the part (the suite goes on), with the error as the reason."""
    start = time.perf_counter()
    try:
        status, summary, reason = body()
    except GateError as exc:
        status, summary, reason = "fail", {}, str(exc)
    except Exception as exc:
        status, summary, reason = "fail", {"exception": type(exc).__name__}, f"{type(exc).__name__}: {exc}"
    return PartResult(name, status, time.perf_counter() - start, summary, reason)


# ---------------------------------------------------------------------------------------------- training runs
def run_config(
    config: Path, workdir: Path, *, overrides: Sequence[str] = (), seed: int | None = None, threads: int | None = 1
) -> Path:
    """``orch run CONFIG --artifact-root WORKDIR`` (with ``--set`` style ``overrides``), in this process, its output
    in the run's logs. Returns the run directory, also when the run failed: its ``run.json`` then says so, which the
    gate reports.

    ``threads`` caps torch's intra-op threads for the run (restored afterwards): the gate's models are tiny, and on a
    busy machine two spinning threads made a 56-update run 20x slower (43 s against 2 s) than one.
    """
    from orchestrator.launch.submit import run_one

    try:
        outcome = run_one(config, overrides=list(overrides), seed=seed, root=workdir, torch_threads=threads, echo=False)
    except RunFailed as failed:  # recorded in run.json; the gate reads it from there
        outcome = failed.outcome
    return Path(outcome.run_dir)


def _smoke(workdir: Path, overrides: Sequence[str] = (), name: str | None = None) -> tuple[str, dict[str, Any], str]:
    """The smoke config through ``orch run``; ``name`` gives a second smoke run of the suite its own run name."""
    overrides = (*overrides, f"name={name}") if name else tuple(overrides)
    run_dir = run_config(GATE_CONFIGS / "dreamer_smoke.yaml", workdir, overrides=overrides)
    run = load_run(run_dir)
    summary = _smoke_summary(run, run_dir)
    verdict, why = _smoke_verdict(run, summary)
    return verdict, summary, why


def _most(records: Sequence[dict[str, Any]], key: str) -> int:
    return max((r[key] for r in records if isinstance(r.get(key), int)), default=0)


def _smoke_summary(run: RunData, run_dir: Path) -> dict[str, Any]:
    """What the smoke run did: updates, steps the policy acted, evaluation episodes, its last losses."""
    last = run.metrics[-1] if run.metrics else {}
    prefill = int((run.resolved.get("settings") or {}).get("prefill") or 0)
    return {
        "run_dir": str(run_dir),
        "run_status": run.status,
        "updates": _most(run.metrics, "opt_steps"),
        "policy_steps": _most(run.metrics, "env_steps") - prefill,
        "eval_episodes": sum(1 for e in run.episodes if e.get("kind") == "eval"),
        "lines": len(run.metrics),
        "last_losses": {k: last.get(k) for k in _LOSS_KEYS if k in last},
    }


def _smoke_verdict(run: RunData, summary: dict[str, Any]) -> tuple[str, str]:
    """Pass when the run completed, updated, acted in collection and evaluation, and its losses are finite."""
    updates, policy_steps, evals = summary["updates"], summary["policy_steps"], summary["eval_episodes"]
    losses = summary["last_losses"]
    if run.status != "completed":
        return "fail", f"run ended {run.status}: {run.error or 'see ' + summary['run_dir']}"
    if updates < 1:
        return "fail", "no update was made (metrics.jsonl has no opt_steps >= 1)"
    if policy_steps < 1 or evals < 1:  # the collector and the evaluation must have run the agent on the device
        return "fail", f"the agent acted in {policy_steps} collection steps and {evals} evaluation episodes"
    bad = [k for k, v in losses.items() if not isinstance(v, int | float)]
    if bad or not losses:
        return "fail", f"non-finite or missing losses: {', '.join(bad) or 'none logged'}"
    return "pass", f"{updates} update(s), {policy_steps} policy steps, {evals} eval episode(s), losses finite"


def _standing_still(
    workdir: Path, baseline: str, overrides: Sequence[str] = (), baselines_dir: Path | None = None, record: bool = False
) -> tuple[str, dict[str, Any], str]:
    """Run the standing-still config; compare it with ``baseline``, or (``record``) store it as that baseline."""
    path = baseline_path(baseline, baselines_dir)
    if not record and not path.is_file():
        return "fail", {}, f"baseline {path} missing; record it with {_record_hint(baseline)}"
    run_dir = run_config(GATE_CONFIGS / "dreamer_standing_still.yaml", workdir, overrides=overrides)
    run = load_run(run_dir)
    if record:
        if run.status != "completed":
            return "fail", {"run_dir": str(run_dir)}, f"run ended {run.status}: {run.error}; nothing recorded"
        command = f"{_record_hint(baseline)} (run {run.run_id})"
        document = build_baseline([run], name=baseline, gate="dreamer_standing_still", command=command)
        saved = save_baseline(document, directory=baselines_dir, force=True)
        return "pass", {"run_dir": str(run_dir), "baseline": str(saved)}, f"recorded baseline {saved}"
    result = compare_runs([run], load_baseline(baseline, baselines_dir))
    return ("pass" if result.passed else "fail"), {"run_dir": str(run_dir), **result.summary}, result.verdict


def _record_hint(name: str) -> str:
    suite = "gpu" if name.startswith("gpu") else "cpu"
    return f"`orch gate {suite} --record-baseline` (docs/validation.md)"


def _pytest_part(patterns: Sequence[str], folder: Path) -> tuple[str, dict[str, Any], str]:
    if not folder.is_dir():
        return "skip", {}, f"{folder} absent (an installed package has no tests); run the gate from a checkout"
    files = sorted({str(p) for pattern in patterns for p in folder.glob(pattern)})
    if not files:
        return "fail", {"folder": str(folder)}, f"no tests match {', '.join(patterns)} in {folder}"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not expensive", *files]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    tail = (proc.stdout.strip().splitlines() or [""])[-1]
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|error|errors|skipped)", tail)}
    summary = {"files": [os.path.relpath(f, REPO_ROOT) for f in files], "returncode": proc.returncode, **counts}
    if proc.returncode != 0:
        summary["output_tail"] = proc.stdout[-3000:] + proc.stderr[-1000:]
        return "fail", summary, tail or f"pytest exited {proc.returncode}"
    return "pass", summary, tail


def _workdir(workdir: Path | None) -> Path:
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        return workdir
    return Path(tempfile.mkdtemp(prefix="orch-gate-"))


def run_cpu_gate(
    *,
    workdir: Path | None = None,
    baselines_dir: Path | None = None,
    record: bool = False,
    on_part: Callable[[PartResult], None] | None = None,
) -> SuiteResult:
    """``orch gate cpu``: Dreamer math/RSSM tests, a 1-2 update smoke, the deterministic standing-still comparison
    (with ``record``: the standing-still run becomes the committed baseline instead)."""
    require_extra("train", "orch gate cpu")
    work = _workdir(workdir)
    dreamer_tests = REPO_ROOT / "tests" / "trainers" / "dreamerv3"
    steps: list[tuple[str, Callable[[], tuple[str, dict[str, Any], str]]]] = [
        ("dreamer_tests", lambda: _pytest_part(DREAMER_TEST_PATTERNS, dreamer_tests)),
        ("train_smoke", lambda: _smoke(work)),
        ("standing_still", lambda: _standing_still(work, CPU_BASELINE, baselines_dir=baselines_dir, record=record)),
    ]
    return _cleanup(_run_suite("cpu", steps, on_part), work, keep=workdir is not None)


def _cleanup(suite: SuiteResult, work: Path, *, keep: bool) -> SuiteResult:
    """A temporary work folder is removed when the suite passed, kept (its runs named in the summary) when not."""
    if not keep and suite.passed:
        shutil.rmtree(work, ignore_errors=True)
    return suite


def _run_suite(
    suite: str,
    steps: Sequence[tuple[str, Callable[[], tuple[str, dict[str, Any], str]]]],
    on_part: Callable[[PartResult], None] | None,
) -> SuiteResult:
    parts = []
    for name, body in steps:
        part = _timed(name, body)
        parts.append(part)
        if on_part:
            on_part(part)
    return SuiteResult(suite, parts)


# ------------------------------------------------------------------------------------------------------- GPU
def _cuda_available() -> tuple[bool, str]:
    """(available, description) without importing torch into this process."""
    code = "import torch,json;ok=torch.cuda.is_available();print(json.dumps([ok, torch.cuda.get_device_name(0) if ok else torch.__version__]))"  # noqa: E501
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        ok, what = json.loads(proc.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, OSError, ValueError, IndexError):
        return False, "torch could not be imported"
    return bool(ok), str(what)


def _probe(name: str, device: str) -> tuple[str, dict[str, Any], str]:
    cmd = registry.probe_command(GATE_TRAINER, name, device=device)
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    try:
        summary = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return "fail", {"stderr": proc.stderr[-2000:]}, f"probe {name} printed no JSON (exit {proc.returncode})"
    return ("pass" if summary.get("passed") else "fail"), summary, str(summary.get("reason", ""))


def _baseline_or_skip(
    name: str,
    baselines_dir: Path | None,
    body: Callable[[], tuple[str, dict[str, Any], str]],
    hint: str,
    record: bool = False,
) -> tuple[str, dict[str, Any], str]:
    if not record and not baseline_path(name, baselines_dir).is_file():
        return "skip", {}, f"no baseline {name!r} recorded on a GPU yet: {hint}"
    return body()


def run_gpu_gate(
    *,
    workdir: Path | None = None,
    baselines_dir: Path | None = None,
    record: bool = False,
    on_part: Callable[[PartResult], None] | None = None,
    device: str = "cuda",
) -> SuiteResult:
    """``orch gate gpu``: every part skips with the reason when no CUDA device is present. ``device`` other than
    cuda runs the same parts elsewhere (the tests exercise the suite's plumbing on the CPU this way)."""
    require_extra("train", "orch gate gpu")
    ok, device_name = _cuda_available() if device.startswith("cuda") else (True, device)
    if not ok:
        reason = f"no CUDA device ({device_name}); run on a GPU node, e.g. srun --gres=gpu:1 orch gate gpu"
        skipped = [PartResult(n, "skip", 0.0, {}, reason) for n in GPU_PARTS]
        for part in skipped:
            if on_part:
                on_part(part)
        return SuiteResult("gpu", skipped)
    work = _workdir(workdir)
    cuda = (f"device={device}",)
    ss_hint = f"record it with {_record_hint(GPU_BASELINE)}"
    task_hint = "train configs/gates/dreamer_task.yaml on a GPU, then `orch gate baseline RUN --name gpu_task`"
    steps: list[tuple[str, Callable[[], tuple[str, dict[str, Any], str]]]] = [
        ("cuda_smoke", lambda: _smoke(work, cuda)),
        (
            "standing_still",
            lambda: _baseline_or_skip(
                GPU_BASELINE,
                baselines_dir,
                lambda: _standing_still(work, GPU_BASELINE, cuda, baselines_dir, record),
                ss_hint,
                record,
            ),
        ),
        (
            "task",
            lambda: _baseline_or_skip(
                GPU_TASK_BASELINE, baselines_dir, lambda: _task(work, baselines_dir, device), task_hint
            ),
        ),
        ("host_transfers", lambda: _probe("host_transfers", device)),
        ("replay_pointers", lambda: _probe("replay_pointers", device)),
        ("cuda_graph", lambda: _probe("cuda_graph", device)),
        ("flags_smoke", lambda: _smoke(work, (*cuda, *GPU_FLAGS), name="gate_dreamer_flags_smoke")),
    ]
    suite = _run_suite("gpu", steps, on_part)
    for part in suite.parts:
        part.summary.setdefault("device", device_name)
    return _cleanup(suite, work, keep=workdir is not None)


def _task(workdir: Path, baselines_dir: Path | None, device: str) -> tuple[str, dict[str, Any], str]:
    document = load_baseline(GPU_TASK_BASELINE, baselines_dir)
    run_dir = run_config(GATE_CONFIGS / "dreamer_task.yaml", workdir, overrides=(f"device={device}",), threads=None)
    result = compare_runs([load_run(run_dir)], document)
    return ("pass" if result.passed else "fail"), {"run_dir": str(run_dir), **result.summary}, result.verdict
