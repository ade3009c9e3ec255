"""Lean source text: statements with a proof (or ``sorry``) attached, names, escapes.

Pure string functions shared by the Lean backends and :mod:`prover.theorems`; they read Lean
text only as far as they must (comments and strings blanked, keywords found at token
boundaries), never elaborate it.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence

from prover.backends.lean_layout import join_lean_tactics


def with_header(header: str, text: str) -> str:
    """``header`` then ``text``, on a line of its own even when the header has no final
    newline (``import Mathlib`` + ``theorem ...`` must not become ``import Mathlibtheorem``)."""
    if header and not header.endswith("\n"):
        header += "\n"
    return header + text


_TRAILING_SORRY = re.compile(r"(:=\s*(?:by\s+)?|(?<![\w.'])by\s+)sorry\s*$")
_ENDS_IN_SORRY = re.compile(r"(?<![\w.'])sorry\s*$")


def strip_trailing_sorry(statement: str) -> str:
    """The statement without a trailing ``sorry`` proof: ``... := by sorry`` (on one line or
    two) becomes ``... := by``, ``... := sorry`` becomes ``... :=``; anything else is returned
    unchanged. Files such as miniF2F's ship their statements that way."""
    match = _TRAILING_SORRY.search(statement)
    if match is None:
        return statement
    return statement[:match.start()] + match.group(1).rstrip()


def ends_in_sorry(statement: str) -> bool:
    """Whether the text's last token is ``sorry`` (a proof body, not a bare statement)."""
    return _ENDS_IN_SORRY.search(_without_comments_and_strings(statement)) is not None


def _opening(statement: str) -> str:
    text = strip_trailing_sorry(statement).rstrip()
    if text.endswith(":="):
        return text + " by"
    if text.endswith(" by") or text.endswith("\nby") or text == "by":
        return text
    return text + " := by"


def statement_with_sorry(statement: str) -> str:
    """The statement with ``sorry`` as its proof (``:= by`` added when missing; a ``sorry`` the
    statement already ends with is not doubled)."""
    return _opening(statement) + " sorry"


def statement_with_proof(statement: str, tactics: Sequence[str]) -> str:
    """The statement followed by the tactic proof, one tactic per (indented) line."""
    body = textwrap.indent(join_lean_tactics(tactics), "  ")
    return _opening(statement) + "\n" + body + "\n"


# Tokens that end a `by` block and start a top-level command, or give up on the proof. A proof
# found in tactic mode never holds them (the REPL parses each tactic to its end).
# The metaprogramming commands (elab_rules, macro_rules, run_cmd, attribute, ...) are here too:
# after the theorem they could rewrite how the `#print axioms` that is run next answers.
_PROOF_ESCAPES = re.compile(
    r"(?<![\w.'«@#])(#exit|#eval|theorem|lemma|def|example|abbrev|axiom|axioms|instance|opaque|"
    r"structure|class|inductive|namespace|section|end|mutual|import|elab|elab_rules|macro|"
    r"macro_rules|syntax|run_cmd|run_elab|run_meta|initialize|builtin_initialize|attribute|"
    r"sorry|admit)(?![\w'!?»])")

_CHAR_LITERAL = re.compile(r"'(?:\\.|[^\\'\n])'")


def _without_comments_and_strings(text: str) -> str:
    """``text`` with Lean comments (``--`` lines, nested ``/- -/``) and string literals blanked,
    so that a keyword inside them is not taken for code."""
    out: list[str] = []
    i, depth, n = 0, 0, len(text)
    while i < n:
        if depth:
            if text.startswith("/-", i):
                depth, i = depth + 1, i + 2
            elif text.startswith("-/", i):
                depth, i = depth - 1, i + 2
            else:
                i += 1
            continue
        if text.startswith("/-", i):
            depth, i = 1, i + 2
            out.append(" ")
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text[i] == "'" and (char := _CHAR_LITERAL.match(text, i)) is not None \
                and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] in "_'!?.")):
            i = char.end()  # a char literal such as '"' (a quote after a name is h', not this)
            out.append("' '")
        elif text[i] == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            out.append('""')
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def proof_escape(tactics: Sequence[str]) -> str | None:
    """The first token in ``tactics`` that would make the compiled text more than this
    theorem's tactic proof (a command keyword) or give up on it (``sorry``/``admit``), or
    ``None``. Comments and strings are ignored."""
    for tactic in tactics:
        match = _PROOF_ESCAPES.search(_without_comments_and_strings(tactic))
        if match is not None:
            return match.group(1)
    return None


# A Lean name: dot-separated atoms, each «quoted» or an identifier (a letter or _ first).
_NAME_ATOM = r"(?:«[^»\n]+»|[^\W\d][\w'!?]*)"
_DECLARED_NAME = re.compile(
    rf"(?<![\w.'«@#])(?:theorem|lemma)\s+({_NAME_ATOM}(?:\.{_NAME_ATOM})*)"
    r"(?:\.\{[^{}]*\})?(?=[\s(\[{⦃:]|$)")


def declared_theorem_name(statement: str) -> str | None:
    """The name of the theorem that ``statement`` ends with, as written (``foo``,
    ``Nat.foo``, ``«my thm»``; universe parameters dropped), or ``None`` when no
    ``theorem``/``lemma`` with a readable name is found (an ``example``, say).

    The proof completes the statement's last declaration, so the last ``theorem``/``lemma``
    outside comments and strings is the one; modifiers, attributes and ``open ... in`` before it
    do not matter.
    """
    matches = list(_DECLARED_NAME.finditer(_without_comments_and_strings(statement)))
    return matches[-1].group(1) if matches else None


__all__ = [
    "declared_theorem_name",
    "ends_in_sorry",
    "proof_escape",
    "statement_with_proof",
    "statement_with_sorry",
    "strip_trailing_sorry",
    "with_header",
]
