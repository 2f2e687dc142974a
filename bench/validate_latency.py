"""Wall time of `orch validate` on one config, as a user sees it (a fresh process each time).

Prints one JSON object: ``validate_wall_s`` is the median of ``--runs`` subprocess runs (target here: < 0.5 s).
Usage: ``python bench/validate_latency.py [--runs 7] [--config configs/ppo_expert/grid_socnav_smoke.yaml]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "configs" / "ppo_expert" / "grid_socnav_smoke.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    args = parser.parse_args()
    orch = shutil.which("orch")
    command = [orch] if orch else [sys.executable, "-m", "orchestrator.cli"]
    command += ["validate", str(args.config)]
    subprocess.run(command, capture_output=True, check=False)  # warm the file cache and .pyc files
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"orch validate failed ({proc.returncode}): {proc.stderr}")
    print(
        json.dumps(
            {
                "validate_wall_s": round(statistics.median(times), 4),
                "min_s": round(min(times), 4),
                "max_s": round(max(times), 4),
                "runs": args.runs,
                "config": str(args.config.relative_to(REPO) if args.config.is_relative_to(REPO) else args.config),
                "command": " ".join(Path(command[0]).name if i == 0 else c for i, c in enumerate(command[:2])),
            }
        )
    )


if __name__ == "__main__":
    main()
