"""A small synthetic replay suite for the benchmark-runner tests.

Theorem ``tNN``: from its root, ``bad`` leads into a two-step dead end and ``good`` (less likely)
reaches a state that ``finish`` closes, except for every third theorem (unprovable). With the
tactic list of :data:`TACTICS`, cumulative log-prob search proves a provable theorem in 4
expansions (it walks the dead end first); a heuristic that avoids ``bad`` needs 2.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from helpers import TraceBuilder

from prover.traces import TraceRecord, write_trace

TACTICS = [["bad", -0.1], ["good", -2.0], ["finish", -0.5]]


def theorem_records(name: str, *, provable: bool = True) -> list[TraceRecord]:
    builder = TraceBuilder(name, root=f"{name}_root")
    builder.edge(f"{name}_root", "bad", f"{name}_b1").edge(f"{name}_b1", "bad", f"{name}_b2")
    builder.edge(f"{name}_root", "good", f"{name}_g1")
    if provable:
        builder.edge(f"{name}_g1", "finish", "proved")
    return builder.records


def plain_names(n: int) -> list[str]:
    return [f"t{i:02d}" for i in range(n)]


def provable(name: str) -> bool:
    return int(name[1:]) % 3 != 2


def write_suite(directory: Path, n: int = 9, extra: Iterable[str] = ()) -> tuple[Path, Path]:
    """Write the trace (``n`` plain theorems plus provable ``extra`` ones) and the tactic file."""
    records: list[TraceRecord] = []
    for name in plain_names(n):
        records += theorem_records(name, provable=provable(name))
    for name in extra:
        records += theorem_records(name)
    trace = directory / "suite_trace.jsonl"
    write_trace(records, trace)
    tactics = directory / "tactics.json"
    tactics.write_text(json.dumps(TACTICS), encoding="utf-8")
    return trace, tactics


def bench_args(trace: Path, tactics: Path, out: Path, *extra: str) -> list[str]:
    return ["bench", "--suite", str(trace), "--backend", "replay", "--generator",
            f"fixed:{tactics}", "--out", str(out), "--no-progress", *extra]


def read_results(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


DETERMINISTIC_STATS = ("expansions", "nodes", "env_calls", "generator_calls", "banned")


def comparable(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, int], tuple[Any, ...]]:
    """Rows by key, keeping the fields that do not depend on timing or the machine."""
    return {(r["theorem"], r["attempt"]): (r["status"], r["proof"], r["message"], r["seed"],
                                           r["config_hash"],
                                           *(r["stats"][s] for s in DETERMINISTIC_STATS))
            for r in rows}
