"""``seg-prover demo``: a real best-first search in Coq, with rollouts, on a few stdlib lemmas.

1. The index: the human proofs of a few index files of the ``coq-stdlib`` suite are replayed
   into trajectories (``seg-prover coq extract``, cached under
   ``$XDG_CACHE_HOME/seg-prover/coq-demo``, so a second run starts at once), or those of a full
   extraction passed with ``--coq-index DIR``.
2. The search: best-first search with :class:`~prover.generators.knn.KNNTacticGenerator` over
   that index and goal-aware rollouts (:class:`~rollout.config.RolloutConfig` defaults, fired
   by :class:`~rollout.trigger.GoalCountTrigger` where a tactic changes the open-goal count), on
   :data:`DEMO_LEMMAS`: small lemmas about stdlib lists and naturals, stated here, that no
   single recorded tactic closes, so the search has to combine several (``split.`` then a proof
   of each half, ``intros.`` then ``apply in_or_app.`` then ``tauto.``). Each proof is checked by
   ``verify`` in a fresh ``coqidetop`` (``Qed`` and ``Print Assumptions``).
3. The view: each search tree is written as an HTML page (:mod:`prover.view`) under
   :func:`demo_view_dir`, with an index page.

Without ``coqidetop.opt`` on PATH the CLI falls back to the replay demo (``demo --replay``).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from benchmarks.coq_suite import index_records, knn_for, load_manifest
from prover.backends.coq import CoqConfig, CoqEnvironment, stdlib_theories
from prover.backends.coq_extract import extract_tree
from prover.cli import progress_wanted
from prover.config import SearchConfig, SearchResult
from prover.search import BestFirstSearch
from prover.types import Theorem
from prover.view.html import IndexEntry, render_index, write_page
from prover.view.tree_json import TreeDoc, doc_from_tree
from rollout.config import RolloutConfig

DEMO_INDEX_FILES: tuple[str, ...] = (
    "Arith/PeanoNat.v", "Arith/Compare_dec.v", "Arith/Between.v", "Bool/Bool.v",
    "Lists/List.v", "Init/Logic.v", "Init/Peano.v", "Logic/Decidable.v",
)
"""Index files the demo replays when no full extraction is given (all in the index split)."""


DEMO_HEADER = ("Require Import Arith. Require Import List. Require Import Bool. "
               "Import ListNotations.")
"""What each demo lemma's document loads before its statement."""

DEMO_LEMMAS: tuple[tuple[str, str], ...] = (
    ("in_app_both", "forall (A : Type) (x : A) (l m : list A), "
                    "In x l -> In x (l ++ m) /\\ In x (m ++ l)"),
    ("neq_S_sym", "forall n m : nat, n <> m -> S n <> S m /\\ m <> n"),
    ("O_S_both", "forall n : nat, 0 <> S n /\\ S n <> 0"),
    ("in_app_l", "forall (A : Type) (x : A) (l m : list A), In x l -> In x (l ++ m)"),
)
"""The demo's lemmas (name, statement): stated here, not taken from the stdlib files, and chosen
because the KNN generator over the demo's index needs several steps and expansions for each
(a conjunction split into two goals fires the rollout trigger)."""


def demo_theorems() -> list[Theorem]:
    """:data:`DEMO_LEMMAS` as theorems of the Coq backend (statement plus header)."""
    return [Theorem(name, f"Lemma {name} : {statement}.", {"header": DEMO_HEADER})
            for name, statement in DEMO_LEMMAS]


