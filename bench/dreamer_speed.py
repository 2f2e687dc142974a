"""DreamerV3 learner speed at reference config R (issue 5); prints ONE JSON object.

python bench/dreamer_speed.py                 # R, 5 timed updates, 2 threads
python bench/dreamer_speed.py --size XS --updates 10
"""

from __future__ import annotations

import os

# Sleep, not spin, while waiting for the other OpenMP thread: on a shared machine spinning threads wait on each other
# at every small op (measured 10x slower at R with 2 threads on 2 busy cores). Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json

from trainers.dreamerv3.bench import bench_settings, benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default=None, help="paper size XS|S|M|L|XL instead of R")
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-flops", action="store_true")
    args = parser.parse_args()
    result = benchmark(
        bench_settings(args.size),
        updates=args.updates,
        warmup=args.warmup,
        threads=args.threads,
        flops=not args.no_flops,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
