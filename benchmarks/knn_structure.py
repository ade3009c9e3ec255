"""How often the Coq KNN generator proposes proof structure (bullets, braces, focus commands).

Run ``python -m benchmarks.knn_structure EXTRACTION_DIR`` on a ``seg-prover coq extract`` of the
stdlib. At the root states of the first ``--roots`` held-out lemmas of the ``coq-stdlib`` suite
(their recorded roots), it asks for the top ``--k`` candidates of a KNN generator over the
suite's index files, once with the recorded tactics as they are (as the ``coq-index:``
generator indexed them before) and once as :func:`benchmarks.coq_suite.knn_for` indexes them
now (structure stripped, :func:`~prover.backends.coq_layout.strip_structure`), and prints how
many candidates, and how many first choices, are structure.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from benchmarks.coq_suite import index_records, knn_for, load_manifest
from prover.backends.coq_layout import strip_structure
from prover.generators.base import TacticGenerator
from prover.generators.knn import KNNTacticGenerator
from prover.traces import read_trace
from prover.types import ProofState


def held_out_roots(extraction_dir: Path, count: int) -> list[ProofState]:
    """The recorded root states of the first ``count`` test lemmas that have one."""
    wanted: dict[str, str] = {}
    for entry in load_manifest()["test"]:
        wanted[entry["name"]] = entry["stdlib_file"]
    roots: dict[str, ProofState] = {}
    for rel in sorted(set(wanted.values())):
        stem = rel.replace("/", "__").removesuffix(".v")
        path = extraction_dir / "files" / f"{stem}.traces.jsonl"
        if not path.is_file():
            continue
        for record in read_trace(path):
            if record.tactic is None and record.theorem in wanted:
                roots.setdefault(record.theorem, ProofState(tuple(record.goals)))
    ordered = [roots[name] for name in wanted if name in roots]
    return ordered[:count]


async def structure_share(generator: TacticGenerator, roots: Sequence[ProofState], k: int
                          ) -> tuple[int, int, int]:
    """(structure candidates, all candidates, roots whose first choice is structure)."""
    structure = total = first = 0
    for root in roots:
        tactics = [c.tactic for c in await generator.propose(root, k)]
        flags = [not strip_structure(t) for t in tactics]
        structure += sum(flags)
        total += len(tactics)
        first += bool(flags and flags[0])
    return structure, total, first


async def measure(extraction_dir: Path, roots_count: int, k: int
                  ) -> dict[str, tuple[int, int, int]]:
    records = index_records(extraction_dir)
    roots = held_out_roots(extraction_dir, roots_count)
    plain = KNNTacticGenerator.from_traces(list(records))
    return {"roots": (len(roots), 0, 0),
            "as recorded": await structure_share(plain, roots, k),
            "knn_for (stripped)": await structure_share(knn_for(records), roots, k)}


def main(argv: Sequence[str] | None = None) -> int:
    import asyncio

    parser = argparse.ArgumentParser(prog="python -m benchmarks.knn_structure",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("extraction_dir", type=Path)
    parser.add_argument("--roots", type=int, default=100)
    parser.add_argument("--k", type=int, default=8)
    args = parser.parse_args(argv)
    result = asyncio.run(measure(args.extraction_dir, args.roots, args.k))
    print(f"roots: {result.pop('roots')[0]}, top-{args.k} candidates each")
    for label, (structure, total, first) in result.items():
        print(f"{label:20} structure {structure}/{total} candidates, first choice at {first}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
