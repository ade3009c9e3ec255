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

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from benchmarks.specs import absolutize_spec, is_object_path, load_object
from prover.errors import ConfigError, DataFormatError, ProverError
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
    return absolutize_spec(spec)


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
    if _is_trace(path):
        if variant is not None:
            raise ConfigError(f"suite {spec!r}: a trace file has no variants")
        suite = Suite(tuple(_load_trace_theorems(path)), str(path))
    else:
        theorems, skipped = _load_theorem_file(path, variant)
        suite = Suite(tuple(theorems), skipped=tuple(skipped))
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


def _is_trace(path: Path) -> bool:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                first = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFormatError(f"invalid JSON: {exc.msg}", path=path, line=number) from exc
            return isinstance(first, dict) and "state" in first and "tactic" in first
    return False


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
