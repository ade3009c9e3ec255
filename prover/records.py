"""The field rules of every recorded-proof format, in one place.

Each reader of recorded proofs (traces, LeanDojo steps, LeanDojo Benchmark theorems, Coq steps,
the KNN's state/tactic pairs) validates its records with these functions, so a field means the
same thing and a bad one is reported the same way everywhere: a
:class:`~prover.errors.DataFormatError` naming the file, the line and the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prover.errors import DataFormatError

Where = dict[str, Any]
"""``{"path": ..., "line": ...}``: where a record came from, for error messages."""


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, decoded_object)`` for each non-blank line; a line that is not
    UTF-8 or not JSON raises DataFormatError naming it."""
    # Bytes that are not UTF-8 decode to lone surrogates here and are reported with their
    # line (strict decoding would fail on a whole buffered chunk, line unknown).
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise DataFormatError(f"not UTF-8 text (column {exc.start + 1})",
                                      path=path, line=number) from None
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DataFormatError(f"invalid JSON: {exc.msg} (column {exc.colno})",
                                      path=path, line=number) from exc
            except (RecursionError, ValueError) as exc:  # nested too deep, a huge number
                raise DataFormatError(f"invalid JSON: {exc}", path=path, line=number) from None
            yield number, obj


def expect_object(obj: Any, where: Where) -> Mapping[str, Any]:
    """``obj`` if it is a JSON object, else a DataFormatError."""
    if not isinstance(obj, Mapping):
        raise DataFormatError(f"expected a JSON object, got {type(obj).__name__}", **where)
    return obj


def field_of(obj: Mapping[str, Any], name: str, kinds: tuple[type, ...], where: Where,
             *, required: bool = True) -> Any:
    """The value of ``name`` if it has one of ``kinds`` (bool is never an int here); ``None``
    when it is absent or null and not ``required``."""
    if name not in obj:
        if required:
            raise DataFormatError("missing required field", field=name, **where)
        return None
    value = obj[name]
    if value is None and not required:
        return None
    if isinstance(value, bool) and bool not in kinds:
        raise DataFormatError(f"expected {_names(kinds)}, got bool", field=name, **where)
    if not isinstance(value, kinds):
        raise DataFormatError(f"expected {_names(kinds)}, got {type(value).__name__}",
                              field=name, **where)
    return value


def _names(kinds: tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in kinds)


@dataclass(frozen=True)
class LeanStep:
    """A LeanDojo step record: ``full_name``, ``state_before``, ``tactic``, ``state_after``
    (strings) and ``step_idx`` (an int; when absent, the record's position in its theorem)."""

    theorem: str
    index: int | None
    state_before: str
    tactic: str
    state_after: str


LEAN_STEP_FIELDS = ("full_name", "state_before", "tactic", "state_after")


def parse_lean_step(obj: Any, where: Where) -> LeanStep:
    record = expect_object(obj, where)
    name, before, tactic, after = (field_of(record, f, (str,), where) for f in LEAN_STEP_FIELDS)
    index = field_of(record, "step_idx", (int,), where, required=False)
    return LeanStep(name, index, before, tactic, after)


@dataclass(frozen=True)
class CoqStep:
    """A Coq step record (``seg-prover coq extract``): ``theorem``, ``step``, ``state``,
    ``tactic``, ``num_goals_before``, ``num_goals_after`` (``steps_remaining`` and the
    rest are optional)."""

    theorem: str
    step: int
    state: str
    tactic: str
    goals_before: int
    goals_after: int


def parse_coq_step(obj: Any, where: Where) -> CoqStep:
    record = expect_object(obj, where)
    theorem = field_of(record, "theorem", (str,), where)
    step = field_of(record, "step", (int,), where)
    state = field_of(record, "state", (str,), where)
    tactic = field_of(record, "tactic", (str,), where)
    counts = [field_of(record, name, (int,), where)
              for name in ("num_goals_before", "num_goals_after")]
    for name, count in zip(("num_goals_before", "num_goals_after"), counts):
        if count < 0:
            raise DataFormatError("negative goal count", field=name, **where)
    return CoqStep(theorem, step, state, tactic, counts[0], counts[1])


@dataclass(frozen=True)
class StatePair:
    """A ``(state, tactic)`` pair and the theorem it comes from, read from any step record:
    the state is ``state`` (Coq steps, traces) or ``state_before`` (LeanDojo steps), the
    theorem ``theorem`` or ``full_name`` (optional)."""

    state: str
    tactic: str
    theorem: str | None


def parse_state_pair(obj: Any, where: Where) -> StatePair:
    record = expect_object(obj, where)
    state_field = "state" if "state" in record else "state_before"
    if state_field not in record:
        raise DataFormatError("missing the state ('state' or 'state_before')", field="state",
                              **where)
    state = field_of(record, state_field, (str,), where)
    if not state.strip():
        raise DataFormatError("the state is empty", field=state_field, **where)
    tactic = field_of(record, "tactic", (str,), where)
    if not tactic.strip():
        raise DataFormatError("the tactic is empty", field="tactic", **where)
    theorem_field = "theorem" if "theorem" in record else "full_name"
    theorem = field_of(record, theorem_field, (str,), where, required=False)
    return StatePair(state, tactic, theorem)


__all__ = ["LEAN_STEP_FIELDS", "CoqStep", "LeanStep", "StatePair", "Where", "expect_object",
           "field_of", "iter_jsonl", "parse_coq_step", "parse_lean_step", "parse_state_pair"]
