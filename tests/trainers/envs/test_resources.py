from __future__ import annotations

import sys
from pathlib import Path

import pytest

from trainers.envs import resources


@pytest.fixture(autouse=True)
def _fresh_cache():
    resources.configs_dir.cache_clear()
    yield
    resources.configs_dir.cache_clear()


def test_checkout_configs_are_found() -> None:
    assert resources.default_matrix_path().is_file()
    assert (resources.default_maps_dir() / "easy_open.svg").is_file()


def test_installed_data_files_are_the_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "prefix" / "share" / "orch" / "configs"
    (shared / "scenarios").mkdir(parents=True)
    (shared / "scenarios" / resources.DEFAULT_MATRIX_NAME).write_text("scenarios: []\n")
    monkeypatch.setattr("manifests.shipped.CHECKOUT", tmp_path / "site")  # a wheel: no configs/ beside the code
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "prefix"))
    monkeypatch.delenv("ORCH_CONFIGS_DIR", raising=False)
    assert resources.configs_dir() == shared


def test_environment_variable_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_CONFIGS_DIR", str(tmp_path))
    assert resources.default_matrix_path() == tmp_path / "scenarios" / resources.DEFAULT_MATRIX_NAME


def test_contracts_import_stays_light() -> None:
    import subprocess

    code = "import trainers.envs.contracts, trainers.envs.spec, sys; print('gymnasium' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
