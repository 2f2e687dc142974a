"""Validation gates: baselines of key metrics, comparisons under per-gate rules, and the CPU/GPU gate suites."""

from orchestrator.gate.baseline import create_baseline as create_baseline
from orchestrator.gate.baseline import load_baseline as load_baseline
from orchestrator.gate.compare import GateResult as GateResult
from orchestrator.gate.compare import compare_with_baseline as compare_with_baseline
from orchestrator.gate.rundata import GateError as GateError

__all__ = ["GateError", "GateResult", "compare_with_baseline", "create_baseline", "load_baseline"]
