"""Theorems from miniF2F-style JSONL files (one theorem per line), for both Lean backends.

A record holds ``name``, ``header`` (imports and options, run once per REPL process) and
``formal_statement`` (the theorem up to ``:= by``), all strings, and optionally ``leandojo``:
``{url, commit, file_path, full_name}``, what ``LeanGitRepo(url, commit)`` and
``lean_dojo.Theorem(repo, file_path, full_name)`` need. Other fields are ignored.

A statement that ends in ``sorry`` (``... := by sorry``, as statement files ship) loses it;
one that ends in a longer proof giving up with ``sorry`` is refused (DataFormatError).

The returned :class:`~prover.types.Theorem` has ``statement = formal_statement`` and a
``locator`` with ``header``, ``formal_statement`` and (when present) ``leandojo``.

``variant`` picks the same problem as stated for another toolchain, from the record's
``variants`` object (as in ``../shared/data/minif2f``): the variant's ``header`` /
``formal_statement`` replace the top-level ones, and a variant carrying ``url``, ``commit``,
``file_path`` and ``full_name`` becomes the ``leandojo`` locator (its ``statement``, given without
``:= by``, becomes the formal statement). miniF2F's top-level statements target Lean v4.24,
which LeanDojo 4.x cannot drive (LeanDojo#211); ``variant="lean_dojo_mew_v4.7.0"`` points
LeanDojo at a Lean v4.7.0 copy of the same problems. A few problems lack some variants (their
entry is ``null``): loading such a variant raises DataFormatError naming the record, unless
``skip_missing_variant=True`` leaves those problems out, with a warning that counts and names
them.

Records in LeanDojo's own style (``full_name``, ``statement``, ``url``, ``commit``,
``file_path``, as in InternLM-Math's miniF2F files) are read too: ``name`` is the full name,
the header is empty, and the fields become the ``leandojo`` locator.

A Coq theorem's context travels in the same record (read by the Coq backend, see
:mod:`prover.backends.coq_documents`): ``header`` (or ``prelude``, not both) holds the sentences
run before the statement (``Require Import Arith.``); ``coq_args`` a list of command-line flags;
``file`` (relative to the suite file) with ``index``, the statement's sentence index, a ``.v``
file to replay up to the statement (``formal_statement`` is then optional). Each is checked
here: a bad one is a DataFormatError naming the file, line and field.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from prover.backends.lean.source import ends_in_sorry, strip_trailing_sorry
from prover.errors import DataFormatError
from prover.traces import iter_jsonl
from prover.types import Theorem

logger = logging.getLogger(__name__)

LEANDOJO_FIELDS: tuple[str, ...] = ("url", "commit", "file_path", "full_name")
"""The fields of a record's ``leandojo`` object, all non-empty strings."""


def _string(obj: Mapping[str, Any], name: str, where: dict[str, Any], *, label: str = "",
            allow_empty: bool = False) -> str:
    field = label + name
    if name not in obj:
        raise DataFormatError("missing required field", field=field, **where)
    value = obj[name]
    if not isinstance(value, str):
        raise DataFormatError(f"expected a string, got {type(value).__name__}", field=field,
                              **where)
    if not allow_empty and not value.strip():
        raise DataFormatError("must not be empty", field=field, **where)
    return value


def _leandojo(obj: Any, where: dict[str, Any], label: str) -> dict[str, str]:
    if not isinstance(obj, Mapping):
        raise DataFormatError(f"expected an object, got {type(obj).__name__}",
                              field=label.rstrip("."), **where)
    locator = {name: _string(obj, name, where, label=label) for name in LEANDOJO_FIELDS}
    if not locator["file_path"].endswith(".lean"):
        raise DataFormatError(f"must name a .lean file, got {locator['file_path']!r}",
                              field=label + "file_path", **where)
    return locator


def _statement(obj: Mapping[str, Any], name: str, where: dict[str, Any], label: str = "") -> str:
    """The statement in field ``name``, without the ``sorry`` proof a file may carry
    (``... := by sorry`` becomes ``... := by``: sending it as is would give
    ``... := by sorry := by sorry``); a statement ending in a longer proof that gives up with
    ``sorry`` is refused."""
    statement = strip_trailing_sorry(_string(obj, name, where, label=label))
    if ends_in_sorry(statement):
        raise DataFormatError("the statement ends in a proof that uses `sorry`: give the "
                              "statement alone (up to `:= by`)", field=label + name, **where)
    return statement


def _tactic_opening(statement: str) -> str:
    """A LeanDojo-style statement (no ``:= by``) as a formal statement ending in ``:= by``."""
    text = statement.rstrip()
    if text.endswith(":= by"):
        return text
    return text + (" by" if text.endswith(":=") else " := by")


class MissingVariant(DataFormatError):
    """The record has no usable entry for the requested variant (absent or ``null``)."""


