"""Exit codes are defined once (``manifests.errors.ExitCode``), documented in the README, and every expected failure
is an ``OrchError`` that carries one of them."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

from manifests.errors import ExitCode, OrchError

ROOT = Path(__file__).resolve().parents[1]
LIGHT_PACKAGES = ("manifests", "orchestrator")


def test_the_readme_documents_every_exit_code() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = {int(m.group(1)): m.group(2) for m in re.finditer(r"^\| (\d+) \| (.+) \|$", readme, re.M)}
    assert set(rows) == {int(code) for code in ExitCode}, rows
    assert "bad input" in rows[ExitCode.USAGE] and "answer is no" in rows[ExitCode.FAILED]


def _sources() -> list[Path]:
    return [p for package in ("manifests", "orchestrator", "trainers") for p in sorted((ROOT / package).rglob("*.py"))]


def test_no_module_defines_its_own_exit_codes() -> None:
    """No ``EXIT_*`` constant and no ``typer.Exit(3)``/``sys.exit(2)`` with a bare number outside ``ExitCode``."""
    found = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
                found += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.startswith("EXIT_")]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("Exit", "exit")
            ):
                literal = [a for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, int)]
                found += [f"{path.relative_to(ROOT)}:{node.lineno}: exit code {a.value}" for a in literal]
    assert not found, found


def _error_classes() -> list[type[BaseException]]:
    classes: list[type[BaseException]] = []
    for package in LIGHT_PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."):
            if info.name.endswith("cli"):
                continue
            for _, obj in inspect.getmembers(importlib.import_module(info.name), inspect.isclass):
                if issubclass(obj, Exception) and obj.__module__ == info.name:
                    classes.append(obj)
    return classes


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_every_error_a_person_sees_is_an_orch_error_with_a_code(cls: type[BaseException]) -> None:
    # Signals between the functions of one layer, each caught and turned into an OrchError where it is handled (or,
    # LockTimeout, a hung file system: a fault of the machine, exit 1); they never reach the command line as they are.
    internal = {"_Raced", "UnsafeMember", "CorruptArchive", "FileChanged", "LockTimeout", "YAMLTooLarge"}
    if cls.__name__ in internal:
        return
    assert issubclass(cls, OrchError), f"{cls.__module__}.{cls.__name__} is not an OrchError"
    assert cls.exit_code in ExitCode
