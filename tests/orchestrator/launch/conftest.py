"""Launch-test helpers: the toy trainer registered, toy configs, an artifact root, and the local Slurm cluster."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from trainers import registry

REPO_ROOT = Path(__file__).resolve().parents[3]
TOY_MODULE = "tests.orchestrator.launch.toy_trainer"
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.orchestrator.launch.launch_helpers import slurm_problem  # noqa: E402
from tests.orchestrator.launch.toy_trainer import resolve_toy  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _toy_registered() -> Iterator[None]:
    """The toy trainer is known while these tests run, and only then (other tests see the real registry)."""
    registry.register("toy", spec_module=TOY_MODULE, entry_point=f"{TOY_MODULE}:train", schema="toy")
    yield
    registry._REGISTRY.pop("toy", None)


@pytest.fixture(autouse=True)
def _importable_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs (local processes, Slurm jobs) import the toy trainer from this checkout."""
    path = os.environ.get("PYTHONPATH", "")
    if str(REPO_ROOT) not in path.split(os.pathsep):
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(REPO_ROOT), path) if p))
    monkeypatch.setenv("ORCH_CLUSTERS", "")


@pytest.fixture
def toy_resolver() -> Callable[..., object]:
    return resolve_toy


@pytest.fixture
def make_toy_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a toy config; keyword arguments become its keys."""
    counter = iter(range(1000))

    def make(folder: Path | None = None, **values: object) -> Path:
        where = folder or tmp_path
        path = where / f"toy_{next(counter)}.yaml"
        path.write_text(yaml.safe_dump({"trainer": "toy", **values}))
        return path

    return make


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    """Skip (with the reason) where there is no Slurm; in CI (CI=true) a missing cluster is a failure."""
    problem = slurm_problem()
    if problem is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but the local Slurm cluster is unusable: {problem}")
    pytest.skip(problem)
