"""``seg-prover demo``: a real search in Coq with the KNN generator on held-out stdlib lemmas.

1. The index: the human proofs of a few index files of the ``coq-stdlib`` suite are replayed
   into trajectories (``seg-prover coq extract``, cached under
   ``$XDG_CACHE_HOME/seg-prover/coq-demo``, so a second run starts at once), or those of a full
   extraction passed with ``--coq-index DIR``.
2. The search: best-first search with :class:`~prover.generators.knn.KNNTacticGenerator` over
   that index, on the held-out lemmas listed in the manifest's ``demo`` entry (test-split
   lemmas from files that are not in the index), each proof checked by ``verify`` in a fresh
   ``coqidetop`` (``Qed`` and ``Print Assumptions``).

Without ``coqidetop.opt`` on PATH the CLI falls back to the replay demo (``demo --replay``).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from benchmarks.coq_suite import index_records, knn_for, load_coq_suite, load_manifest
from prover.backends.coq import CoqConfig, CoqEnvironment, stdlib_theories
from prover.backends.coq_extract import extract_tree
from prover.config import SearchConfig, SearchResult
from prover.search import BestFirstSearch

DEMO_INDEX_FILES: tuple[str, ...] = (
    "Arith/PeanoNat.v", "Arith/Compare_dec.v", "Arith/Between.v", "Bool/Bool.v",
    "Lists/List.v", "Init/Logic.v", "Init/Peano.v", "Logic/Decidable.v",
)
"""Index files the demo replays when no full extraction is given (all in the index split)."""


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


async def demo_search(index_dir: Path | None, *, time_limit_s: float, num_candidates: int,
                      progress: bool = True, tactic_timeout_s: float | None = None
                      ) -> list[SearchResult]:
    """Build the index (extracting the demo files if needed) and search the demo lemmas.

    ``tactic_timeout_s`` is Coq's own per-tactic timeout (``None``: CoqConfig's 5 s)."""
    manifest = load_manifest()
    names = list(manifest.get("demo", []))
    theorems = [t for t in load_coq_suite(split="test") if t.name in names]
    theorems.sort(key=lambda t: names.index(t.name))
    if index_dir is None:
        index_dir = await ensure_demo_index(progress=progress)
    generator = knn_for(index_records(index_dir))
    config = SearchConfig(num_candidates=num_candidates, time_limit_s=time_limit_s,
                          max_expansions=100_000)
    coq = CoqConfig(max_processes=1) if tactic_timeout_s is None else CoqConfig(
        tactic_timeout_s=tactic_timeout_s, max_processes=1)
    env = CoqEnvironment(coq)
    search = BestFirstSearch(env, generator, config=config)
    try:
        return [await search.search(theorem) for theorem in theorems]
    finally:
        await env.close()


def run_coq_demo(args: Any) -> int:
    """The CLI entry: prints each proof found and its ``verify`` verdict."""
    from prover.cli import print_result

    began = time.monotonic()
    index = Path(args.coq_index) if getattr(args, "coq_index", None) else None
    print("Demo: best-first search in Coq 8.16 with a KNN tactic generator (Tactician-style) "
          "learned from\nhuman proofs of the standard library, on held-out stdlib lemmas.")
    if index is None:
        print(f"Index: replaying the human proofs of {len(DEMO_INDEX_FILES)} stdlib files "
              f"(cached in {demo_cache_dir()}).")
    results = asyncio.run(demo_search(index, time_limit_s=args.coq_time_limit,
                                      num_candidates=args.num_candidates,
                                      tactic_timeout_s=getattr(args, "tactic_timeout", None)))
    for result in results:
        print_result(result, show_tree=False)
        if result.proved:
            verdict = "accepted" if result.stats.verified else "REJECTED"
            print(f"  verify (fresh coqidetop, Qed + Print Assumptions): {verdict}")
    proved = sum(r.proved and bool(r.stats.verified) for r in results)
    print(f"proved and verified {proved}/{len(results)} held-out lemmas in "
          f"{time.monotonic() - began:.1f} s")
    return 0 if proved else 1


__all__ = ["DEMO_INDEX_FILES", "demo_cache_dir", "demo_search", "ensure_demo_index",
           "run_coq_demo"]
