"""The trace format (one JSON object per line, see DESIGN.md) and converters into it.

A trace records what a prover answered: the first record of a theorem has ``"tactic": null``
and gives its root state; every other record is one transition ``state --tactic--> outcome``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from prover.errors import DataFormatError
from prover.records import Where, field_of, iter_jsonl, parse_lean_step
from prover.types import (
    Outcome,
    OutcomeKind,
    ProofState,
    Proved,
    StateReached,
    TacticError,
    TacticTimeout,
)

OUTCOME_KINDS: tuple[str, ...] = ("state", "proved", "error", "timeout")

_GOALS_HEADER = re.compile(r"^\d+ goals?\n")


@dataclass(frozen=True)
class TraceRecord:
    """One line of a trace file."""

    theorem: str
    state: str
    tactic: str | None
    outcome: OutcomeKind
    goals: tuple[str, ...] = ()
    message: str | None = None
    latency_s: float | None = None

    @property
    def is_root(self) -> bool:
        return self.tactic is None

    def to_json(self) -> dict[str, Any]:
        return {
            "theorem": self.theorem,
            "state": self.state,
            "tactic": self.tactic,
            "outcome": self.outcome,
            "goals": list(self.goals),
            "message": self.message,
            "latency_s": self.latency_s,
        }

    def to_outcome(self) -> Outcome:
        """The outcome this record describes (the state's handle is its recorded text)."""
        if self.outcome == "state":
            state_text = "\n\n".join(self.goals)
            return StateReached(ProofState(self.goals, handle=state_text))
        if self.outcome == "proved":
            return Proved(self.message or "")
        if self.outcome == "timeout":
            return TacticTimeout(self.message or "tactic timed out")
        return TacticError(self.message or "error")


def split_lean_goals(pp: str) -> tuple[str, ...]:
    """Split a Lean pretty-printed state into goals, with LeanDojo's rule.

    A leading ``"N goals"`` header is dropped, the text is split on blank lines, and each
    piece holding a turnstile ``⊢`` ends a goal, so there are exactly as many goals as ``⊢``
    (LeanDojo's ``TacticState.num_goals``); ``"no goals"`` gives ``()``. LeanDojo drops a
    piece without ``⊢``; it can only be part of a goal printed over a blank line (a long
    hypothesis), so it is kept with the goal it precedes (at the end: the goal before it)
    instead of being lost. The one rule for every backend and converter.
    """
    text = pp.strip()
    if not text or text == "no goals":
        return ()
    goals: list[str] = []
    pending: list[str] = []
    for piece in _GOALS_HEADER.sub("", text).split("\n\n"):
        if "⊢" in piece:
            goals.append("\n\n".join([*pending, piece]).strip())
            pending = []
        elif piece.strip():
            pending.append(piece)
    if pending and goals:
        goals[-1] = "\n\n".join([goals[-1], *pending]).strip()
    return tuple(goals)


def parse_trace_record(obj: Any, *, path: str | Path | None = None,
                       line: int | None = None) -> TraceRecord:
    """Validate one decoded JSON object as a trace record."""
    where: dict[str, Any] = {"path": path, "line": line}
    if not isinstance(obj, dict):
        raise DataFormatError(f"expected a JSON object, got {type(obj).__name__}", **where)
    theorem = field_of(obj, "theorem", (str,), where)
    state = field_of(obj, "state", (str,), where)
    if "tactic" not in obj:
        raise DataFormatError("missing required field (null for a root record)",
                              field="tactic", **where)
    tactic = field_of(obj, "tactic", (str,), where, required=False)
    outcome = field_of(obj, "outcome", (str,), where)
    if outcome not in OUTCOME_KINDS:
        raise DataFormatError(f"unknown outcome {outcome!r}; expected one of {OUTCOME_KINDS}",
                              field="outcome", **where)
    goals_value = field_of(obj, "goals", (list,), where, required=outcome == "state")
    goals = tuple(goals_value or ())
    for goal in goals:
        if not isinstance(goal, str):
            raise DataFormatError(f"goals must be strings, got {type(goal).__name__}",
                                  field="goals", **where)
    if outcome == "state" and not goals:
        raise DataFormatError("a 'state' outcome needs at least one goal", field="goals", **where)
    message = field_of(obj, "message", (str,), where, required=False)
    latency = field_of(obj, "latency_s", (int, float), where, required=False)
    if isinstance(latency, int) and abs(latency) > 1e300:  # math.isfinite would overflow
        latency = math.inf if latency > 0 else -math.inf
    if latency is not None and (not math.isfinite(latency) or latency < 0):
        raise DataFormatError(f"latency must be a finite non-negative number, got {latency}",
                              field="latency_s", **where)
    if tactic is None and outcome != "state":
        raise DataFormatError("a root record (tactic null) must have outcome 'state'",
                              field="outcome", **where)
    return TraceRecord(theorem, state, tactic, outcome, goals, message,
                       float(latency) if latency is not None else None)


def read_trace(path: str | Path) -> list[TraceRecord]:
    """Read and validate a whole trace file; the first bad line raises DataFormatError."""
    return [parse_trace_record(obj, path=path, line=n) for n, obj in iter_jsonl(path)]


class TraceWriter:
    """Appends trace records to a file, one flushed line each (safe to tail while running)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] | None = open(self.path, "a", encoding="utf-8")

    def write(self, record: TraceRecord) -> None:
        if self._handle is None:
            raise ValueError(f"trace writer for {self.path} is closed")
        self._handle.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def write_trace(records: Iterable[TraceRecord], path: str | Path) -> int:
    """Write records to ``path`` (overwriting it); returns how many were written."""
    count = 0
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
            count += 1
    return count


def from_leandojo_steps(records: Iterable[Mapping[str, Any]], *,
                        path: str | Path | None = None) -> list[TraceRecord]:
    """Convert LeanDojo-style step records into trace records.

    Each record needs ``full_name``, ``state_before``, ``tactic`` and ``state_after`` (strings).
    Goals are split with :func:`split_lean_goals`; ``"no goals"`` after a tactic means proved.
    The first step seen of each theorem also yields its root record. Records are numbered from 1
    in error messages.
    """
    return _convert_steps(enumerate(records, start=1), path)


def load_leandojo_steps(path: str | Path) -> list[TraceRecord]:
    """Read a JSONL file of LeanDojo step records (e.g. ``leandojo_benchmark4_subset_steps``);
    errors name the file's line."""
    return _convert_steps(iter_jsonl(path), path)


def _convert_steps(numbered: Iterable[tuple[int, Any]], path: str | Path | None
                   ) -> list[TraceRecord]:
    out: list[TraceRecord] = []
    seen_roots: set[str] = set()
    for line, obj in numbered:
        where: Where = {"path": path, "line": line}
        step = parse_lean_step(obj, where)
        before_goals = split_lean_goals(step.state_before)
        if not before_goals:
            raise DataFormatError("state_before has no goal (no '⊢')", field="state_before",
                                  **where)
        before_text = "\n\n".join(before_goals)
        if step.theorem not in seen_roots:
            seen_roots.add(step.theorem)
            out.append(TraceRecord(step.theorem, before_text, None, "state", before_goals))
        after_goals = split_lean_goals(step.state_after)
        outcome: OutcomeKind = "state" if after_goals else "proved"
        out.append(TraceRecord(step.theorem, before_text, step.tactic, outcome, after_goals))
    return out


__all__ = [
    "OUTCOME_KINDS",
    "TraceRecord",
    "TraceWriter",
    "from_leandojo_steps",
    "iter_jsonl",
    "load_leandojo_steps",
    "parse_trace_record",
    "read_trace",
    "split_lean_goals",
    "write_trace",
]
