"""``seg-prover segments IN... OUT``: write segment / step / whole-proof SFT pairs."""

from __future__ import annotations

import json
from typing import Any

from prover.trajectories import add_trajectory_arguments, trajectory_options
from rollout.segments.dataset import build_segment_dataset
from rollout.segments.segmentation import GRANULARITIES


def register(subparsers: Any) -> None:
    """Add ``seg-prover segments IN... OUT``."""
    parser = subparsers.add_parser(
        "segments", help="write segment / step / whole-proof SFT pairs from trajectories",
        description="Cut proof trajectories at open-goal-count changes and write SFT pairs "
                    "(JSONL: input, output, theorem, start, end, ...).")
    add_trajectory_arguments(parser)
    parser.add_argument("--granularity", choices=GRANULARITIES, default="segment",
                        help="unit of each pair: one step, a segment, or the whole proof "
                             "(default: segment)")
    parser.add_argument("--max-len", type=int, default=None,
                        help="cut segments longer than this many tactics")
    parser.add_argument("--merge-singletons", action="store_true",
                        help="join length-1 segments to their neighbour")
    parser.add_argument("--json", action="store_true", help="print the stats as JSON")
    parser.set_defaults(func=_cmd_segments)


def _cmd_segments(args: Any) -> int:
    stats = build_segment_dataset(
        list(args.inputs), args.out, args.granularity, max_len=args.max_len,
        merge_singletons=args.merge_singletons, **trajectory_options(args))
    if args.json:
        print(json.dumps(stats.to_dict(), indent=1))
        return 0
    formats = ", ".join(f"{k}: {v}" for k, v in sorted(stats.formats.items()))
    print(f"{stats.files} file(s) ({formats}) -> {args.out}")
    print(f"granularity {stats.granularity}: {stats.pairs} pairs from {stats.trajectories} "
          f"trajectories, {stats.steps} tactics, mean length {stats.mean_length:.2f}")
    if stats.skipped:
        print("skipped theorems: " + ", ".join(f"{k} {v}" for k, v in
                                               sorted(stats.skipped.items())))
    if stats.unsplittable:
        print(f"warning: {stats.unsplittable} outputs do not split back into their tactics")
    print("length  pairs")
    top = max(stats.histogram.values(), default=0)
    for length, count in sorted(stats.histogram.items()):
        bar = "#" * max(1, round(40 * count / top)) if top else ""
        print(f"{length:>6}  {count:>5}  {bar}")
    return 0 if stats.pairs else 1


__all__ = ["register"]
