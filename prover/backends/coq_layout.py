"""Coq's tactic layout: how a candidate's text splits into tactics, and what is only structure.

A Coq candidate applies its sentences in order (:func:`split_tactics`): ``intros. - auto.``
is ``intros.``, ``-``, ``auto.``; bullets and braces are sentences of their own, as Coq runs
them. Text that cannot be split with confidence (an unterminated comment or string, or text
too long to be a tactic) is one tactic, which the session then judges whole (and refuses).

Bullets, braces and focus commands are structure, not tactics (:func:`strip_structure`): a
learned generator must not propose them; the session places them where a proof needs them.
"""

from __future__ import annotations

from prover.backends.coq_sentences import SentenceSplitError, is_structure, split_sentences


def split_tactics(text: str, max_chars: int | None = None) -> list[str]:
    """The tactic sentences of ``text``, in order (see the module docstring); ``[]`` for blank
    text. Text longer than ``max_chars`` is returned whole, unsplit."""
    stripped = text.strip()
    if not stripped:
        return []
    if max_chars is not None and len(stripped) > max_chars:
        return [stripped]
    try:
        sentences = split_sentences(stripped)
    except SentenceSplitError:
        return [stripped]
    return [s.text for s in sentences] or [stripped]


def strip_structure(text: str) -> str:
    """``text`` without its bullets, braces and focus commands (sentences joined by a space);
    ``""`` when nothing else is left. Text that does not split is returned stripped."""
    try:
        sentences = split_sentences(text)
    except SentenceSplitError:
        return text.strip()
    return " ".join(s.text for s in sentences if not is_structure(s.text))


__all__ = ["split_tactics", "strip_structure"]
