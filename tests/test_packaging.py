"""The packaging split and CI agree with what the code and the README say: a light core, extras named as the commands
name them, a set-up line that installs what the main job needs, and a CI script that runs the README's commands."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from orchestrator.extras import EXTRAS

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI = (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def _name(requirement: str) -> str:
    """The importable name of a requirement (``stable-baselines3>=2.3`` -> ``stable_baselines3``)."""
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("-", "_")


def test_each_extra_installs_the_modules_orch_checks_for() -> None:
    extras = PROJECT["optional-dependencies"]
    assert set(extras) == {*EXTRAS, "dev"}
    for extra, modules in EXTRAS.items():
        assert sorted(_name(r) for r in extras[extra]) == sorted(modules), extra
    assert extras["dev"][0] == f"orch[{','.join(EXTRAS)}]"  # the tests need every extra


def test_the_core_depends_on_nothing_heavy() -> None:
    core = {_name(r) for r in PROJECT["dependencies"]}
    heavy = {m for modules in EXTRAS.values() for m in modules}
    assert not core & heavy, core & heavy
    assert "submitit" in core and any(r.startswith("submitit>=1.5") and "<1.6" in r for r in PROJECT["dependencies"])


def _bash_blocks(text: str) -> list[list[str]]:
    return [block.strip().splitlines() for block in re.findall(r"```bash\n(.*?)```", text, re.S)]


def test_the_readme_set_up_line_installs_what_the_main_job_needs() -> None:
    (setup,) = _bash_blocks(README)[0]
    assert "pip install -e '.[dev]'" in setup and setup.endswith("orch run configs/ppo_expert/grid_socnav_smoke.yaml")


def test_ci_runs_the_readme_commands_exactly() -> None:
    ci_lines = [line.strip() for line in CI.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert _bash_blocks(README)[1] == ["python3 -m pytest"]  # the README's test command
    assert ci_lines[-1] == "python3 -m pytest"
    development = next(block for block in _bash_blocks(README) if any("ruff" in line for line in block))
    checks = [line.split("#")[0].strip() for line in development if "ruff" in line or "mypy" in line]
    assert checks == [
        "python3 -m ruff check .",
        "python3 -m ruff format --check .",
        "python3 -m mypy manifests orchestrator trainers",
    ]
    assert ci_lines[-4:-1] == checks
    for install in _bash_blocks(README)[0][0].split(" && ")[:2]:  # torch first, then the project with [dev]
        assert install.strip() in [line.replace(" -q ", " ") for line in ci_lines], install
