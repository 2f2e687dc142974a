"""The dependency rules of DESIGN.md, checked on every module's AST so nobody has to remember them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("orchestrator", "trainers", "manifests")
# Modules of trainers that orchestrator may import: the registry, light specs and light helpers (no torch).
# trainers.common.job (TrainJob, a stdlib dataclass) is the contract a launcher or gate hands to a trainer;
# trainers.common.signals (stdlib) is how the job entry asks a trainer to save and stop before a time limit;
# trainers.common.trial (stdlib) is how a study worker hears a trainer's evaluations and stops a pruned trial;
# trainers.envs.validation runs the env's own loaders (yaml, numpy, svgelements) for `orch validate`, no gymnasium.
LIGHT_TRAINER_MODULES = (
    "trainers.registry",
    "trainers.envs.contracts",
    "trainers.envs.validation",
    "trainers.common.job",
    "trainers.common.signals",
    "trainers.common.trial",
)
LIGHT_SUFFIXES = (".spec",)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("manifests"), ids=lambda p: str(p.relative_to(ROOT)))
def test_manifests_imports_nothing_of_ours(path: Path) -> None:
    bad = [n for n in _imports(path) if n.split(".")[0] in ("orchestrator", "trainers")]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}; manifests must import nothing else of ours"


@pytest.mark.parametrize("path", _modules("trainers"), ids=lambda p: str(p.relative_to(ROOT)))
def test_trainers_never_import_orchestrator(path: Path) -> None:
    bad = [n for n in _imports(path) if n.split(".")[0] == "orchestrator"]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}; trainers must never import orchestrator"


@pytest.mark.parametrize("path", _modules("orchestrator"), ids=lambda p: str(p.relative_to(ROOT)))
def test_orchestrator_imports_only_light_trainer_modules(path: Path) -> None:
    def light(name: str) -> bool:
        return name in ("trainers",) or name.startswith(LIGHT_TRAINER_MODULES) or name.endswith(LIGHT_SUFFIXES)

    bad = [n for n in _imports(path) if n.split(".")[0] == "trainers" and not light(n)]
    # launch/entry.py runs on the compute node and is the one place allowed to reach a heavy entry point,
    # and it does so through trainers.registry.load_entry_point, never by a direct import.
    assert not bad, f"{path.relative_to(ROOT)} imports heavy trainer modules {bad}"
