"""DreamerV3 learner speed at reference config R (issue 5); prints ONE JSON object.

python bench/dreamer_speed.py                 # R, 5 timed updates, 2 threads, fp32 and bf16 autocast side by side
python bench/dreamer_speed.py --size XS --updates 10
python bench/dreamer_speed.py --precision fp32 --no-flops     # one precision only (what dreamer_vs_sheeprl.py runs)
python bench/dreamer_speed.py --size S --device cuda --replay-on-device --no-flops --cuda-graph   # on a GPU node

Prints updates_per_s and fraction_of_measured_peak (fp32 at R), the bf16 figures beside them (bf16_updates_per_s,
"bf16": {...}) and the per-round rates.
"""

from __future__ import annotations

import os

# Sleep, not spin, while waiting for the other OpenMP thread: on a shared machine spinning threads wait on each other
# at every small op (measured 10x slower at R with 2 threads on 2 busy cores). Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json

from trainers.dreamerv3.bench import bench_settings, benchmark, fp32_and_bf16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default=None, help="paper size XS|S|M|L|XL instead of R")
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-flops", action="store_true")
    parser.add_argument("--precision", choices=("both", "fp32", "bf16"), default="both")
    parser.add_argument("--rounds", type=int, default=1, help="alternate fp32 and bf16 this many times (both)")
    parser.add_argument("--gru-blocks", type=int, default=None, help="block-diagonal GRU (an option, not R)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="R is timed on the CPU")
    parser.add_argument("--replay-on-device", action="store_true", help="replay_on_device: batches gathered there")
    parser.add_argument("--cuda-graph", action="store_true", help="cuda_graph: the update captured and replayed")
    args = parser.parse_args()
    settings = bench_settings(args.size)
    settings.update(device=args.device, replay_on_device=args.replay_on_device, cuda_graph=args.cuda_graph)
    if args.gru_blocks:
        settings["model"] = {**settings["model"], "gru_blocks": args.gru_blocks}
    kwargs = {"updates": args.updates, "warmup": args.warmup, "threads": args.threads, "flops": not args.no_flops}
    if args.precision == "both":
        result = fp32_and_bf16(settings, rounds=args.rounds, **kwargs)
    else:
        result = benchmark({**settings, "precision": args.precision}, **kwargs)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
