"""Progress training data: JSONL lines ``{goal, prefix?, tactic, steps_remaining}``.

``steps_remaining`` is the number of tactics still needed *after* ``tactic`` (0 when the tactic
closes the proof). Loading follows what users of LeanDojo-v2's ``ProgressDataset`` expect, with
the failures made visible:

- a line missing a required key (``goal``, ``tactic``, ``steps_remaining``) is skipped; the
  skipped lines are counted and reported in one warning naming the first few line numbers;
- a line that is not JSON, not an object, or has a value of the wrong type raises
  :class:`~prover.errors.DataFormatError` with its line number;
- a file that yields no example raises too.

``goal``, ``prefix`` and ``tactic`` are stripped of surrounding whitespace, as LeanDojo-v2's
``ProgressDataset`` strips them (``lean_dojo_v2/trainer/progress_trainer.py``, v1.0.9).
Other keys (``theorem``, ``source``, ...) are kept out of the examples and ignored.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from heuristics.progress.template import format_progress_input
from prover.errors import ConfigError, DataFormatError
from prover.traces import iter_jsonl

if TYPE_CHECKING:
    import datasets

log = logging.getLogger(__name__)

REQUIRED_KEYS: tuple[str, ...] = ("goal", "tactic", "steps_remaining")
"""Keys a line must have to be used; a line without one of them is skipped."""

SHOWN_SKIPPED_LINES = 5
"""How many skipped line numbers the warning names."""


@dataclass(frozen=True)
class ProgressExample:
    """One training example: the state before ``tactic``, the tactics before it, the label."""

    goal: str
    prefix: str
    tactic: str
    steps_remaining: int

    @property
    def text(self) -> str:
        """The model input (:data:`heuristics.progress.template.PROGRESS_TEMPLATE`)."""
        return format_progress_input(self.goal, self.prefix, self.tactic)


class ProgressDataset(Sequence[ProgressExample]):
    """A loaded progress dataset: its examples and the lines that were skipped.

    ``ProgressDataset(path)`` (a ``str`` or a path, as in LeanDojo-v2) and
    :meth:`from_jsonl` read and validate a JSONL file (the rules are in the module docstring);
    ``ProgressDataset(examples)`` holds :class:`ProgressExample` values given directly.
    ``skipped_lines`` holds the 1-based numbers of the lines skipped for a missing key.
    """

    def __init__(self, source: str | os.PathLike[str] | Sequence[ProgressExample], *,
                 path: str | Path | None = None, skipped_lines: Sequence[int] = ()) -> None:
        examples: Sequence[ProgressExample]
        if isinstance(source, (str, os.PathLike)):
            # a str is also a Sequence: without this branch it became a dataset of characters
            if path is not None or skipped_lines:
                raise ConfigError("ProgressDataset(path) reads path and skipped_lines from the "
                                "file; pass them only with examples")
            path = Path(source)
            examples, skipped_lines = _read_jsonl(path)
        else:
            examples = tuple(source)
            for index, example in enumerate(examples):
                if not isinstance(example, ProgressExample):
                    raise ConfigError(f"ProgressDataset item {index} is a "
                                    f"{type(example).__name__}, not a ProgressExample")
        self.examples: tuple[ProgressExample, ...] = tuple(examples)
        self.path = str(path) if path is not None else None
        self.skipped_lines: tuple[int, ...] = tuple(skipped_lines)

    @classmethod
    def from_jsonl(cls, path: str | os.PathLike[str]) -> ProgressDataset:
        """Read and validate a JSONL file (see the module docstring); the same as
        ``ProgressDataset(path)``."""
        return cls(path)

    @property
    def skipped(self) -> int:
        """How many lines were skipped for a missing key."""
        return len(self.skipped_lines)

    def __len__(self) -> int:
        return len(self.examples)

    @overload
    def __getitem__(self, index: int) -> ProgressExample: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[ProgressExample]: ...

    def __getitem__(self, index: int | slice) -> ProgressExample | Sequence[ProgressExample]:
        return self.examples[index]

    def __iter__(self) -> Iterator[ProgressExample]:
        return iter(self.examples)

    def texts(self) -> list[str]:
        """The model inputs, in order."""
        return [example.text for example in self.examples]

    def labels(self) -> list[float]:
        """The regression targets (``steps_remaining`` as floats), in order."""
        return [float(example.steps_remaining) for example in self.examples]

    def to_hf(self) -> datasets.Dataset:
        """A ``datasets.Dataset`` with columns ``text`` and ``label`` (float)."""
        import datasets

        return datasets.Dataset.from_dict({"text": self.texts(), "label": self.labels()})

    def __repr__(self) -> str:
        return (f"ProgressDataset({len(self)} examples, {self.skipped} skipped"
                + (f", path={self.path!r})" if self.path else ")"))


def _read_jsonl(path: Path) -> tuple[list[ProgressExample], list[int]]:
    """The examples of a JSONL file and the numbers of the lines skipped for a missing key."""
    if not path.is_file():
        raise DataFormatError("no such file", path=path)
    examples: list[ProgressExample] = []
    skipped: list[int] = []
    for line, obj in iter_jsonl(path):
        example = parse_example(obj, path=path, line=line)
        if example is None:
            skipped.append(line)
        else:
            examples.append(example)
    if skipped:
        shown = ", ".join(str(n) for n in skipped[:SHOWN_SKIPPED_LINES])
        more = ", ..." if len(skipped) > SHOWN_SKIPPED_LINES else ""
        log.warning("%s: skipped %d line(s) missing one of %s (lines %s%s)", path,
                    len(skipped), "/".join(REQUIRED_KEYS), shown, more)
    if not examples:
        raise DataFormatError(f"no usable example ({len(skipped)} line(s) skipped for a "
                              f"missing key of {', '.join(REQUIRED_KEYS)})", path=path)
    return examples, skipped


def parse_example(obj: Any, *, path: str | Path | None = None,
                  line: int | None = None) -> ProgressExample | None:
    """Validate one decoded line; ``None`` when a required key is missing (the line is skipped).

    Wrong types raise :class:`DataFormatError`: ``goal``/``tactic``/``prefix`` must be strings
    (``prefix`` may be absent or null: no earlier tactic), ``steps_remaining`` an integer >= 0.
    The three strings are stripped.
    """
    where: dict[str, Any] = {"path": path, "line": line}
    if not isinstance(obj, dict):
        raise DataFormatError(f"expected a JSON object, got {type(obj).__name__}", **where)
    if any(key not in obj for key in REQUIRED_KEYS):
        return None
    for key in ("goal", "tactic"):
        if not isinstance(obj[key], str):
            raise DataFormatError(f"expected a string, got {type(obj[key]).__name__}",
                                  field=key, **where)
    prefix = obj.get("prefix")
    if prefix is None:
        prefix = ""
    elif not isinstance(prefix, str):
        raise DataFormatError(f"expected a string, got {type(prefix).__name__}",
                              field="prefix", **where)
    steps = obj["steps_remaining"]
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise DataFormatError(f"expected an integer, got {steps!r}", field="steps_remaining",
                              **where)
    if steps < 0:
        raise DataFormatError(f"must be >= 0, got {steps}", field="steps_remaining", **where)
    return ProgressExample(obj["goal"].strip(), prefix.strip(), obj["tactic"].strip(), steps)


__all__ = ["REQUIRED_KEYS", "ProgressDataset", "ProgressExample", "parse_example"]
