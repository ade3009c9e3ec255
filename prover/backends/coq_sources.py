"""The lemmas in Coq source files.

Sentences and the tactic check live in :mod:`prover.backends.coq_sentences` (re-exported here:
:func:`split_sentences`, :func:`check_tactic`, ...).

:func:`extract_lemmas` finds ``Lemma``/``Theorem``/``Fact``/``Corollary``/``Proposition``/
``Remark``/``Example`` statements proved by ``Proof. ... Qed.`` and counts every statement it
skipped, by reason. A Coq theorem is (file, index of its statement sentence): a session replays
the file's sentences up to and including the statement (and its ``Proof`` opener), as in CoqGym.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prover.backends.coq_sentences import (
    FORBIDDEN_TACTIC_WORDS,
    TACTIC_COMMANDS,
    VERNACULAR_KEYWORDS,
    Sentence,
    SentenceSplitError,
    check_tactic,
    forbidden_word,
    head_word,
    is_bullet_or_brace,
    split_sentences,
    vernacular_head,
    without_attributes,
)
from prover.types import Theorem

STATEMENT_KEYWORDS: frozenset[str] = frozenset(
    {"Lemma", "Theorem", "Fact", "Corollary", "Proposition", "Remark", "Example"})
"""Vernacular that opens a named statement the extractor keeps."""

PROOF_TERMINATORS: frozenset[str] = frozenset({"Qed", "Defined", "Admitted", "Abort", "Save"})

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_'.]*")


# ---- lemmas ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoqLemma:
    """A lemma with an interactive proof found in a source file.

    ``index`` is the statement's sentence index, ``opener`` the index of its ``Proof``
    sentence (or ``None``), ``steps`` the proof's sentences between the opener and ``Qed``.
    """

    name: str
    file: str
    index: int
    statement: str
    opener: int | None
    steps: tuple[str, ...]
    line: int = 1

    @property
    def prefix_end(self) -> int:
        """Number of file sentences a session replays: through the statement and opener."""
        return (self.opener if self.opener is not None else self.index) + 1

    def theorem(self, locator: dict[str, Any] | None = None) -> Theorem:
        """The :class:`Theorem` for this lemma; ``locator`` overrides the default file locator."""
        loc: dict[str, Any] = {"file": self.file, "index": self.index}
        if locator:
            loc.update(locator)
        return Theorem(self.name, statement=self.statement, locator=loc)


@dataclass
class Extraction:
    """The lemmas of one file and what was skipped, by reason."""

    file: str
    sentences: list[Sentence]
    lemmas: list[CoqLemma] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


def _statement_name(sentence: str) -> str | None:
    s = without_attributes(sentence)
    words = s.split(None, 2)
    while words and words[0] in ("Local", "Global", "Polymorphic", "Monomorphic", "Program"):
        s = s.split(None, 1)[1] if len(s.split(None, 1)) > 1 else ""
        words = s.split(None, 2)
    if len(words) < 2 or words[0] not in STATEMENT_KEYWORDS:
        return None
    m = _IDENT.match(words[1])
    return m.group(0) if m else None


def _opens_scope(sentence: str) -> tuple[str, str] | None:
    """``("module", name)`` / ``("section", name)`` when the sentence opens one."""
    words = sentence.rstrip(".").split()
    if not words:
        return None
    if words[0] == "Section" and len(words) >= 2:
        return ("section", words[1])
    if words[0] == "Module" and len(words) >= 2 and ":=" not in sentence:
        rest = [w for w in words[1:] if w not in ("Import", "Export", "Type")]
        if rest:
            m = _IDENT.match(rest[0])
            if m:
                return ("module", m.group(0))
    return None


def _is_proof_term(sentence: str) -> bool:
    words = sentence.rstrip(".").split()
    return len(words) > 1 and words[0] == "Proof" and words[1] not in ("with", "using")


def extract_lemmas(text: str, file: str, module: str = "") -> Extraction:
    """Find the lemmas of one file proved by ``Proof. ... Qed.``.

    ``module`` prefixes the names (e.g. ``Coq.Arith.PeanoNat``); modules opened in the file add
    to it. Skip reasons: ``defined`` (ends with ``Defined``), ``admitted``, ``aborted``,
    ``no interactive proof`` (a ``:=`` term or a ``Program`` statement), ``proof term``
    (``Proof t.``), ``vernacular in proof: X``, ``empty proof``, ``no end``.
    """
    sentences = split_sentences(text)
    result = Extraction(file, sentences)
    scopes: list[tuple[str, str]] = []
    seen: Counter[str] = Counter()
    i = 0
    while i < len(sentences):
        sentence = sentences[i].text
        opened = _opens_scope(sentence)
        if opened is not None:
            scopes.append(opened)
        elif head_word(sentence) == "End" and scopes:
            scopes.pop()
        name = _statement_name(sentence)
        if name is None:
            i += 1
            continue
        if head_word(sentence) == "Program" or sentence.startswith("Program"):
            result.skipped["no interactive proof"] += 1
            i += 1
            continue
        end = i + 1
        while end < len(sentences) and head_word(sentences[end].text) not in PROOF_TERMINATORS:
            if _statement_name(sentences[end].text) is not None or \
                    _opens_scope(sentences[end].text) is not None:
                break
            end += 1
        if end >= len(sentences) or head_word(sentences[end].text) not in PROOF_TERMINATORS:
            reason = "no end" if end >= len(sentences) else "no interactive proof"
            if i + 1 < len(sentences) and _is_proof_term(sentences[i + 1].text):
                reason = "proof term"  # ``Proof t.`` closes the proof by itself
            result.skipped[reason] += 1
            i += 1
            continue
        terminator = head_word(sentences[end].text)
        body = [s.text for s in sentences[i + 1:end]]
        opener: int | None = None
        if body and head_word(body[0]) == "Proof":
            if _is_proof_term(body[0]):
                result.skipped["proof term"] += 1
                i = end + 1
                continue
            opener = i + 1
            body = body[1:]
        if terminator != "Qed":
            reason = {"Defined": "defined", "Admitted": "admitted", "Abort": "aborted",
                      "Save": "save"}.get(terminator, terminator.lower())
            result.skipped[reason] += 1
            i = end + 1
            continue
        if not body:
            result.skipped["empty proof"] += 1
            i = end + 1
            continue
        bad = next((vernacular_head(s) for s in body if vernacular_head(s) is not None), None)
        if bad is not None:
            result.skipped[f"vernacular in proof: {bad}"] += 1
            i = end + 1
            continue
        if any(forbidden_word(s) for s in body):
            result.skipped["admit in proof"] += 1
            i = end + 1
            continue
        prefix = ".".join([module] + [n for kind, n in scopes if kind == "module"]).strip(".")
        full = f"{prefix}.{name}" if prefix else name
        seen[full] += 1
        if seen[full] > 1:
            full = f"{full}@{i}"
        result.lemmas.append(CoqLemma(full, file, i, sentence, opener, tuple(body),
                                      sentences[i].line))
        i = end + 1
    return result


def stdlib_module_name(path: Path, theories: Path) -> str:
    """``Coq.Arith.PeanoNat`` for ``<theories>/Arith/PeanoNat.v``."""
    rel = path.resolve().relative_to(theories.resolve()).with_suffix("")
    return ".".join(("Coq", *rel.parts))


__all__ = [
    "FORBIDDEN_TACTIC_WORDS",
    "PROOF_TERMINATORS",
    "STATEMENT_KEYWORDS",
    "TACTIC_COMMANDS",
    "VERNACULAR_KEYWORDS",
    "CoqLemma",
    "Extraction",
    "Sentence",
    "SentenceSplitError",
    "check_tactic",
    "extract_lemmas",
    "forbidden_word",
    "head_word",
    "is_bullet_or_brace",
    "split_sentences",
    "stdlib_module_name",
    "vernacular_head",
]
