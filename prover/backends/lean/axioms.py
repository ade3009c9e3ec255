"""One axiom policy for both Lean backends.

A proof counts only if every axiom it depends on (what Lean's ``#print axioms NAME`` lists)
is in ``allowed_axioms``; by default :data:`STANDARD_AXIOMS`. Both backends apply it at the step
where a proof is claimed, so that a step whose proof relies on another axiom (``native_decide``
brings ``Lean.ofReduceBool``) is a :class:`~prover.types.TacticError` and the search goes on;
``allowed_axioms=None`` turns the check off. How each backend gets the list differs (see
:mod:`prover.backends.repl` and :mod:`prover.backends.leandojo`); reading and judging it is here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from prover.errors import ConfigError

STANDARD_AXIOMS: frozenset[str] = frozenset({"propext", "Classical.choice", "Quot.sound"})
"""The axioms a proof may use by default: Lean's own, on which Mathlib's classical proofs rest.
``native_decide`` adds ``Lean.ofReduceBool`` (and, on recent Lean, ``Lean.trustCompiler``),
which trusts the compiler rather than the kernel; ``sorry`` is ``sorryAx``."""

AxiomPolicy = frozenset[str] | None
"""The axioms a proof may depend on; ``None``: not checked."""


def axiom_policy(value: Any, owner: str) -> AxiomPolicy:
    """``value`` validated as an ``allowed_axioms`` setting of ``owner`` (a class name)."""
    if value is None:
        return None
    # a bare string would be taken for its characters
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError(f"{owner}.allowed_axioms must be a set of axiom names or None, "
                          f"got {value!r}")
    names = frozenset(value)
    bad = sorted(repr(n) for n in names if not isinstance(n, str) or not n.strip())
    if bad:
        raise ConfigError(f"{owner}.allowed_axioms holds non-names: {', '.join(bad)}")
    if "sorryAx" in names:
        raise ConfigError(f"{owner}.allowed_axioms must not hold sorryAx: a proof that uses "
                          "sorry is never a proof")
    return names


_DEPENDS = re.compile(r"'(?P<name>.+)' depends on axioms: \[(?P<axioms>.*)\]", re.DOTALL)
_NO_AXIOMS = re.compile(r"'(?P<name>.+)' does not depend on any axioms", re.DOTALL)
_DEPENDS_IN = re.compile(r"'(?P<name>[^'\n]+)' depends on axioms: \[(?P<axioms>[^\]]*)\]")
_NO_AXIOMS_IN = re.compile(r"'(?P<name>[^'\n]+)' does not depend on any axioms")


def _split(axioms: str) -> frozenset[str]:
    return frozenset(a.strip() for a in axioms.split(",") if a.strip())


def parse_axioms(text: str) -> tuple[str, frozenset[str]] | None:
    """The constant and its axioms from the text of ``#print axioms``'s info message
    (``'foo' depends on axioms: [propext, Quot.sound]``, possibly wrapped over lines, or
    ``'foo' does not depend on any axioms``), or ``None`` if the text is neither."""
    text = text.strip()
    if (match := _NO_AXIOMS.fullmatch(text)) is not None:
        return match.group("name"), frozenset()
    if (match := _DEPENDS.fullmatch(text)) is not None:
        return match.group("name"), _split(match.group("axioms"))
    return None


def find_axioms(output: str) -> list[tuple[str, frozenset[str]]]:
    """Every ``#print axioms`` answer found in ``output``, text that may hold other messages
    too (LeanDojo's command mode prints every non-error message on its own lines)."""
    found = [(m.start(), m.group("name"), _split(m.group("axioms")))
             for m in _DEPENDS_IN.finditer(output)]
    found += [(m.start(), m.group("name"), frozenset()) for m in _NO_AXIOMS_IN.finditer(output)]
    return [(name, axioms) for _, name, axioms in sorted(found, key=lambda f: f[0])]


def names_match(printed: str, written: str) -> bool:
    """``#print axioms`` prints the full name: the written one, possibly under the namespace
    the header opened (or a private prefix)."""
    written = written.removeprefix("_root_.")
    return printed == written or printed.endswith("." + written)


def axioms_problem(answers: list[tuple[str, frozenset[str]]], declared: str,
                   allowed: frozenset[str], what: str) -> str | None:
    """Why the ``#print axioms declared`` answers (``what`` names the request in messages) do
    not let the proof count, or ``None`` when there is exactly one, for ``declared``, naming
    only ``allowed`` axioms."""
    if len(answers) != 1:
        return (f"the answer to {what} could not be read (expected one \"depends on axioms\" "
                f"message, found {len(answers)})")
    printed, axioms = answers[0]
    if not names_match(printed, declared):
        return f"{what} answered for another constant, {printed!r}"
    extra = axioms - allowed
    if extra:
        return (f"the proof depends on axioms beyond allowed_axioms: "
                f"{', '.join(sorted(extra))} (allowed: {', '.join(sorted(allowed)) or 'none'})")
    return None


__all__ = ["STANDARD_AXIOMS", "AxiomPolicy", "axiom_policy", "axioms_problem", "find_axioms",
           "names_match", "parse_axioms"]
