"""Our DreamerV3 update against SheepRL 0.8.4's at reference config R, side by side in one run; prints ONE JSON object.

    python -m venv .venv-sheeprl && .venv-sheeprl/bin/pip install torch==2.13.0 sheeprl==0.8.4   # once
    python bench/dreamer_vs_sheeprl.py                   # 2 rounds, 3 timed updates each, 2 threads
    python bench/dreamer_vs_sheeprl.py --rounds 3 --updates 5 --sheeprl-python /path/to/venv/bin/python

Each round runs, back to back and each in a fresh process: ours in fp32, SheepRL in fp32 (Fabric ``32-true``), ours
with bf16 autocast, SheepRL with Fabric ``bf16-mixed``. A shared machine's load then falls on both alike; the ratio
is taken per round and its median reported, with every round's rates. SheepRL runs in its own venv (its pins are not
ours); when that venv or SheepRL 0.8.4 in it is missing, the result is ``{"skipped": reason}`` (exit code 0).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHEEPRL_VERSION = "0.8.4"
DEFAULT_SHEEPRL_PYTHON = ROOT / ".venv-sheeprl" / "bin" / "python"


def _json_line(cmd: list[str], timeout: float) -> dict[str, Any]:
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed ({proc.returncode}): {proc.stderr[-1500:]}")
    return dict(json.loads(lines[-1]))


def sheeprl_problem(python: Path) -> str | None:
    """Why SheepRL cannot be timed here, or None."""
    if not python.is_file():
        return f"no SheepRL venv at {python.parent.parent} (create it: see this script's docstring)"
    probe = [str(python), "-c", "import sheeprl; print(sheeprl.__version__)"]
    try:
        proc = subprocess.run(probe, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{python} does not run: {exc}"
    version = proc.stdout.strip()
    if proc.returncode != 0:
        return f"sheeprl does not import in {python}: {proc.stderr.strip().splitlines()[-1:]}"
    if version != SHEEPRL_VERSION:
        return f"sheeprl {version} in {python}, this benchmark is for {SHEEPRL_VERSION}"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--updates", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sheeprl-python", type=Path, default=DEFAULT_SHEEPRL_PYTHON)
    parser.add_argument("--no-bf16", action="store_true", help="fp32 only")
    args = parser.parse_args()
    problem = sheeprl_problem(args.sheeprl_python)
    if problem:
        print(json.dumps({"skipped": problem}))
        return
    common = ["--updates", str(args.updates), "--threads", str(args.threads)]
    ours = [sys.executable, str(HERE / "dreamer_speed.py"), "--no-flops", *common]
    theirs = [str(args.sheeprl_python), str(HERE / "_sheeprl_update.py"), *common]
    pairs = {"fp32": ("fp32", "32-true")} | ({} if args.no_bf16 else {"bf16": ("bf16", "bf16-mixed")})
    timeout = 120.0 + 60.0 * args.updates
    rounds: list[dict[str, Any]] = []
    for _ in range(args.rounds):
        row: dict[str, Any] = {}
        for name, (ours_precision, fabric_precision) in pairs.items():
            mine = _json_line([*ours, "--precision", ours_precision], timeout)
            other = _json_line([*theirs, "--precision", fabric_precision], timeout)
            row[name] = {
                "ours_updates_per_s": mine["updates_per_s"],
                "sheeprl_updates_per_s": other["updates_per_s"],
                "ratio": mine["updates_per_s"] / other["updates_per_s"],
                "load_average": mine.get("load_average"),
            }
        rounds.append(row)
    result: dict[str, Any] = {"config": "R (trainers/dreamerv3/bench.py REFERENCE_R)", "threads": args.threads}
    for name in pairs:
        per_round = [r[name] for r in rounds]
        result[name] = {
            "ours_updates_per_s": statistics.median(r["ours_updates_per_s"] for r in per_round),
            "sheeprl_updates_per_s": statistics.median(r["sheeprl_updates_per_s"] for r in per_round),
            "ratio": statistics.median(r["ratio"] for r in per_round),
        }
    result["ours_updates_per_s"] = result["fp32"]["ours_updates_per_s"]
    result["sheeprl_updates_per_s"] = result["fp32"]["sheeprl_updates_per_s"]
    result["ratio"] = result["fp32"]["ratio"]
    if "bf16" in result:  # our best CPU setting against SheepRL's default (fp32) setting
        result["ratio_ours_bf16_to_sheeprl_fp32"] = statistics.median(
            r["bf16"]["ours_updates_per_s"] / r["fp32"]["sheeprl_updates_per_s"] for r in rounds
        )
    result["rounds"] = rounds
    result["sheeprl_version"] = SHEEPRL_VERSION
    print(json.dumps(result))


if __name__ == "__main__":
    main()
