"""Theorems from miniF2F-style JSONL files (one theorem per line), for both Lean backends.

A record holds ``name``, ``header`` (imports and options, run once per REPL process) and
``formal_statement`` (the theorem up to ``:= by``), all strings, and optionally ``leandojo``:
``{url, commit, file_path, full_name}``, what ``LeanGitRepo(url, commit)`` and
``lean_dojo.Theorem(repo, file_path, full_name)`` need. Other fields are ignored.

The returned :class:`~prover.types.Theorem` has ``statement = formal_statement`` and a
``locator`` with ``header``, ``formal_statement`` and (when present) ``leandojo``.

``variant`` picks the same problem as stated for another toolchain, from the record's
``variants`` object (as in ``../shared/data/minif2f``): the variant's ``header`` /
``formal_statement`` replace the top-level ones, and a variant carrying ``url``, ``commit``,
``file_path`` and ``full_name`` becomes the ``leandojo`` locator (its ``statement``, given without
``:= by``, becomes the formal statement). miniF2F's top-level statements target Lean v4.24,
which LeanDojo 4.x cannot drive (LeanDojo#211); ``variant="lean_dojo_mew_v4.7.0"`` points
LeanDojo at a Lean v4.7.0 copy of the same problems.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prover.errors import DataFormatError
from prover.traces import iter_jsonl
from prover.types import Theorem

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


def theorem_from_record(record: Any, *, variant: str | None = None,
                        path: str | Path | None = None, line: int | None = None) -> Theorem:
    """Validate one decoded record and build its :class:`Theorem` (see the module docstring)."""
    where: dict[str, Any] = {"path": path, "line": line}
    if not isinstance(record, Mapping):
        raise DataFormatError(f"expected a JSON object, got {type(record).__name__}", **where)
    name = _string(record, "name", where)
    header = _string(record, "header", where, allow_empty=True)
    statement = _string(record, "formal_statement", where)
    leandojo: dict[str, str] | None = None
    if record.get("leandojo") is not None:
        leandojo = _leandojo(record["leandojo"], where, "leandojo.")
    if variant is not None:
        variants = record.get("variants")
        if not isinstance(variants, Mapping) or not isinstance(variants.get(variant), Mapping):
            raise DataFormatError(f"the record has no variant {variant!r}",
                                  field=f"variants.{variant}", **where)
        chosen = variants[variant]
        label = f"variants.{variant}."
        if "header" in chosen:
            header = _string(chosen, "header", where, label=label, allow_empty=True)
        if "formal_statement" in chosen:
            statement = _string(chosen, "formal_statement", where, label=label)
        elif "statement" in chosen:
            statement = _string(chosen, "statement", where, label=label).rstrip() + " := by"
        if any(f in chosen for f in LEANDOJO_FIELDS):
            leandojo = _leandojo(chosen, where, label)
    locator: dict[str, Any] = {"header": header, "formal_statement": statement}
    if leandojo is not None:
        locator["leandojo"] = leandojo
    return Theorem(name, statement=statement, locator=locator)


def load_theorems(path: str | Path, *, variant: str | None = None) -> list[Theorem]:
    """Read every theorem of a JSONL file, in file order.

    A malformed line, a missing or mistyped field, a duplicate name or an empty file raises
    :class:`DataFormatError` naming the file, the line and the field.
    """
    theorems: list[Theorem] = []
    seen: dict[str, int] = {}
    for line, record in iter_jsonl(path):
        theorem = theorem_from_record(record, variant=variant, path=path, line=line)
        if theorem.name in seen:
            raise DataFormatError(f"duplicate theorem name {theorem.name!r} (first on line "
                                  f"{seen[theorem.name]})", path=path, line=line, field="name")
        seen[theorem.name] = line
        theorems.append(theorem)
    if not theorems:
        raise DataFormatError("the file holds no theorems", path=path)
    return theorems


__all__ = ["LEANDOJO_FIELDS", "load_theorems", "theorem_from_record"]