def demo_cache_dir() -> Path:
    """Where the demo keeps its extraction (``$XDG_CACHE_HOME`` or ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "seg-prover" / "coq-demo"


async def ensure_demo_index(files: tuple[str, ...] = DEMO_INDEX_FILES, *,
                            progress: bool = True) -> Path:
    """Replay the human proofs of ``files`` (those of the suite's index split) into the demo's
    cache, where not done yet (the extraction is resumable per file); returns the cache."""
    index_dir = demo_cache_dir()
    root = stdlib_theories()
    index_files = set(load_manifest()["index_files"])
    await extract_tree(index_dir, [root / rel for rel in files if rel in index_files], root,
                       CoqConfig(max_processes=1), progress=progress)
    return index_dir


def demo_view_dir() -> Path:
    """Where the demo writes its HTML views (beside its index cache)."""
    return demo_cache_dir().parent / "demo-view"


async def demo_search(index_dir: Path | None, *, time_limit_s: float, num_candidates: int,
                      progress: bool = True, tactic_timeout_s: float | None = None,
                      rollout: RolloutConfig | None = None) -> list[SearchResult]:
    """Build the index (extracting the demo files if needed) and search the demo lemmas with
    rollouts (``rollout``: default :class:`RolloutConfig`, the paper's short rollouts).

    ``tactic_timeout_s`` is Coq's own per-tactic timeout (``None``: CoqConfig's 5 s)."""
    theorems = demo_theorems()
    if index_dir is None:
        # the extraction's bar only on a terminal: a log file would fill with its frames
        index_dir = await ensure_demo_index(progress=progress_wanted(progress))
    records = index_records(index_dir)
    if progress:
        print(f"Index: {len(records)} recorded tactic steps; searching {len(theorems)} lemmas.",
              flush=True)
    generator = knn_for(records)
    config = SearchConfig(num_candidates=num_candidates, time_limit_s=time_limit_s,
                          max_expansions=100_000)
    coq = CoqConfig(max_processes=1) if tactic_timeout_s is None else CoqConfig(
        tactic_timeout_s=tactic_timeout_s, max_processes=1)
    env = CoqEnvironment(coq)
    search = BestFirstSearch(env, generator, config=config,
                             rollout=rollout if rollout is not None else RolloutConfig())
    results = []
    try:
        for number, theorem in enumerate(theorems, 1):
            if progress:
                print(f"[{number}/{len(theorems)}] searching {theorem.name} ...", flush=True)
            results.append(await search.search(theorem))
        return results
    finally:
        await env.close()


def rollout_sites(doc: TreeDoc) -> list[str]:
    """The tactics after which rollouts ran (each state where a rollout tried a tactic,
    named by the tactic that reached it)."""
    sources = {e.source for e in doc.edges if e.rollout}
    sources |= {i for i, node in enumerate(doc.nodes) if any(e.rollout for e in node.errors)}
    by_target = {e.target: e.tactic for e in doc.edges}
    return [by_target.get(i, "the root") for i in sorted(sources)]


def explain(result: SearchResult, doc: TreeDoc) -> str:
    """The stats of one search in one line of words."""
    s = result.stats
    failed = sum(len(node.errors) for node in doc.nodes)
    sites = list(dict.fromkeys(rollout_sites(doc)))  # in tree order, once each
    fired = (f"{s.rollouts} rollout(s) fired where the goal count changed (after "
             f"{', '.join(repr(t) for t in sites[:3])}) and ran {s.rollout_steps} step(s)"
             if s.rollouts else "no rollout fired")
    return (f"{s.expansions} states expanded best-first (generator asked {s.generator_calls} "
            f"times), {s.env_calls} tactics run in Coq of which {failed} failed, {fired}; "
            f"{s.wall_s:.1f} s")


def write_demo_views(results: list[SearchResult], out: Path) -> dict[str, Path]:
    """One HTML page per search and an ``index.html`` under ``out``; the pages by theorem."""
    pages: dict[str, Path] = {}
    entries = []
    for result in results:
        if result.tree is None:
            continue
        doc = doc_from_tree(result.tree, result)
        pages[result.theorem] = write_page(doc, out / f"{result.theorem}.html",
                                           back="index.html")
        s = result.stats
        entries.append(IndexEntry(result.theorem, 0, result.status, s.wall_s, s.expansions,
                                  s.nodes, s.rollouts, f"{result.theorem}.html"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "index.html").write_text(render_index("seg-prover demo", entries), encoding="utf-8")
    return pages


def run_coq_demo(args: Any) -> int:
    """The CLI entry: prints each proof found, its ``verify`` verdict, the tree and its page."""
    from prover.cli import print_result

    began = time.monotonic()
    index = Path(args.coq_index) if getattr(args, "coq_index", None) else None
    print("Demo: best-first search in Coq 8.16 with a KNN tactic generator (Tactician-style) "
          "learned from\nhuman proofs of the standard library, with goal-aware rollouts, on "
          f"{len(DEMO_LEMMAS)} lemmas that need several steps.")
    if index is None:
        print(f"Index: replaying the human proofs of {len(DEMO_INDEX_FILES)} stdlib files "
              f"(cached in {demo_cache_dir()}).", flush=True)
    results = asyncio.run(demo_search(index, time_limit_s=args.coq_time_limit,
                                      num_candidates=args.num_candidates,
                                      progress=not getattr(args, "no_progress", False),
                                      tactic_timeout_s=getattr(args, "tactic_timeout", None)))
    out = demo_view_dir()
    pages = write_demo_views(results, out)
    print()
    for result in results:
        print_result(result, show_tree=True)
        if result.proved:
            verdict = "accepted" if result.stats.verified else "REJECTED"
            print(f"  verify (fresh coqidetop, Qed + Print Assumptions): {verdict}")
        if result.tree is not None:
            print(f"  in words: {explain(result, doc_from_tree(result.tree, result))}")
        if result.theorem in pages:
            print(f"  search tree: {pages[result.theorem]}")
    proved = sum(r.proved and bool(r.stats.verified) for r in results)
    print(f"proved and verified {proved}/{len(results)} lemmas in "
          f"{time.monotonic() - began:.1f} s; all trees: {out / 'index.html'}")
    print(f"Next: open {out / 'index.html'} in a browser (click a state for its goals), then "
          f"run held-out stdlib lemmas and view them: seg-prover bench --suite coq-stdlib "
          f"--limit 10 --backend coq --generator coq-index:{demo_cache_dir()} --rollout 4 "
          f"--time-limit 20 --out runs/coq10 && seg-prover view runs/coq10")
    return 0 if proved else 1


__all__ = ["DEMO_HEADER", "DEMO_INDEX_FILES", "DEMO_LEMMAS", "demo_cache_dir", "demo_search",
           "demo_theorems", "demo_view_dir", "ensure_demo_index", "explain", "rollout_sites",
           "run_coq_demo", "write_demo_views"]
