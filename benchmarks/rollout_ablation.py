"""Rollout ablation: one suite with goal-aware rollouts off and on (depth 2, 4, 8), equal budget.

Every configuration runs the same theorems with the same :class:`SearchConfig`; rollout steps
draw on the same generator-call budget as expansions (``max_expansions`` counts both), so the
columns compare what each configuration bought with it. Output is a Markdown table: proved
count, generator calls and environment calls in all and per proof found, rollouts and proofs
whose last step came from a rollout.

Suites:

- ``leandojo-replay`` (default): a replay trace built from the LeanDojo Benchmark 4 step records
  in ``../shared/data`` (:func:`leandojo_replay_records`). Non-linear proofs are rebuilt into
  full multi-goal states with :func:`rollout.segments.load_trajectories`, so ``by_cases`` /
  ``cases`` proofs have real segment boundaries (the raw records would leave every multi-goal
  state without a recorded tactic). A replay trace holds only the recorded proof, so a search
  tree is a single path plus failed tactics: the table shows what rollouts cost and save, not
  whether they find proofs a wider search would miss.
- ``coq-stdlib[:SPLIT]``: held-out Coq standard-library lemmas on a real ``coqidetop``
  (``benchmarks.coq_suite.load_coq_suite`` and ``prover.backends.coq.CoqEnvironment``).
- ``coq-file:REL.v[,REL.v...]``: every lemma with a ``Proof. ... Qed.`` in the named
  standard-library files, on ``coqidetop`` (a stand-in for ``coq-stdlib``).
- a trace file (DESIGN.md format), replayed.

Generators (``--generator``):

- ``oracle`` (replay only): the recorded tactic of the state, at a rank drawn from a geometric
  distribution (``--oracle-p``) among the k-NN's suggestions, or missing with probability
  ``--oracle-miss``; seeded per state, so every configuration sees the same candidates.
- ``knn``: :class:`~prover.generators.knn.KNNTacticGenerator` over the suite's steps (LeanDojo
  records; Coq step records given with ``--knn-steps``), leaving the searched theorem out.
- ``fixed``: a fixed list of generic tactics (``--tactics FILE``, or a built-in Coq list).

Run: ``python -m benchmarks.rollout_ablation [--suite ...] [--limit N] [--out table.md]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import random
import sys
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

from prover.backends.replay import ReplayEnvironment
from prover.config import SearchConfig, SearchResult
from prover.env import Environment
from prover.errors import ConfigError
from prover.generators.base import TacticGenerator, merge_candidates
from prover.generators.fixed import FixedTacticGenerator
from prover.search import BestFirstSearch
from prover.traces import TraceRecord, read_trace, split_lean_goals
from prover.trajectories import load_trajectories
from prover.types import Candidate, ProofState, Theorem
from rollout.config import RolloutConfig

log = logging.getLogger(__name__)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
LEANDOJO_STEPS = SHARED_DATA / "trajectories" / "leandojo_benchmark4_subset_steps.jsonl"

COQ_TACTICS: tuple[str, ...] = (
    "intros.", "auto.", "reflexivity.", "simpl.", "split.", "discriminate.", "destruct b.",
    "destruct a.", "easy.", "tauto.", "intuition.", "congruence.", "lia.", "trivial.",
    "induction n.", "constructor.", "assumption.", "firstorder.",
)
"""Generic Coq tactics for the ``fixed`` generator on ``coq-stdlib`` (no learned policy)."""


# ---- suites ---------------------------------------------------------------------------------
def leandojo_replay_records(path: str | Path = LEANDOJO_STEPS) -> list[TraceRecord]:
    """A replay trace of the LeanDojo step records: one root and one transition per step.

    Proofs are rebuilt with ``load_trajectories(..., nonlinear="reconstruct")``; proofs with a
    step on a goal other than the first (``reordered``) are left out, since their next recorded
    state is not the state the previous step left.
    """
    loaded = load_trajectories(path, "leandojo", nonlinear="reconstruct")
    records: list[TraceRecord] = []
    for trajectory in loaded.trajectories:
        if any(step.reordered for step in trajectory.steps):
            continue
        steps = trajectory.steps
        first = steps[0].state
        records.append(TraceRecord(trajectory.theorem, first, None, "state",
                                   split_lean_goals(first)))
        for index, step in enumerate(steps):
            if index + 1 < len(steps):
                after = steps[index + 1].state
                records.append(TraceRecord(trajectory.theorem, step.state, step.tactic, "state",
                                           split_lean_goals(after)))
            else:
                records.append(TraceRecord(trajectory.theorem, step.state, step.tactic,
                                           "proved"))
    return records


class NoisyOracle:
    """The recorded tactic among k-NN distractors, at a seeded random rank (replay suites).

    For a state with a recorded tactic ``t``: with probability ``miss`` the candidates are the
    distractors only; otherwise ``t`` is placed at rank ``r`` (``P(r) = p (1-p)^r``, capped at
    ``k - 1``). The logprobs are the distractors' own, in rank order, so ``t`` takes the logprob
    of the rank it lands on. The draw depends on the state and ``seed`` only.
    """

    def __init__(self, truth: Mapping[str, str], distractors: TacticGenerator, *,
                 p: float = 0.5, miss: float = 0.1, seed: int = 0) -> None:
        if not 0 < p <= 1 or not 0 <= miss <= 1:
            raise ConfigError(f"oracle p must be in (0, 1] and miss in [0, 1], got {p}, {miss}")
        self.truth = truth
        self.distractors = distractors
        self.p = p
        self.miss = miss
        self.seed = seed

    async def propose(self, state: ProofState, k: int) -> list[Candidate]:
        true = self.truth.get(state.key)
        pool = [c for c in await self.distractors.propose(state, k + 1) if c.tactic != true]
        rng = random.Random(zlib.crc32(f"{self.seed}\x00{state.key}".encode()))
        if true is None or rng.random() < self.miss:
            return pool[:k]
        rank = 0
        while rank < k - 1 and rng.random() >= self.p:
            rank += 1
        rank = min(rank, len(pool))
        logprobs = sorted((c.logprob for c in pool), reverse=True)
        logprobs += [(logprobs[-1] if logprobs else 0.0) - 1.0 - i
                     for i in range(k + 1 - len(logprobs))]
        tactics = [c.tactic for c in pool]
        tactics.insert(rank, true)
        return merge_candidates([Candidate(t, lp) for t, lp in zip(tactics, logprobs)], k)


@dataclass
class Suite:
    """The theorems of one ablation run and how to search them."""

    name: str
    theorems: list[Theorem]
    env_factory: Callable[[], Environment]
    generator_for: Callable[[Theorem], TacticGenerator]
    concurrency: int = 1


def _knn_from(records: Sequence[TraceRecord] | None, steps: str | None) -> Any:
    from prover.generators.knn import KNNTacticGenerator

    if steps is not None:
        return KNNTacticGenerator.from_steps(steps)
    assert records is not None
    return KNNTacticGenerator.from_traces(list(records))


def replay_suite(records: list[TraceRecord], name: str, args: argparse.Namespace) -> Suite:
    """A replay suite over ``records`` with the generator ``args.generator``."""
    theorems = ReplayEnvironment(records).theorems()
    if args.generator == "fixed":
        fixed = _fixed(args.tactics, ())
        return Suite(name, theorems, lambda: ReplayEnvironment(records), lambda t: fixed)
    knn = _knn_from(records, args.knn_steps)
    truth: dict[str, str] = {}
    for record in records:
        if record.tactic is not None and record.outcome in ("state", "proved"):
            truth.setdefault(record.state, record.tactic)

    def generator_for(theorem: Theorem) -> TacticGenerator:
        own = knn.excluding({theorem.name})  # leave the theorem's own proof out
        if args.generator == "knn":
            return cast(TacticGenerator, own)
        return NoisyOracle(truth, own, p=args.oracle_p, miss=args.oracle_miss, seed=args.seed)

    return Suite(name, theorems, lambda: ReplayEnvironment(records), generator_for)


def coq_suite(split: str, args: argparse.Namespace) -> Suite:
    """Coq standard-library lemmas on ``coqidetop`` (needs the Coq backend and suite modules)."""
    try:
        from benchmarks.coq_suite import load_coq_suite
    except ImportError as exc:
        raise ConfigError(f"--suite coq-stdlib needs benchmarks.coq_suite ({exc}); "
                          f"coq-file:REL.v is a stand-in") from exc
    return coq_suite_from(list(load_coq_suite(split=split)), f"coq-stdlib:{split}", args)


def coq_suite_from(theorems: list[Theorem], name: str, args: argparse.Namespace) -> Suite:
    """A suite of Coq theorems searched on :class:`CoqEnvironment` with ``args.generator``."""
    from prover.backends.coq import CoqEnvironment

    if args.generator == "oracle":
        raise ConfigError("the oracle generator needs a replay suite; use knn or fixed")
    if args.generator == "knn":
        if args.knn_steps is None:
            raise ConfigError("--generator knn on coq-stdlib needs --knn-steps (Coq step "
                              "records, e.g. from `seg-prover coq extract`)")
        if (Path(args.knn_steps) / "files").is_dir():
            # a `seg-prover coq extract` directory: index only the suite's index files, so no
            # held-out lemma's human proof is in the index
            from benchmarks.coq_suite import index_records

            knn = _knn_from(index_records(args.knn_steps), None)
        else:
            knn = _knn_from(None, args.knn_steps)

        def generator_for(theorem: Theorem) -> TacticGenerator:
            return cast(TacticGenerator, knn.excluding({theorem.name}))
    else:
        fixed = _fixed(args.tactics, COQ_TACTICS)

        def generator_for(theorem: Theorem) -> TacticGenerator:
            return fixed

    return Suite(name, theorems,
                 lambda: CoqEnvironment(tactic_timeout_s=args.tactic_timeout or 2.0),
                 generator_for, concurrency=2)


def coq_file_suite(files: str, args: argparse.Namespace) -> Suite:
    """Lemmas of standard-library files (``Bool/Bool.v,Lists/List.v``, relative to
    ``$(coqc -where)/theories``) on ``coqidetop``: a stand-in until ``coq-stdlib`` exists."""
    from prover.backends.coq import stdlib_theories
    from prover.backends.coq_sources import extract_lemmas

    theorems: list[Theorem] = []
    for rel in files.split(","):
        path = stdlib_theories() / rel.strip()
        if not path.is_file():
            raise ConfigError(f"no standard-library file {path}")
        lemmas = extract_lemmas(path.read_text(encoding="utf-8"), str(path)).lemmas
        theorems += [lemma.theorem() for lemma in lemmas]
    return coq_suite_from(theorems, f"coq-file:{files}", args)


def _fixed(path: str | None, default: Sequence[str]) -> FixedTacticGenerator:
    if path is not None:
        return FixedTacticGenerator.from_file(path)
    if not default:
        raise ConfigError("--generator fixed needs --tactics FILE")
    # descending logprobs keep the list's order as the generator's ranking
    return FixedTacticGenerator([(t, -0.1 * i) for i, t in enumerate(default)])


def load_suite(args: argparse.Namespace) -> Suite:
    spec: str = args.suite
    if spec == "leandojo-replay":
        if not LEANDOJO_STEPS.is_file():
            raise ConfigError(f"leandojo-replay needs {LEANDOJO_STEPS} (../shared/data)")
        suite = replay_suite(leandojo_replay_records(LEANDOJO_STEPS), spec, args)
    elif spec.split(":", 1)[0] == "coq-stdlib":
        suite = coq_suite(spec.partition(":")[2] or "test", args)
    elif spec.startswith("coq-file:"):
        suite = coq_file_suite(spec.partition(":")[2], args)
    elif Path(spec).is_file():
        suite = replay_suite(read_trace(spec), Path(spec).name, args)
    else:
        raise ConfigError(f"unknown suite {spec!r}: leandojo-replay, coq-stdlib[:SPLIT] or a "
                          f"trace file")
    if args.limit is not None:
        rng = random.Random(args.seed)  # a fixed sample, the same for every configuration
        chosen = sorted(rng.sample(range(len(suite.theorems)),
                                   min(args.limit, len(suite.theorems))))
        suite.theorems = [suite.theorems[i] for i in chosen]
    return suite


# ---- running --------------------------------------------------------------------------------
@dataclass(frozen=True)
class AblationRow:
    """Totals of one configuration over the suite."""

    label: str
    theorems: int
    proved: int
    errors: int
    generator_calls: int
    env_calls: int
    expansions: int
    rollouts: int
    rollout_steps: int
    rollout_generator_calls: int
    rollout_proofs: int
    wall_s: float

    def per_proof(self, total: int) -> float:
        return total / self.proved if self.proved else math.inf


async def run_config(suite: Suite, label: str, config: SearchConfig,
                     rollout: RolloutConfig | None) -> tuple[AblationRow, list[SearchResult]]:
    """Search every theorem of ``suite`` with one configuration."""
    env = suite.env_factory()
    gate = asyncio.Semaphore(suite.concurrency)
    started = time.monotonic()

    async def one(theorem: Theorem) -> SearchResult:
        async with gate:
            search = BestFirstSearch(env, suite.generator_for(theorem), config=config,
                                     rollout=rollout)
            result = await search.search(theorem)
            if result.tree is not None:
                result.tree.check_invariants()
            return result

    try:
        results = list(await asyncio.gather(*(one(t) for t in suite.theorems)))
    finally:
        await env.close()
    wall = time.monotonic() - started

    def total(name: str) -> int:
        return sum(int(getattr(r.stats, name)) for r in results)

    over = [r.theorem for r in results if r.stats.generator_calls > config.max_expansions]
    if over:  # the budget is the point of the comparison: never report a run that broke it
        raise AssertionError(f"{label}: generator budget exceeded on {over[:5]}")
    row = AblationRow(label, len(results), sum(r.proved for r in results),
                      sum(r.status == "error" for r in results), total("generator_calls"),
                      total("env_calls"), total("expansions"), total("rollouts"),
                      total("rollout_steps"), total("rollout_generator_calls"),
                      total("rollout_proofs"), wall)
    return row, results


def markdown_table(rows: Sequence[AblationRow]) -> str:
    """The ablation as a Markdown table."""
    head = ("| rollouts | proved | gen calls | env calls | gen calls / proof | "
            "env calls / proof | rollouts run | rollout steps | rollout gen calls | "
            "rollout proofs | wall s |")
    lines = [head, "|" + "|".join("---" for _ in range(head.count("|") - 1)) + "|"]
    for r in rows:
        lines.append(
            f"| {r.label} | {r.proved}/{r.theorems} | {r.generator_calls} | {r.env_calls} | "
            f"{_num(r.per_proof(r.generator_calls))} | {_num(r.per_proof(r.env_calls))} | "
            f"{r.rollouts} | {r.rollout_steps} | {r.rollout_generator_calls} | "
            f"{r.rollout_proofs} | {r.wall_s:.1f} |")
    return "\n".join(lines)


def _num(value: float) -> str:
    return "n/a" if math.isinf(value) else f"{value:.1f}"


async def ablation(suite: Suite, config: SearchConfig, depths: Sequence[int],
                   rollout_base: Mapping[str, Any]) -> list[AblationRow]:
    """Rollouts off, then on at each depth, on the same suite and budget."""
    rows = []
    settings: list[tuple[str, RolloutConfig | None]] = [("off", None)]
    settings += [(f"depth {d}", RolloutConfig(depth=d, **rollout_base)) for d in depths]
    for label, rollout in settings:
        row, _ = await run_config(suite, label, config, rollout)
        log.info("%s: proved %d/%d", label, row.proved, row.theorems)
        rows.append(row)
    return rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rollout_ablation",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="leandojo-replay",
                        help="leandojo-replay | coq-stdlib[:SPLIT] | coq-file:REL.v[,...] | "
                             "TRACE.jsonl")
    parser.add_argument("--generator", choices=("oracle", "knn", "fixed"), default=None,
                        help="default: oracle on replay suites, fixed on coq-stdlib")
    parser.add_argument("--knn-steps", default=None,
                        help="step records for the k-NN index, or a 'seg-prover coq extract' "
                             "directory (its index split)")
    parser.add_argument("--tactics", default=None, help="tactic list for --generator fixed")
    parser.add_argument("--oracle-p", type=float, default=0.5)
    parser.add_argument("--oracle-miss", type=float, default=0.1)
    parser.add_argument("--limit", type=int, default=None, help="a seeded sample of N theorems")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--depths", default="2,4,8")
    parser.add_argument("--probes", type=int, default=1)
    parser.add_argument("--mode", choices=("greedy", "sample"), default="greedy")
    parser.add_argument("--budget-share", type=float, default=0.5)
    parser.add_argument("--num-candidates", type=int, default=8)
    parser.add_argument("--max-expansions", type=int, default=16)
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per theorem")
    parser.add_argument("--tactic-timeout", type=float, default=None)
    parser.add_argument("--out", default=None, help="also write the table (and JSON) here")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.generator is None:
        args.generator = "fixed" if args.suite.startswith("coq-") else "oracle"
    try:
        depths = [int(d) for d in args.depths.split(",") if d.strip()]
        suite = load_suite(args)
        config = SearchConfig(num_candidates=args.num_candidates,
                              max_expansions=args.max_expansions, time_limit_s=args.time_limit,
                              tactic_timeout_s=args.tactic_timeout)
        base = {"probes": args.probes, "mode": args.mode, "budget_share": args.budget_share,
                "seed": args.seed}
        rows = asyncio.run(ablation(suite, config, depths, base))
    except (ConfigError, ValueError) as exc:
        print(f"rollout_ablation: error: {exc}", file=sys.stderr)
        return 2
    header = (f"Suite `{suite.name}` ({len(suite.theorems)} theorems), generator "
              f"`{args.generator}`, {args.num_candidates} candidates, budget "
              f"{args.max_expansions} generator calls per theorem (rollouts included, "
              f"budget_share {args.budget_share}), {args.mode} rollouts, {args.probes} probe(s).")
    table = markdown_table(rows)
    print(header + "\n\n" + table)
    if args.out:
        out = Path(args.out)
        out.write_text(header + "\n\n" + table + "\n", encoding="utf-8")
        out.with_suffix(".json").write_text(json.dumps(
            {"args": vars(args), "rows": [asdict(r) for r in rows]}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
