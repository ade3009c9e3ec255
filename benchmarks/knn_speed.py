"""Speed and accuracy of :class:`prover.generators.knn.KNNTacticGenerator`.

Run ``python -m benchmarks.knn_speed``. It prints, in one run:

- the per-query latency (mean and percentiles) of :meth:`KNNTacticGenerator.suggest` on an
  index of ``--pairs`` (default 50,000) pairs made from the real LeanDojo steps by replication
  with perturbation (renamed identifiers, shuffled hypotheses), queried with real and perturbed
  states; the target is < 5 ms per query;
- leave-one-theorem-out top-1/top-8 accuracy of the recorded tactic on the real steps (each
  query ignores every pair of its own theorem), for the default configuration, the
  nearest-neighbour-only ``aggregate="max"``, and the most-frequent-tactics baseline computed
  with the same exclusion.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from benchmarks.metrics import percentile
from prover.generators.knn import KNNConfig, KNNTacticGenerator, Step, read_steps

DEFAULT_STEPS = (Path(__file__).resolve().parents[2] / "shared" / "data" / "trajectories"
                 / "leandojo_benchmark4_subset_steps.jsonl")

_IDENT = re.compile(r"[^\W\d][\w'.]*")


def leave_one_theorem_out(generator: KNNTacticGenerator, steps: Sequence[Step],
                          ks: Sequence[int] = (1, 8)) -> dict[int, float]:
    """Fraction of ``steps`` whose recorded tactic is among the top ``k`` candidates for its
    state when the pairs of its own theorem are left out of the index, for each ``k``."""
    hits = Counter[int]()
    top = max(ks)
    for step in steps:
        exclude = (step.theorem,) if step.theorem is not None else ()
        tactics = [c.tactic for c in generator.suggest(step.state, top, exclude_theorems=exclude)]
        for k in ks:
            hits[k] += step.tactic.strip() in tactics[:k]
    return {k: hits[k] / len(steps) for k in ks} if steps else {k: 0.0 for k in ks}


def most_frequent_baseline(index_steps: Sequence[Step], steps: Sequence[Step],
                           ks: Sequence[int] = (1, 8)) -> dict[int, float]:
    """Top-``k`` accuracy on ``steps`` of always proposing the most frequent tactics of
    ``index_steps``, leaving out the query's own theorem like :func:`leave_one_theorem_out`
    (ties to the tactic seen first)."""
    counts = Counter(step.tactic.strip() for step in index_steps)
    first_seen = {tactic: order for order, tactic in enumerate(counts)}
    own: dict[str | None, Counter[str]] = {}
    for step in index_steps:
        own.setdefault(step.theorem, Counter())[step.tactic.strip()] += 1
    top = max(ks)
    hits = Counter[int]()
    cache: dict[str | None, list[str]] = {}
    for step in steps:
        if step.theorem not in cache:
            left = counts - own.get(step.theorem, Counter()) if step.theorem else counts
            cache[step.theorem] = sorted(left, key=lambda t: (-left[t], first_seen[t]))[:top]
        for k in ks:
            hits[k] += step.tactic.strip() in cache[step.theorem][:k]
    return {k: hits[k] / len(steps) for k in ks} if steps else {k: 0.0 for k in ks}


def perturb(state: str, rng: random.Random, copy: int) -> str:
    """A variant of a goal text: some identifiers renamed per copy, hypotheses shuffled."""
    renamed = _IDENT.sub(
        lambda m: f"{m.group()}_{copy}" if rng.random() < 0.3 else m.group(), state)
    goals = []
    for goal in renamed.split("\n\n"):
        lines = goal.split("\n")
        hyps = [line for line in lines if not line.startswith("⊢")]
        rng.shuffle(hyps)
        goals.append("\n".join(hyps + [line for line in lines if line.startswith("⊢")]))
    return "\n\n".join(goals)


def synthetic_pairs(steps: Sequence[Step], n: int, seed: int = 0
                    ) -> tuple[list[tuple[str, str]], list[str]]:
    """``n`` pairs: the real steps, then perturbed copies of them (theorem names suffixed)."""
    rng = random.Random(seed)
    pairs: list[tuple[str, str]] = []
    theorems: list[str] = []
    copy = 0
    while len(pairs) < n:
        for step in steps:
            if len(pairs) >= n:
                break
            state = step.state if copy == 0 else perturb(step.state, rng, copy)
            pairs.append((state, step.tactic))
            theorems.append(f"{step.theorem}#{copy}")
        copy += 1
    return pairs, theorems


def _latency(generator: KNNTacticGenerator, queries: Sequence[str], k: int
             ) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (this thread's) seconds of each query; the CPU figure is what a
    query costs on a machine that other processes also load."""
    for query in queries[:20]:  # warm caches and numpy's first-call paths
        generator.suggest(query, k)
    wall, cpu = [], []
    for query in queries:
        start, start_cpu = time.perf_counter(), time.thread_time()
        generator.suggest(query, k)
        cpu.append(time.thread_time() - start_cpu)
        wall.append(time.perf_counter() - start)
    return wall, cpu


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=Path, default=DEFAULT_STEPS,
                        help="step-record JSONL (LeanDojo state_before/tactic/full_name)")
    parser.add_argument("--pairs", type=int, default=50_000, help="size of the speed index")
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("-k", type=int, default=8, help="candidates per query")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.steps.is_file():
        parser.error(f"step file not found: {args.steps}")

    steps = read_steps(args.steps)
    print(f"steps: {len(steps)} from {args.steps.name}, "
          f"{len({s.theorem for s in steps})} theorems")

    pairs, theorems = synthetic_pairs(steps, args.pairs, args.seed)
    start = time.perf_counter()
    big = KNNTacticGenerator(pairs, theorems=theorems)
    build_s = time.perf_counter() - start
    rng = random.Random(args.seed + 1)
    queries = [rng.choice(steps).state if i % 2 == 0 else rng.choice(pairs)[0]
               for i in range(args.queries)]
    wall, cpu = _latency(big, queries, args.k)
    print(f"speed index: {len(big)} pairs, built in {build_s:.2f} s")
    for name, seconds in (("wall", wall), ("cpu", cpu)):
        ms = [t * 1e3 for t in seconds]
        print(f"per-query {name} time over {len(ms)} queries (k={args.k}): mean "
              f"{statistics.mean(ms):.3f} ms, p50 {percentile(ms, 50):.3f}, "
              f"p95 {percentile(ms, 95):.3f}, p99 {percentile(ms, 99):.3f}, "
              f"max {max(ms):.3f} ms (target < 5 ms)")

    real = KNNTacticGenerator([(s.state, s.tactic) for s in steps],
                              theorems=[s.theorem for s in steps])
    ks = (1, 8)
    rows = [
        ("knn (default: sum over 256)", leave_one_theorem_out(real, steps, ks)),
        ("knn aggregate=max",
         leave_one_theorem_out(KNNTacticGenerator(
             [(s.state, s.tactic) for s in steps], theorems=[s.theorem for s in steps],
             config=replace(KNNConfig(), aggregate="max")), steps, ks)),
        ("most-frequent baseline", most_frequent_baseline(steps, steps, ks)),
    ]
    print(f"leave-one-theorem-out accuracy on {len(steps)} real steps:")
    for name, acc in rows:
        print(f"  {name:<30} top-1 {acc[1]:.2%}  top-8 {acc[8]:.2%}")
    ceiling = seen_elsewhere(steps)
    print(f"  (ceiling: the recorded tactic occurs in another theorem for {ceiling:.2%})")
    return 0


def seen_elsewhere(steps: Sequence[Step]) -> float:
    """Fraction of ``steps`` whose tactic also occurs in another theorem: the ceiling of any
    leave-one-theorem-out accuracy."""
    users: dict[str, set[str | None]] = {}
    for step in steps:
        users.setdefault(step.tactic.strip(), set()).add(step.theorem)
    return sum(bool(users[s.tactic.strip()] - {s.theorem}) for s in steps) / max(1, len(steps))


if __name__ == "__main__":
    raise SystemExit(main())
