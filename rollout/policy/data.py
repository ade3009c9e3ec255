"""Policy training data: the JSONL pairs ``seg-prover segments`` writes, at any granularity.

Each line holds ``input`` (the proof state at the start of a unit) and ``output`` (the unit's
tactics joined by newlines: one step, a segment, or a whole proof); other keys (``theorem``,
``granularity``, ``start``, ...) are kept as metadata where useful and otherwise ignored.

A bad line (not UTF-8, not JSON, not an object, ``input``/``output`` missing, not a string or
blank) is skipped, counted and named (file, line, field) in one summary warning and in
:attr:`PolicyDataset.bad_lines`; a file with no usable line raises
:class:`~prover.errors.DataFormatError`. Skipping rather than failing on the first bad line
follows the data: pairs come from many recorded proofs, and one bad proof should not cost a
training run, but it must not go unnoticed either.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

from prover.errors import DataFormatError

log = logging.getLogger(__name__)

REQUIRED_FIELDS: tuple[str, ...] = ("input", "output")
"""Fields a line must hold, each a non-blank string."""

SHOWN_BAD_LINES = 5
"""How many bad lines the summary warning names."""


@dataclass(frozen=True)
class PolicyExample:
    """One SFT pair: the state text a unit starts from and the tactics to produce."""

    state: str
    target: str
    theorem: str | None = None
    granularity: str | None = None


@dataclass(frozen=True)
class BadLine:
    """A skipped line: where it is and why (``field`` is ``None`` for a whole-line problem)."""

    path: str
    line: int
    field: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.path}, line {self.line}"
        if self.field is not None:
            where += f", field {self.field!r}"
        return f"{where}: {self.reason}"


class PolicyDataset(Sequence[PolicyExample]):
    """Loaded SFT pairs and the lines that were skipped (see the module docstring)."""

    def __init__(self, examples: Sequence[PolicyExample], *, path: str | Path | None = None,
                 bad_lines: Sequence[BadLine] = ()) -> None:
        self.examples: tuple[PolicyExample, ...] = tuple(examples)
        self.path = str(path) if path is not None else None
        self.bad_lines: tuple[BadLine, ...] = tuple(bad_lines)

    @classmethod
    def from_jsonl(cls, path: str | Path) -> PolicyDataset:
        """Read a pairs file, skipping and reporting bad lines (see the module docstring)."""
        path = Path(path)
        if not path.is_file():
            raise DataFormatError("no such file", path=path)
        examples: list[PolicyExample] = []
        bad: list[BadLine] = []
        for number, parsed in _read_lines(path):
            if isinstance(parsed, BadLine):
                bad.append(parsed)
            else:
                example = parse_pair(parsed, path=path, line=number)
                if isinstance(example, BadLine):
                    bad.append(example)
                else:
                    examples.append(example)
        if bad:
            shown = "; ".join(str(b) for b in bad[:SHOWN_BAD_LINES])
            more = f"; and {len(bad) - SHOWN_BAD_LINES} more" if len(bad) > SHOWN_BAD_LINES else ""
            log.warning("%s: skipped %d bad line(s) of %d: %s%s", path, len(bad),
                        len(bad) + len(examples), shown, more)
        if not examples:
            first = f" (first: {bad[0]})" if bad else ""
            raise DataFormatError(f"no usable pair: {len(bad)} bad line(s){first}; expected "
                                  f"JSON lines with string fields "
                                  f"{', '.join(REQUIRED_FIELDS)}", path=path)
        return cls(examples, path=path, bad_lines=bad)

    @property
    def skipped(self) -> int:
        """How many lines were skipped."""
        return len(self.bad_lines)

    def skipped_by_field(self) -> dict[str, int]:
        """Skipped lines counted by the field at fault (``"line"`` for whole-line problems)."""
        return dict(Counter(b.field or "line" for b in self.bad_lines))

    def granularities(self) -> dict[str, int]:
        """Pairs per recorded ``granularity`` (``"unknown"`` when a line has none)."""
        return dict(Counter(e.granularity or "unknown" for e in self.examples))

    def __len__(self) -> int:
        return len(self.examples)

    @overload
    def __getitem__(self, index: int) -> PolicyExample: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[PolicyExample]: ...

    def __getitem__(self, index: int | slice) -> PolicyExample | Sequence[PolicyExample]:
        return self.examples[index]

    def __iter__(self) -> Iterator[PolicyExample]:
        return iter(self.examples)

    def __repr__(self) -> str:
        return (f"PolicyDataset({len(self)} pairs, {self.skipped} skipped"
                + (f", path={self.path!r})" if self.path else ")"))


def _read_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """``(line number, decoded object or BadLine)`` for each non-blank line."""
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                yield number, BadLine(str(path), number, None,
                                      f"not UTF-8 text (column {exc.start + 1})")
                continue
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as exc:
                yield number, BadLine(str(path), number, None,
                                      f"invalid JSON: {exc.msg} (column {exc.colno})")
            except (RecursionError, ValueError) as exc:
                yield number, BadLine(str(path), number, None, f"invalid JSON: {exc}")


def parse_pair(obj: Any, *, path: str | Path = "<input>", line: int = 0
               ) -> PolicyExample | BadLine:
    """One decoded line as an example, or the :class:`BadLine` saying what is wrong."""
    where = str(path)
    if not isinstance(obj, dict):
        return BadLine(where, line, None, f"expected a JSON object, got {type(obj).__name__}")
    for name in REQUIRED_FIELDS:
        if name not in obj:
            return BadLine(where, line, name, "missing")
        value = obj[name]
        if not isinstance(value, str):
            return BadLine(where, line, name, f"expected a string, got {type(value).__name__}")
        if not value.strip():
            return BadLine(where, line, name, "blank")
    theorem = obj.get("theorem", obj.get("full_name"))
    granularity = obj.get("granularity")
    return PolicyExample(obj["input"], obj["output"],
                         theorem if isinstance(theorem, str) else None,
                         granularity if isinstance(granularity, str) else None)


__all__ = ["REQUIRED_FIELDS", "BadLine", "PolicyDataset", "PolicyExample", "parse_pair"]