def theorem_from_record(record: Any, *, variant: str | None = None,
                        path: str | Path | None = None, line: int | None = None) -> Theorem:
    """Validate one decoded record and build its :class:`Theorem` (see the module docstring)."""
    where: dict[str, Any] = {"path": path, "line": line}
    if not isinstance(record, Mapping):
        raise DataFormatError(f"expected a JSON object, got {type(record).__name__}", **where)
    leandojo: dict[str, str] | None = None
    if "name" not in record and "full_name" in record:  # LeanDojo's own record style
        leandojo = _leandojo(record, where, "")
        name = leandojo["full_name"]
        header = _string(record, "header", where, allow_empty=True) if "header" in record else ""
        statement = _tactic_opening(_statement(record, "statement", where))
    else:
        name = _string(record, "name", where)
        header = _string(record, "header", where, allow_empty=True) \
            if "header" in record or "prelude" not in record else ""
        coq_file = "file" in record
        statement = _statement(record, "formal_statement", where) \
            if "formal_statement" in record or not coq_file else ""
        if record.get("leandojo") is not None:
            leandojo = _leandojo(record["leandojo"], where, "leandojo.")
    if variant is not None:
        variants = record.get("variants")
        field = f"variants.{variant}"
        if not isinstance(variants, Mapping) or variant not in variants:
            known = sorted(variants) if isinstance(variants, Mapping) else []
            raise MissingVariant(f"the record has no variant {variant!r} (it has "
                                 f"{', '.join(map(repr, known)) or 'none'})", field=field,
                                 **where)
        chosen = variants[variant]
        if chosen is None:
            raise MissingVariant(f"the record's variant {variant!r} is null: this problem has "
                                 "no such version", field=field, **where)
        if not isinstance(chosen, Mapping):
            raise DataFormatError(f"expected an object, got {type(chosen).__name__}",
                                  field=field, **where)
        label = f"{field}."
        if "header" in chosen:
            header = _string(chosen, "header", where, label=label, allow_empty=True)
        if "formal_statement" in chosen:
            statement = _statement(chosen, "formal_statement", where, label=label)
        elif "statement" in chosen:
            statement = _tactic_opening(_statement(chosen, "statement", where, label=label))
        if any(f in chosen for f in LEANDOJO_FIELDS):
            leandojo = _leandojo(chosen, where, label)
    locator: dict[str, Any] = {"header": header, "formal_statement": statement}
    if leandojo is not None:
        locator["leandojo"] = leandojo
    locator.update(_coq_context(record, where, header))
    return Theorem(name, statement=statement, locator=locator)


def _coq_context(record: Mapping[str, Any], where: dict[str, Any], header: str
                 ) -> dict[str, Any]:
    """The record's Coq fields (``prelude``, ``coq_args``, ``file`` + ``index``), checked."""
    out: dict[str, Any] = {}
    if "prelude" in record:
        out["prelude"] = _string(record, "prelude", where, allow_empty=True)
        if header.strip() and out["prelude"].strip():
            raise DataFormatError("give the sentences before the statement once: 'header' or "
                                  "'prelude', not both", field="prelude", **where)
    if "coq_args" in record:
        args = record["coq_args"]
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise DataFormatError(f"expected a list of strings (command-line flags), got "
                                  f"{args!r:.80}", field="coq_args", **where)
        out["coq_args"] = list(args)
    if "file" in record or "index" in record:
        file = _string(record, "file", where)
        index = record.get("index")
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise DataFormatError(f"expected the statement's sentence index (an integer >= 0), "
                                  f"got {index!r}", field="index", **where)
        path = Path(file).expanduser()
        if not path.is_absolute() and where.get("path") is not None:
            path = Path(where["path"]).resolve().parent / path
        if not path.is_file():
            raise DataFormatError(f"no such Coq file: {path}", field="file", **where)
        out["file"], out["index"] = str(path), index
    return out


def _records(path: str | Path) -> Iterator[tuple[int, Any]]:
    """``iter_jsonl`` with undecodable bytes reported as DataFormatError on their line."""
    try:
        yield from iter_jsonl(path)
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"not UTF-8 text ({exc.reason})", path=path,
                              line=_first_undecodable_line(path)) from exc


def _first_undecodable_line(path: str | Path) -> int | None:
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


def load_theorems(path: str | Path, *, variant: str | None = None,
                  skip_missing_variant: bool = False,
                  skipped: list[str] | None = None) -> list[Theorem]:
    """Read every theorem of a JSONL file, in file order.

    A malformed line, a missing or mistyped field, a duplicate name or an empty file raises
    :class:`DataFormatError` naming the file, the line and the field. With ``variant``, a
    record lacking that variant raises too, unless ``skip_missing_variant`` (then it is left
    out; miniF2F-valid's ``imo_2006_p3`` has no LeanDojo variant). Left-out records are never
    silent: a warning gives their count and first names, and ``skipped``, when given, receives
    their names (``line N`` for a record without one).
    """
    theorems: list[Theorem] = []
    seen: dict[str, int] = {}
    left_out: list[str] = []
    for line, record in _records(path):
        try:
            theorem = theorem_from_record(record, variant=variant, path=path, line=line)
        except MissingVariant:
            if not skip_missing_variant:
                raise
            left_out.append(_record_name(record, line))
            continue
        if theorem.name in seen:
            raise DataFormatError(f"duplicate theorem name {theorem.name!r} (first on line "
                                  f"{seen[theorem.name]})", path=path, line=line, field="name")
        seen[theorem.name] = line
        theorems.append(theorem)
    if not theorems:
        why = f" with variant {variant!r} ({len(left_out)} records lack it)" if left_out else ""
        raise DataFormatError(f"the file holds no theorems{why}", path=path)
    if left_out:
        shown = ", ".join(left_out[:5]) + (", ..." if len(left_out) > 5 else "")
        logger.warning("%s: %d of %d records have no variant %r and are left out: %s", path,
                       len(left_out), len(left_out) + len(theorems), variant, shown)
    if skipped is not None:
        skipped.extend(left_out)
    return theorems


def _record_name(record: Any, line: int) -> str:
    """What to call a left-out record in a warning: its name, or its line."""
    for key in ("name", "full_name"):
        value = record.get(key) if isinstance(record, Mapping) else None
        if isinstance(value, str) and value.strip():
            return value
    return f"line {line}"


__all__ = ["LEANDOJO_FIELDS", "MissingVariant", "load_theorems", "theorem_from_record"]
