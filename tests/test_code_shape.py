"""No function in ``orchestrator/`` or ``trainers/`` is longer than a screen or has more than 15 paths through it.

Length counts every line of the ``def`` (docstring included, decorators not). Complexity is cyclomatic, counted the
way radon counts it: one, plus one per ``if``/``elif``, conditional expression, loop (and its ``else``), ``except``
clause, ``try`` ``else``, ``match`` case, comprehension ``for`` and ``if``, and each extra operand of ``and``/``or``;
a nested function or lambda is measured on its own. A function over either bound is split along its concerns; the
ones still over when this check came in are listed in :data:`KNOWN_OVER`, a list that may only shrink.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 60
MAX_COMPLEXITY = 15
# trainers/dreamerv3 is issue 15's (DreamerV3 speed and GPU plan), which splits its long functions and builds
# DreamerTrainer whole in __init__; it joins this check when that lands.
NOT_YET = ("trainers/dreamerv3/",)
# Functions still over a bound when this check came in (issue 16), with their size then: each may shrink, never grow,
# and leaves this list once it is split (a test fails while a listed function is already within the bounds).
KNOWN_OVER: dict[str, tuple[int, int]] = {  # "path:function" -> (lines, complexity)
    "orchestrator/config/migrate.py:_migrate_env": (37, 17),
    "orchestrator/config/migrate.py:_map_experiment": (65, 20),
    "trainers/envs/factory.py:make_env": (63, 8),
}
_BRANCHES = (ast.If, ast.IfExp, ast.match_case)
_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def complexity(function: ast.AST) -> int:
    """Cyclomatic complexity of ``function`` alone (nested functions and lambdas are not counted in it)."""
    count = 1
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        if isinstance(node, _BRANCHES):
            count += 1
        elif isinstance(node, _LOOPS):
            count += 1 + bool(node.orelse)
        elif isinstance(node, ast.Try | ast.TryStar):
            count += len(node.handlers) + bool(node.orelse)
        elif isinstance(node, ast.BoolOp):
            count += len(node.values) - 1
        elif isinstance(node, ast.comprehension):
            count += 1 + len(node.ifs)
        if not isinstance(node, _SCOPES):
            stack.extend(ast.iter_child_nodes(node))
    return count


def _functions() -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    found = []
    for package in ("orchestrator", "trainers"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(NOT_YET):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    found.append((f"{rel}:{node.lineno} {node.name}", node))
    return found


FUNCTIONS = _functions()


def test_the_measure_counts_what_it_says() -> None:
    source = "def f(a, b):\n    if a and b:\n        return [x for x in a if x]\n    return 1 if b else 2\n"
    (function,) = ast.parse(source).body
    assert complexity(function) == 1 + 1 + 1 + 2 + 1  # if, and, comprehension for + if, conditional expression


def _key(where: str) -> str:
    path, name = where.split(" ")
    return f"{path.split(':')[0]}:{name}"


def _size(function: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[int, int]:
    return (function.end_lineno or function.lineno) - function.lineno + 1, complexity(function)


@pytest.mark.parametrize("where,function", FUNCTIONS, ids=[w for w, _ in FUNCTIONS])
def test_no_function_is_longer_than_a_screen_or_too_branchy(where: str, function: ast.FunctionDef) -> None:
    max_lines, max_complexity = KNOWN_OVER.get(_key(where), (MAX_LINES, MAX_COMPLEXITY))
    lines, branches = _size(function)
    assert lines <= max(max_lines, MAX_LINES), (
        f"{where} is {lines} lines long (at most {MAX_LINES}): split it along its concerns"
    )
    assert branches <= max(max_complexity, MAX_COMPLEXITY), (
        f"{where} has complexity {branches} (at most {MAX_COMPLEXITY}): split it along its concerns"
    )


def test_the_list_of_known_long_functions_only_holds_ones_still_over() -> None:
    sizes: dict[str, list[tuple[int, int]]] = {}
    for where, function in FUNCTIONS:
        sizes.setdefault(_key(where), []).append(_size(function))
    assert FUNCTIONS and KNOWN_OVER
    for key in KNOWN_OVER:
        assert key in sizes, f"{key} is gone: take it off KNOWN_OVER"
        assert any(lines > MAX_LINES or branches > MAX_COMPLEXITY for lines, branches in sizes[key]), (
            f"{key} is within the bounds now: take it off KNOWN_OVER"
        )
