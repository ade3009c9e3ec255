"""Speed of Coq sentence splitting and the tactic check on large inputs.

Run ``python -m benchmarks.coq_sentences``. For each size (8 KB, 32 KB, 400 KB by default) and
shape of text it times :func:`~prover.backends.coq_sources.split_sentences` and
:func:`~prover.backends.coq_sources.check_tactic` (best of ``--repeat``) and prints the load
average beside them. Once one call takes longer than ``--max-seconds``, larger sizes of that
shape are skipped (the quadratic version took 6-16 s at 32 KB and minutes at 400 KB).
The imports are the ones every version of the backend has, so the same command measures an
older checkout (``PYTHONPATH=OLD python -m benchmarks.coq_sentences``).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Iterator, Sequence

from prover.backends.coq_sources import check_tactic, split_sentences

SHAPES: dict[str, Callable[[int], str]] = {
    "one sentence": lambda n: ("simpl; " * (n // 7 + 1))[:n - 1] + ".",
    "short sentences": lambda n: ("auto. " * (n // 6 + 1))[:n],
    "string": lambda n: 'idtac "' + "y" * (n - 10) + '".',
}


def _best(function: Callable[[str], object], text: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        try:
            function(text)
        except ValueError:
            pass  # several sentences: refused, after the same scan
        best = min(best, time.perf_counter() - began)
    return best


def run(sizes: Sequence[int], repeat: int, max_seconds: float) -> Iterator[dict[str, object]]:
    """Timings per shape and size (seconds), as measured; ``None`` where a smaller size of the
    same shape ran too long."""
    for shape, make in SHAPES.items():
        slow = False
        for size in sizes:
            row: dict[str, object] = {"shape": shape, "chars": size, "split_s": None,
                                      "check_s": None, "load": os.getloadavg()[0]}
            if not slow:
                text = make(size)
                split_s = _best(split_sentences, text, repeat)
                check_s = _best(check_tactic, text, repeat)
                row.update(split_s=split_s, check_s=check_s)
                slow = max(split_s, check_s) > max_seconds
            yield row


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.coq_sentences",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="8000,32000,400000",
                        help="comma-separated text sizes in characters")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'shape':16} {'chars':>8} {'split ms':>10} {'check ms':>10} {'load 1m':>8}")
    for row in run(sizes, args.repeat, args.max_seconds):
        split, check = row["split_s"], row["check_s"]
        shown = [f"{1000 * v:10.1f}" if isinstance(v, float) else f"{'skipped':>10}"
                 for v in (split, check)]
        print(f"{row['shape']:16} {row['chars']:>8} {shown[0]} {shown[1]} {row['load']:8.2f}",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
