"""Loading: line marks for every key, base_config merging, relative paths and --set overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config.load import load_config, parse_override
from orchestrator.errors import ConfigError


def test_every_key_and_list_item_has_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("a: 1\nb:\n  c:\n    d: x\n  e: [1, 2]\nf:\n  - g: 1\n  - h: 2\n")
    loaded = load_config(path)
    lines = {k: m.line for k, m in loaded.marks.by_path.items()}
    assert lines[("a",)] == 1
    assert lines[("b", "c", "d")] == 4
    assert lines[("b", "e", 1)] == 5
    assert lines[("f", 1, "h")] == 8
    assert loaded.marks.by_path[("b", "c", "d")].column == 5


def test_base_config_deep_merge_child_wins_lists_replace(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "parent.yaml").write_text(
        "a: {x: 1, y: 2}\nlist: [1, 2, 3]\nkeep: yes\nscenario_config: scen.yaml\n"
    )
    child = tmp_path / "child.yaml"
    child.write_text("base_config: base/parent.yaml\na: {y: 20, z: 30}\nlist: [9]\n")
    loaded = load_config(child)
    assert loaded.data["a"] == {"x": 1, "y": 20, "z": 30}
    assert loaded.data["list"] == [9]
    assert loaded.data["keep"] is True
    assert "base_config" not in loaded.data
    # relative paths resolve against the folder of the file that sets them (the parent here)
    assert loaded.data["scenario_config"] == str(tmp_path / "base" / "scen.yaml")
    # marks follow the winning file
    assert loaded.marks.by_path[("a", "x")].file == str(tmp_path / "base" / "parent.yaml")
    assert loaded.marks.by_path[("a", "y")].file == str(child)
    assert loaded.marks.by_path[("list", 0)].line == 3 and loaded.marks.by_path[("list", 0)].file == str(child)
    assert ("list", 2) not in loaded.marks.by_path
    assert loaded.files == [tmp_path / "base" / "parent.yaml", child]


def test_base_config_chain_of_three_and_cycle(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("base_config: b.yaml\nv: a\n")
    (tmp_path / "b.yaml").write_text("base_config: c.yaml\nv: b\nw: b\n")
    (tmp_path / "c.yaml").write_text("v: c\nw: c\nu: c\n")
    assert load_config(tmp_path / "a.yaml").data == {"v": "a", "w": "b", "u": "c"}
    (tmp_path / "c.yaml").write_text("base_config: a.yaml\n")
    with pytest.raises(ConfigError, match=r"cycle: a.yaml -> b.yaml -> c.yaml -> a.yaml"):
        load_config(tmp_path / "a.yaml")


def test_self_reference_is_a_cycle(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("base_config: ./a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "a.yaml")


def test_relative_paths_do_not_depend_on_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cfg").mkdir()
    path = tmp_path / "cfg" / "c.yaml"
    path.write_text("scenario_config: ../scen/m.yaml\nenv:\n  scenario_config: m2.yaml\n")
    monkeypatch.chdir("/")
    loaded = load_config(path)
    assert loaded.data["scenario_config"] == str(tmp_path / "scen" / "m.yaml")
    assert loaded.data["env"]["scenario_config"] == str(tmp_path / "cfg" / "m2.yaml")


def test_paths_with_odd_characters(weird_tmp_path: Path) -> None:
    (weird_tmp_path / "p.yaml").write_text("x: 1\n")
    path = weird_tmp_path / "c.yaml"
    path.write_text("base_config: p.yaml\ny: 2\n")
    assert load_config(path).data == {"x": 1, "y": 2}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=1", 1),
        ("a=1.5", 1.5),
        ("a=true", True),
        ("a=null", None),
        ("a=[1, 2]", [1, 2]),
        ("a={b: 1}", {"b": 1}),
        ("a=auto", "auto"),
        ("a='1'", "1"),
        ("a=1e-4", 1e-4),  # YAML 1.1 would read a string; orch reads what people mean
        ("a=0.0001", 0.0001),
        ("a=x=y", "x=y"),
    ],
)
def test_override_values_are_typed_as_yaml(text: str, expected: object) -> None:
    assert parse_override(text) == (("a",), expected)


def test_overrides_set_nested_keys_list_items_and_new_sections(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("a: {b: 1}\nseeds: [1, 2]\n")
    loaded = load_config(path, overrides=["a.b=5", "seeds.1=7", "new.deep.key=x", "scenario_config=rel.yaml"])
    assert loaded.data["a"] == {"b": 5}
    assert loaded.data["seeds"] == [1, 7]
    assert loaded.data["new"] == {"deep": {"key": "x"}}
    assert loaded.data["scenario_config"] == str(Path.cwd() / "rel.yaml")
    assert loaded.marks.by_path[("a", "b")].file == "--set"


@pytest.mark.parametrize("bad", ["novalue", "=1", "a..b=1", "a=[unclosed"])
def test_bad_overrides_are_config_errors(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("a: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides=[bad])
    assert info.value.issues[0].file == "--set"


def test_yaml_anchors_and_merge_keys_work(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n")
    assert load_config(path).data["other"] == {"x": 1, "y": 3}
