"""Benchmark suites: which theorems a run attempts.

A suite is named on the command line as

- a JSONL file of theorems in the miniF2F style (``name``, ``header``, ``formal_statement``,
  optional ``leandojo``), read by :func:`prover.theorems.load_theorems`; ``FILE#variant=NAME``
  takes each record's variant ``NAME`` (e.g. ``lean_dojo_mew_v4.7.0`` for LeanDojo); records
  without that variant (``null``, as miniF2F-valid's ``imo_2006_p3`` for LeanDojo) are left
  out, with a warning, and named in :attr:`Suite.skipped`;
- a trace file (DESIGN.md format): its theorems, in order of first appearance; the ``replay``
  backend then answers from the same file;
- a named suite: ``coq-stdlib`` (held-out Coq standard-library lemmas) or ``coq-stdlib:SPLIT``;
- ``package.module:name`` / ``path/file.py:name``: a user's list of
  :class:`~prover.types.Theorem`, or a function returning one.

The kind of a file is read from its first record (a trace record has ``state`` and ``tactic``).
"""

from __future__ import annotations

import codecs
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from benchmarks.specs import absolute_spec
from prover.errors import ConfigError, DataFormatError, ProverError
from prover.specs import is_object_path, load_object
from prover.types import Theorem

NAMED_SUITES = ("coq-stdlib",)


@dataclass(frozen=True)
class Suite:
    """The theorems of a suite; ``trace`` is set when the suite is a trace file, and
    ``skipped`` names the file's records that were left out (they lack the ``#variant=``
    asked for), so that a report can say the suite is smaller than the file."""

    theorems: tuple[Theorem, ...]
    trace: str | None = None
    skipped: tuple[str, ...] = ()

    def select(self, *, limit: int | None = None, pattern: str | None = None) -> Suite:
        """The first ``limit`` theorems whose name matches ``pattern`` (``re.search``)."""
        chosen = list(self.theorems)
        if pattern is not None:
            regex = re.compile(pattern)
            chosen = [t for t in chosen if regex.search(t.name)]
        if limit is not None:
            chosen = chosen[:limit]
        return Suite(tuple(chosen), self.trace, self.skipped)

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.theorems]


def resolve_suite_path(spec: str) -> str:
    """The suite spec as stored in a config: files as absolute paths, names unchanged."""
    if spec.split(":", 1)[0] in NAMED_SUITES:
        return spec
    file_part, sep, options = spec.partition("#")
    path = Path(file_part).expanduser()
    if path.exists():
        return str(path.resolve()) + sep + options
    return absolute_spec(spec)


def load_suite(spec: str) -> Suite:
    """Load the suite named by ``spec`` (see the module docstring)."""
    name, _, arg = spec.partition(":")
    if name == "coq-stdlib":
        return _coq_stdlib(arg or "test")
    file_part, _, options = spec.partition("#")
    variant = _variant(spec, options)
    path = Path(file_part).expanduser()
    if not path.is_file():
        if is_object_path(spec):
            return _user_suite(spec)
        raise ConfigError(f"suite {spec!r}: no such file, and not a named suite "
                          f"({', '.join(NAMED_SUITES)}) or 'package.module:name'")
    try:
        _check_text(path)
        is_trace = _is_trace(path)
    except OSError as exc:
        raise DataFormatError(f"cannot read the suite: {exc.strerror or exc}", path=path) from exc
    if is_trace and variant is not None:
        raise ConfigError(f"suite {spec!r}: a trace file has no variants")
    try:
        if is_trace:
            suite = Suite(tuple(_load_trace_theorems(path)), str(path))
        else:
            theorems, skipped = _load_theorem_file(path, variant)
            suite = Suite(tuple(theorems), skipped=tuple(skipped))
    except DataFormatError as exc:
        raise _reraise_too_deep(exc, path) from exc
    duplicates = [n for n, c in Counter(suite.names).items() if c > 1]
    if duplicates:
        raise DataFormatError(f"theorem names must be unique; repeated: "
                              f"{', '.join(sorted(duplicates)[:10])}", path=path, field="name")
    if not suite.theorems:
        raise DataFormatError("the suite holds no theorem", path=path)
    return suite


def _user_suite(spec: str) -> Suite:
    obj = load_object(spec, "suite")
    if callable(obj):
        try:
            obj = obj()
        except ProverError:
            raise
        except Exception as exc:
            raise ConfigError(f"suite {spec!r}: calling it failed: {exc!r}; it must be a list "
                              f"of prover.types.Theorem or a function returning one") from exc
    theorems = tuple(obj) if isinstance(obj, (list, tuple)) else None
    if not theorems or not all(isinstance(t, Theorem) for t in theorems):
        raise ConfigError(f"suite {spec!r} must be a non-empty list of prover.types.Theorem "
                          f"(or a function returning one), got {type(obj).__name__}")
    names = [t.name for t in theorems]
    if len(set(names)) != len(names):
        raise ConfigError(f"suite {spec!r}: theorem names must be unique")
    return Suite(theorems)


