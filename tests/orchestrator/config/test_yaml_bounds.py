"""Hostile YAML is refused quickly and in little memory: an alias bomb (a few hundred bytes that expand to a billion
values) in a config file, a ``--set`` value, a cluster profile or a sweep file exits 2 with one line."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from orchestrator.config.yamlread import MAX_YAML_NODES, YAMLTooLarge, check_expansion, load_yaml

CLI = Callable[..., tuple[int, str, str]]


def bomb(levels: int = 9, width: int = 10) -> str:
    """``a0: &a0 [x, x, ...]`` and ``levels`` more levels of ``width`` references each: width**(levels+1) values."""
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def test_the_expansion_is_counted_over_the_graph_not_by_walking_it() -> None:
    loader = yaml.SafeLoader(bomb())
    node = loader.get_single_node()
    start = time.process_time()
    with pytest.raises(YAMLTooLarge, match=f"more than {MAX_YAML_NODES} values"):
        check_expansion(node)
    assert time.process_time() - start < 0.1
    # the mapping, its 3 keys, a0 (1 + 3), a1 (1 + 3 x 4) and a2 (1 + 3 x 13): each alias counted where it is used
    assert check_expansion(yaml.SafeLoader(bomb(levels=2, width=3)).get_single_node()) == 1 + 3 + 4 + 13 + 40


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(YAMLTooLarge, match="refers to itself"):
        load_yaml("a: &a [1, *a]\n")


def test_aliases_within_the_budget_load_as_usual() -> None:
    assert load_yaml("base: &b {lr: 1e-4}\nrun: *b\n") == {"base": {"lr": 1e-4}, "run": {"lr": 1e-4}}


def _measured(args: list[str], cwd: Path) -> dict[str, float]:
    """Run ``python -m orchestrator.cli ARGS`` from a small parent that reports its child's exit code, CPU seconds
    and peak memory (so nothing else this test process ever started counts)."""
    code = textwrap.dedent(
        f"""
        import json, resource, subprocess, sys, time
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "orchestrator.cli", *{args!r}], capture_output=True, text=True)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(json.dumps({{"rc": proc.returncode, "err": proc.stderr, "cpu_s": usage.ru_utime + usage.ru_stime,
                          "wall_s": time.perf_counter() - start, "max_rss_mb": usage.ru_maxrss / 1024}}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize("where", ["file", "set"])
def test_the_alias_bomb_exits_2_within_a_second_and_200_mb(tmp_path: Path, where: str) -> None:
    text = bomb()
    assert len(text.encode()) < 600  # a few hundred bytes
    if where == "file":
        (tmp_path / "bomb.yaml").write_text(text)
        args = ["validate", "bomb.yaml"]
    else:
        (tmp_path / "c.yaml").write_text("trainer: ppo_expert\n")
        args = ["validate", "c.yaml", "--set", "a={" + text.strip().replace("\n", ", ") + "}"]
    result = _measured(args, tmp_path)
    assert result["rc"] == 2, result["err"]
    assert "expands to more than 100000 values" in result["err"] and "Traceback" not in result["err"]
    # CPU seconds of the orch process (interpreter start and imports included), not the busy machine's wall clock
    assert result["cpu_s"] < 1.0, result
    assert result["max_rss_mb"] < 200, result


def test_bombs_in_profiles_grids_and_sweep_files_are_one_line_errors(tmp_path: Path, cli: CLI) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("trainer: ppo_expert\ntotal_timesteps: 10\n")
    flow = "{" + bomb().strip().replace("\n", ", ") + "}"
    (tmp_path / "sweep.yaml").write_text("grid:\n  total_timesteps: [1, 2]\n" + textwrap.indent(bomb(), "  "))
    (tmp_path / "bomb_profile.yaml").write_text(bomb())
    cases = [
        ["submit", config, "--dry-run", "--set", f"cluster.env={flow}"],
        ["submit", config, "--dry-run", "--grid", f"total_timesteps={flow}"],
        ["submit", config, "--dry-run", "--sweep", tmp_path / "sweep.yaml"],
        ["submit", config, "--dry-run", "--cluster", tmp_path / "bomb_profile.yaml"],
    ]
    for args in cases:
        start = time.process_time()
        code, _, err = cli(*args, "--artifact-root", tmp_path / "out")
        assert code == 2 and "expands to more than" in err and err.count("\n") == 1, (args, err)
        assert time.process_time() - start < 1.0
    assert not (tmp_path / "out").exists()
