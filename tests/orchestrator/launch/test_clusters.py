"""Cluster profiles: shipped profiles, search order, overrides, unit parsing, and errors that list valid keys."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.errors import LaunchError
from orchestrator.launch.clusters import (
    cluster_search_path,
    list_clusters,
    load_cluster,
    parse_mem_gb,
    parse_time_min,
    split_cluster_overrides,
    valid_keys,
)


def test_shipped_profiles_load() -> None:
    local = load_cluster("local")
    assert local.backend == "local" and local.time_min == 10080
    auxme = load_cluster("auxme")
    assert auxme.backend == "slurm"
    assert auxme.site == {"partition": "a30", "account": "mitarbeiter", "qos": "a30-gpu", "gres": "gpu:a30:1"}
    assert (auxme.cpus_per_task, auxme.mem_gb, auxme.time_min, auxme.array_parallelism) == (24, 64.0, 1440, 2)
    lines = auxme.setup_lines()
    assert lines[:2] == ["module load gcc/13.2.0", "module load cuda/12.1"]
    assert "export CUBLAS_WORKSPACE_CONFIG=:4096:8" in lines and "export OMP_NUM_THREADS=1" in lines
    assert "export SDL_VIDEODRIVER=dummy" in lines and "export MPLBACKEND=Agg" in lines
    slurm = load_cluster("localslurm")
    assert slurm.site == {"partition": "debug"} and slurm.cpus_per_task == 1


def test_default_is_local() -> None:
    assert load_cluster(None).name == "local"


def test_search_order_env_then_user_then_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_dir, home = tmp_path / "env", tmp_path / "home"
    user_dir = home / ".config" / "orch" / "clusters"
    for folder in (env_dir, user_dir):
        folder.mkdir(parents=True)
    (user_dir / "auxme.yaml").write_text(yaml.safe_dump({"backend": "slurm", "partition": "mine", "account": "me"}))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("ORCH_CLUSTERS", str(env_dir))
    assert load_cluster("auxme").site["partition"] == "mine"  # the user's copy beats the repo's
    (env_dir / "auxme.yaml").write_text(yaml.safe_dump({"backend": "slurm", "partition": "from-env"}))
    assert load_cluster("auxme").site["partition"] == "from-env"  # $ORCH_CLUSTERS beats both
    assert cluster_search_path()[:2] == [env_dir, user_dir]
    assert list_clusters()["auxme"] == env_dir / "auxme.yaml"


def test_path_to_a_profile(weird_tmp_path: Path) -> None:
    path = weird_tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({"backend": "slurm", "partition": "p", "time_min": "1-00:00:00"}))
    profile = load_cluster(str(path))
    assert profile.name == "site" and profile.time_min == 1440 and profile.source == path


def test_set_overrides_and_split() -> None:
    config, cluster = split_cluster_overrides(["a.b=1", "cluster.partition=l40s", "cluster.time_min=30", "x=y"])
    assert config == ["a.b=1", "x=y"] and cluster == {"partition": "l40s", "time_min": 30}
    profile = load_cluster("auxme", cluster)
    assert profile.site["partition"] == "l40s" and profile.time_min == 30


def test_unknown_key_lists_every_valid_key_with_default() -> None:
    with pytest.raises(LaunchError) as info:
        load_cluster("local", {"partiton": "x"})
    message = str(info.value)
    assert "unknown key(s) partiton" in message
    for key, default in valid_keys().items():
        assert f"{key} (default: {default!r})" in message


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ({"cpus_per_task": 0}, "cpus_per_task"),
        ({"backend": "pbs"}, "backend"),
        ({"mem_gb": "lots"}, "mem_gb"),
        ({"time_min": "tomorrow"}, "time_min"),
        ({"modules": "gcc"}, "modules"),
    ],
    ids=["cpus-zero", "bad-backend", "bad-mem", "bad-time", "modules-not-list"],
)
def test_invalid_values_name_the_key(override: dict[str, object], needle: str) -> None:
    with pytest.raises(LaunchError, match=needle):
        load_cluster("localslurm", override)


def test_unknown_profile_lists_known() -> None:
    with pytest.raises(LaunchError, match=r"no cluster profile named 'nowhere' \(known: .*auxme.*local"):
        load_cluster("nowhere")


@pytest.mark.parametrize(
    ("text", "minutes"),
    [(90, 90), ("90", 90), ("30:30", 31), ("24:00:00", 1440), ("1-00", 1440), ("2-01:30", 2970), ("0:0:59", 1)],
)
def test_parse_time_min(text: object, minutes: int) -> None:
    assert parse_time_min(text) == minutes  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "gb"), [(64, 64.0), ("64G", 64.0), ("64GB", 64.0), ("512M", 0.5), ("1T", 1024.0)])
def test_parse_mem_gb(text: object, gb: float) -> None:
    assert parse_mem_gb(text) == gb  # type: ignore[arg-type]


def test_orch_validate_accepts_the_shipped_profiles() -> None:
    from orchestrator.cli import main

    root = Path(__file__).resolve().parents[3] / "configs" / "clusters"
    assert main(["validate", *(str(p) for p in sorted(root.glob("*.yaml")))]) == 0