def _variant(spec: str, options: str) -> str | None:
    if not options:
        return None
    key, eq, value = options.partition("=")
    if key != "variant" or not eq or not value:
        raise ConfigError(f"suite {spec!r}: the only suite option is '#variant=NAME'")
    return value


_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
         (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"),
         (codecs.BOM_UTF8, "UTF-8 with a byte-order mark"))
"""Byte-order marks a suite file may start with (UTF-32 before UTF-16: FF FE 00 00 also starts
with UTF-16's FF FE)."""


def _check_text(path: Path) -> None:
    """A suite file is UTF-8 JSON lines: a DataFormatError that says what the file is
    otherwise (UTF-16 or UTF-32 text, binary data)."""
    with open(path, "rb") as handle:
        head = handle.read(65536)
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            raise DataFormatError(f"the file is {encoding} text; a suite is UTF-8 JSON lines "
                                  f"without a byte-order mark: convert it, e.g. iconv -t UTF-8",
                                  path=path, line=1)
    if b"\x00" in head:
        at = head.index(b"\x00")
        line = head[:at].count(b"\n") + 1
        odd, even = head[1::2], head[0::2]
        # ASCII in UTF-16 is every other byte zero, and only every other one
        utf16 = any(zeros.count(0) > len(zeros) * 0.6 and others.count(0) < len(others) * 0.1
                    for zeros, others in ((odd, even), (even, odd)))
        what = ("UTF-16 text without a byte-order mark; a suite is UTF-8 JSON lines: convert "
                "it, e.g. iconv -f UTF-16LE -t UTF-8" if utf16
                else "binary data (a NUL byte), not UTF-8 JSON lines")
        raise DataFormatError(f"the file is {what}", path=path, line=line)


def _is_trace(path: Path) -> bool:
    """Whether the file's first record is a trace record (``state`` and ``tactic``)."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataFormatError(f"not UTF-8 text (byte {exc.start + 1} of the line)",
                                      path=path, line=number) from None
            try:
                first = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DataFormatError(f"invalid JSON: {exc.msg} (column {exc.colno})",
                                      path=path, line=number) from exc
            except RecursionError:
                raise _too_deep(path, number, text) from None
            except ValueError as exc:  # a number too long to convert
                raise DataFormatError(f"invalid JSON: {exc}", path=path, line=number) from None
            return isinstance(first, dict) and "state" in first and "tactic" in first
    return False


def _too_deep(path: Path, line: int, text: str) -> DataFormatError:
    return DataFormatError("invalid JSON: nested too deeply to read", path=path, line=line,
                           field=_deep_field(text))


def _deep_field(text: str, depth: int = 200) -> str | None:
    """The top-level key of a JSON object line under which nesting passes ``depth``."""
    level, key, in_string, escaped, start = 0, None, False, False, 0
    for i, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
                if level == 1 and text[i + 1:].lstrip().startswith(":"):
                    key = text[start:i]
        elif char == '"':
            in_string, start = True, i + 1
        elif char in "[{":
            level += 1
            if level > depth:
                return key
        elif char in "]}":
            level -= 1
    return None


def _reraise_too_deep(exc: DataFormatError, path: Path) -> DataFormatError:
    """A too-deep line found by the readers: the same error, with its field."""
    if not isinstance(exc.__context__, RecursionError) or exc.line is None:
        return exc
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == exc.line:
                return _too_deep(path, number, raw.decode("utf-8", "replace"))
    return exc


def _load_trace_theorems(path: Path) -> list[Theorem]:
    from prover.backends.replay import ReplayEnvironment

    return ReplayEnvironment.from_jsonl(path).theorems()


def _load_theorem_file(path: Path, variant: str | None) -> tuple[list[Theorem], list[str]]:
    """The file's theorems, and the names of the records that lack ``variant``."""
    try:
        from prover.theorems import load_theorems
    except ImportError as exc:
        raise ConfigError(f"suite {path}: reading theorem files needs prover.theorems "
                          f"({exc})") from exc
    skipped: list[str] = []
    # load_theorems warns with the count and the first names; the suite keeps them all
    theorems = load_theorems(path, variant=variant, skip_missing_variant=True, skipped=skipped)
    return list(theorems), skipped


def _coq_stdlib(split: str) -> Suite:
    try:
        from benchmarks.coq_suite import load_coq_suite
    except ImportError as exc:
        raise ConfigError(f"suite 'coq-stdlib' needs benchmarks.coq_suite ({exc})") from exc
    return Suite(tuple(load_coq_suite(split=split)))


__all__ = ["NAMED_SUITES", "Suite", "load_suite", "resolve_suite_path"]
