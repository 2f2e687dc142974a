"""Every trainer config whose files are present dry-runs on the robot_sf backend (PPO and Dreamer), in-process.

``--set env.backend=robot_sf`` switches a config to Robot SF itself; ``device=cpu`` keeps GPU configs runnable on a
CPU machine, PPO's envs run in-process and Dreamer's learner is shrunk (XS, short batches) so the suite stays fast:
the env side is what is tested here. Skips, saying why, where Robot SF is not installed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from orchestrator.cli import main
from tests.conftest import REFERENCE
from trainers.envs.robot_sf import robot_sf_available

pytestmark = pytest.mark.skipif(
    not robot_sf_available(), reason="Robot SF is not installed (../shared/vendor/install-robot-sf.sh installs it)"
)
REPO = Path(__file__).resolve().parents[3]


def _load(path: Path) -> dict:
    """The config with its ``base_config`` chain merged in (only the keys this test reads)."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if doc.get("base_config"):
        base = _load(path.parent / doc["base_config"]) if (path.parent / doc["base_config"]).is_file() else {}
        doc = {**base, **doc, "env": {**(base.get("env") or {}), **(doc.get("env") or {})}}
        doc["_matrix_base"] = path.parent / doc["base_config"]
    return doc


def _crowdnav_configs() -> list[Path]:
    """Shipped and shared trainer configs on the crowd-nav env whose files (base config, scenario matrix) exist."""
    shipped = [p for kind in ("ppo_expert", "dreamerv3") for p in sorted((REPO / "configs" / kind).glob("*.yaml"))]
    shared = sorted((REFERENCE / "configs" / "training").rglob("*.yaml")) if REFERENCE.is_dir() else []
    keep = []
    for path in shipped + shared:
        doc = _load(path)
        env = doc.get("env") or {}
        if env.get("id", "crowdnav") != "crowdnav":
            continue  # a Gymnasium task
        if doc.get("base_config") and not (path.parent / doc["base_config"]).is_file():
            continue
        matrix = doc.get("scenario_config") or env.get("scenario_config")
        folder = Path(doc.get("_matrix_base", path)).parent
        if matrix and not (folder / matrix).is_file():
            continue  # the lab's matrix is not in the shared folder: orch validate names the missing file
        keep.append(path)
    return keep


CONFIGS = _crowdnav_configs()


@pytest.mark.parametrize("path", CONFIGS, ids=[f"{p.parent.name}/{p.name}" for p in CONFIGS])
def test_dry_run_on_robot_sf(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", str(path), "--dry-run", "--set", "env.backend=robot_sf", "--set", "device=cpu"]
    if path.parent == REPO / "configs" / "ppo_expert":  # in-process envs share this process's numba compile
        args += ["--set", "worker_mode=dummy"]
    if path.parent == REPO / "configs" / "dreamerv3":  # (the lab's RLlib-form config is XS already)
        args += ["--set", "model_size=XS", "--set", "batch_size=2", "--set", "batch_length=8"]
    code = main(args)
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    run_dir = Path(out.strip().splitlines()[-1].rsplit("-> ", 1)[1])
    resolved = json.loads((run_dir / "resolved.json").read_text(encoding="utf-8"))
    assert json.dumps(resolved).count('"backend": "robot_sf"') >= 1
    assert (run_dir / "run.json").exists()
