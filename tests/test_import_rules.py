"""The dependency rules of ``../shared/DESIGN.md``, checked on every module's AST so that nobody has to remember them.

DESIGN.md, "The parts and what each may import":

* ``manifests/``: stdlib, jsonschema (nothing else of ours);
* ``orchestrator/``: ``manifests``, and of ``trainers`` only the light modules: ``trainers.registry`` and the light
  ``spec`` module of each trainer (and of the environments);
* ``trainers/``: ``manifests``, each other; never ``orchestrator``.

An import is an ``import``/``from`` statement anywhere in a module (inside functions too) or a string that names one of
our modules the way a loader takes it (``"trainers.dreamerv3.bench:cli_benchmark"``, ``-m trainers.x.probes``):
those strings are imports that happen later. Besides, the light modules the orchestrator may import must not reach
torch, SB3, gymnasium, W&B, TensorBoard or matplotlib at import time, through any chain of module-level imports.
"""

from __future__ import annotations

import ast
import re
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT.parent / "shared" / "DESIGN.md"
OURS = ("manifests", "orchestrator", "trainers")
MANIFEST_THIRD_PARTY = ("jsonschema",)
HEAVY = ("torch", "stable_baselines3", "gymnasium", "wandb", "tensorboard", "matplotlib")
# What DESIGN.md's table says each part may import; test_design_table_is_the_one_checked_here keeps them equal.
DESIGN_CELLS = {
    "manifests/": "stdlib, jsonschema",
    "orchestrator/": "`manifests`, and of `trainers` only the light modules named below",
    "trainers/": "`manifests`, each other; never `orchestrator`",
}
# A string that is exactly a module path, optionally ``:attr``: what pkgutil.resolve_name and ``python -m`` take.
MODULE_STRING = re.compile(r"^(?P<module>(?:manifests|orchestrator|trainers)(?:\.[A-Za-z_]\w*)+)(?::[\w.]+)?$")


def light_trainer_module(name: str) -> bool:
    """``trainers.registry`` and the light spec modules (``trainers.<part>.spec``): all the orchestrator may import."""
    parts = name.split(".")
    return name in ("trainers", "trainers.registry") or (
        len(parts) == 3 and parts[0] == "trainers" and parts[2] == "spec"
    )


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _absolute(node: ast.ImportFrom, here: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    package = here.split(".") if is_package else here.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


@cache
def imports_of(path: Path, *, top_level_only: bool = False) -> tuple[str, ...]:
    """Every module ``path`` imports: statements (at module level only, with ``top_level_only``) and, unless
    ``top_level_only``, module names in strings. ``from a import b`` counts as ``a.b`` when ``b`` is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here, is_package = module_name(path), path.name == "__init__.py"
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: list[str] = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, here, is_package)
            subs = [
                f"{base}.{a.name}" for a in node.names if base.split(".")[0] in OURS and _is_module(f"{base}.{a.name}")
            ]
            found += subs or [base]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = MODULE_STRING.match(node.value.strip())
            if match:
                found.append(match.group("module"))
    return tuple(found)


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _ids(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("path", _modules("manifests"), ids=_ids)
def test_manifests_import_the_stdlib_and_jsonschema_only(path: Path) -> None:
    bad = [
        n
        for n in imports_of(path)
        if _top(n) not in sys.stdlib_module_names and _top(n) not in (*MANIFEST_THIRD_PARTY, "manifests")
    ]
    assert not bad, f"{_ids(path)} imports {bad}; manifests may import the stdlib and jsonschema only"


@pytest.mark.parametrize("path", _modules("trainers"), ids=_ids)
def test_trainers_never_import_orchestrator(path: Path) -> None:
    bad = [n for n in imports_of(path) if _top(n) == "orchestrator"]
    assert not bad, f"{_ids(path)} imports {bad}; trainers must never import orchestrator"


@pytest.mark.parametrize("path", _modules("orchestrator"), ids=_ids)
def test_orchestrator_imports_only_the_registry_and_spec_modules_of_trainers(path: Path) -> None:
    bad = [n for n in imports_of(path) if _top(n) == "trainers" and not light_trainer_module(n)]
    assert not bad, f"{_ids(path)} imports {bad}; of trainers, orchestrator may import trainers.registry and *.spec"


def _heavy_chain(module: str, seen: dict[str, list[str] | None]) -> list[str] | None:
    """A chain of module-level imports from ``module`` to a heavy package, or None."""
    if module in seen:
        return seen[module]
    seen[module] = None  # a cycle leads nowhere new
    base = ROOT.joinpath(*module.split("."))
    path = base / "__init__.py" if (base / "__init__.py").is_file() else base.with_suffix(".py")
    names = list(imports_of(path, top_level_only=True))
    parents = [".".join(module.split(".")[:i]) for i in range(1, len(module.split(".")))]
    for name in [*parents, *names]:
        if _top(name) in HEAVY:
            seen[module] = [module, name]
            return seen[module]
        if _top(name) in OURS and _is_module(name):
            chain = _heavy_chain(name, seen)
            if chain:
                seen[module] = [module, *chain]
                return seen[module]
    return None


def _light_modules() -> list[str]:
    names = {"trainers.registry"}
    names |= {module_name(p) for p in (ROOT / "trainers").glob("*/spec.py")}
    return sorted(names)


@pytest.mark.parametrize("module", _light_modules())
def test_light_trainer_modules_reach_nothing_heavy_at_import(module: str) -> None:
    chain = _heavy_chain(module, {})
    assert chain is None, " -> ".join(chain or [])


def test_the_checker_sees_loader_strings_and_rejects_heavy_modules() -> None:
    """The checker itself: a loader string and a ``python -m`` argument are imports, prose is not."""
    assert _strings_as_imports('X = "trainers.dreamerv3.bench:cli_benchmark"') == ["trainers.dreamerv3.bench"]
    assert _strings_as_imports('cmd = ["python", "-m", "trainers.x.probes"]') == ["trainers.x.probes"]
    assert _strings_as_imports('doc = "see trainers.registry for more"') == []
    assert light_trainer_module("trainers.ppo_expert.spec") and light_trainer_module("trainers.envs.spec")
    assert not light_trainer_module("trainers.common.job") and not light_trainer_module("trainers.envs.contracts")


def _strings_as_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = MODULE_STRING.match(node.value.strip())
            if match:
                found.append(match.group("module"))
    return found


def test_design_table_is_the_one_checked_here() -> None:
    if not DESIGN.is_file():
        pytest.skip(f"{DESIGN} absent (../shared exists in dev and CI only)")
    text = DESIGN.read_text(encoding="utf-8")
    cells = {}
    for line in text.splitlines():
        columns = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(columns) == 3 and columns[0].strip("`") in DESIGN_CELLS:
            cells[columns[0].strip("`")] = columns[2]
    assert cells == DESIGN_CELLS, "DESIGN.md's import rules changed: update this test's rules to match"
