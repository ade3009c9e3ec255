"""A training unit's tactics as one text, by the layout rules of the data's language.

A segment's output is its tactics joined so that the backend of that language splits the text
back into them (``Session.split_tactics``): Lean layout
(:mod:`prover.backends.lean_layout`) for LeanDojo steps and traces, Coq sentences
(:func:`prover.backends.coq_sources.split_sentences`) for Coq steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from prover.backends.coq_sources import SentenceSplitError, split_sentences
from prover.backends.lean_layout import join_lean_tactics, split_lean_tactics

Language = Literal["lean", "coq"]
LANGUAGES: tuple[str, ...] = ("lean", "coq")


def language_of(source: str) -> Language:
    """The language of a trajectory's tactics from its source format (``"coq"`` for Coq step
    records; LeanDojo steps, benchmark records and traces are Lean)."""
    return "coq" if source == "coq" else "lean"


def join_tactics(tactics: Sequence[str], language: Language) -> str:
    """The tactics as one candidate text, one per line (Lean: see
    :func:`~prover.backends.lean_layout.join_lean_tactics`)."""
    if language == "coq":
        return "\n".join(tactics)
    return join_lean_tactics(tactics)


def split_tactics(text: str, language: Language) -> list[str]:
    """The tactics a backend of ``language`` applies for ``text``: Lean layout, or Coq
    sentences (text Coq cannot cut, an unterminated comment or string, is one element)."""
    if language == "coq":
        try:
            return [sentence.text for sentence in split_sentences(text)]
        except SentenceSplitError:
            stripped = text.strip()
            return [stripped] if stripped else []
    return split_lean_tactics(text)


__all__ = ["LANGUAGES", "Language", "join_tactics", "language_of", "split_tactics"]
