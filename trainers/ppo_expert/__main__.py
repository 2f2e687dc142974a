"""``python -m trainers.ppo_expert RUN_DIR [--resume] [--dry-run] [--resolved FILE]``: train one run directly.

What ``orch run`` does in this process, without the launcher: read ``RUN_DIR/resolved.json`` (or ``--resolved``) and
call :func:`trainers.ppo_expert.train.train`. Useful on a compute node to debug a run, and in tests that kill a run
with SIGKILL and resume it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainers.ppo_expert", description=__doc__)
    parser.add_argument("run_dir", type=Path, help="the run directory (created if missing)")
    parser.add_argument("--resolved", type=Path, help="resolved config document (default: RUN_DIR/resolved.json)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest complete checkpoint")
    parser.add_argument("--dry-run", action="store_true", help="one short rollout and one evaluation episode")
    args = parser.parse_args(argv)
    resolved_path = args.resolved or args.run_dir / "resolved.json"
    resolved = json.loads(resolved_path.read_text(encoding="utf-8"))
    args.run_dir.mkdir(parents=True, exist_ok=True)

    from trainers.common.job import TrainJob
    from trainers.ppo_expert.train import train

    train(TrainJob(resolved=resolved, run_dir=args.run_dir, resume=args.resume, dry_run=args.dry_run))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
