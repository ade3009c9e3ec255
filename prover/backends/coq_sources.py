"""Coq source files as sentences, and the lemmas in them.

:func:`split_sentences` cuts a ``.v`` file into the sentences Coq would run one ``Add`` at a
time: nested comments are dropped, strings kept verbatim, whitespace outside strings collapsed
to one space; a sentence ends at ``.`` or ``...`` followed by whitespace or the end of the text
(so qualified names like ``Nat.add_comm`` and projections like ``x.(f)`` stay inside); bullets
(``-``, ``+``, ``*``, also repeated) and braces (``{``, ``}``, ``2: {``) are sentences of their
own, because ``Add`` would run the bullet and silently drop the tactic behind it.

:func:`extract_lemmas` finds ``Lemma``/``Theorem``/``Fact``/``Corollary``/``Proposition``/
``Remark``/``Example`` statements proved by ``Proof. ... Qed.`` and counts every statement it
skipped, by reason. A Coq theorem is (file, index of its statement sentence): a session replays
the file's sentences up to and including the statement (and its ``Proof`` opener), as in CoqGym.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prover.errors import ConfigError
from prover.types import Theorem

STATEMENT_KEYWORDS: frozenset[str] = frozenset(
    {"Lemma", "Theorem", "Fact", "Corollary", "Proposition", "Remark", "Example"})
"""Vernacular that opens a named statement the extractor keeps."""

PROOF_TERMINATORS: frozenset[str] = frozenset({"Qed", "Defined", "Admitted", "Abort", "Save"})

# Vernacular that may appear at the head of a sentence. A candidate tactic whose head is one of
# these (or any other capitalised word not in TACTIC_COMMANDS) is refused before it reaches Coq.
VERNACULAR_KEYWORDS: frozenset[str] = frozenset("""
Abort About Add Admit Admitted Arguments Axiom Axioms Back BackTo Bind Canonical Cd Check Class
Close CoFixpoint CoInductive Coercion Collection Combined Comments Compute Conjecture Conjectures
Constraint Context Corollary Create Cumulative Declare Defined Definition Delimit Derive Drop
End Eval Example Existing Export Extract Extraction Fact Fail Fixpoint Focus Function Functional
Generalizable Global Goal Guarded Hint Hypotheses Hypothesis Identity Implicit Import Include
Inductive Infix Inspect Instance Lemma Let Load Local Locate Ltac Ltac2 Module Monomorphic
NonCumulative Notation Obligation Obligations Opaque Open Optimize Parameter Parameters Polymorphic
Preterm Primitive Print Program Proof Proposition Pwd Qed Quit Record Recursive Redirect Register
Remark Remove Require Reserved Reset Restart Save Scheme Scope Search SearchAbout SearchHead
SearchPattern SearchRewrite Section Separate Set Show Solve Strategy String Structure Succeed
Tactic Test Theorem Time Timeout Transparent Typeclasses Undelimit Undo Unfocus Unfocused
Universe Universes Unset Variable Variables Variant Debug Info Instructions Abstract Sort
""".split())
"""Words that start vernacular commands (be generous: they never start a tactic)."""

TACTIC_COMMANDS: frozenset[str] = frozenset({"Unshelve"})
"""Capitalised proof-mode commands that act like tactics and are allowed in proofs."""

FORBIDDEN_TACTIC_WORDS: frozenset[str] = frozenset({"admit", "give_up", "Admitted", "Admit",
                                                    "Abort", "Axiom", "Qed"})
"""Words that make a candidate unsound wherever they occur (``try admit``, ``solve [give_up]``)."""

_BULLET = re.compile(r"(-+|\++|\*+)")
_SELECTOR_BRACE = re.compile(r"(?:\d+|\[[^\]\s]+\])\s*:\s*\{")
_SELECTOR = re.compile(r"^(?:\d+(?:\s*-\s*\d+)?(?:\s*,\s*\d+(?:\s*-\s*\d+)?)*|all|par|!|\[[^\]]+\])"
                       r"\s*:\s*")
_ATTRIBUTE = re.compile(r"^#\[[^\]]*\]\s*")
_PAR_SELECTOR = re.compile(r"par\s*:")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_']*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_'.]*")
# C0 controls other than tab/newline/carriage return, DEL, C1 controls, surrogates, and the
# non-characters U+FFFE/U+FFFF: each is invalid (or discouraged) in the XML that carries a
# sentence to Coq and its echo back, and none has a use in a tactic.
_UNSENDABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class Sentence:
    """One Coq sentence: its text (comments dropped, spaces collapsed) and 1-based start line."""

    text: str
    line: int = 1


class SentenceSplitError(ValueError):
    """The text ends inside a comment or a string."""


def split_sentences(text: str) -> list[Sentence]:
    """Cut Coq source text into sentences (see the module docstring for the rules).

    Trailing text without a final ``.`` is returned as a last sentence, so callers can tell a
    candidate with two sentences from one with one. Raises :class:`SentenceSplitError` on an
    unterminated comment or string.
    """
    out: list[Sentence] = []
    buf: list[str] = []
    line = 1
    start_line = 1
    i, n = 0, len(text)

    def emit() -> None:
        sentence = "".join(buf).strip()
        buf.clear()
        if sentence:
            out.append(Sentence(sentence, start_line))

    def at_start() -> bool:
        return not "".join(buf).strip()

    while i < n:
        c = text[i]
        if c == "(" and text.startswith("(*", i):
            end = _skip_comment(text, i)
            line += text.count("\n", i, end)
            i = end
            if buf and not buf[-1].isspace():
                buf.append(" ")
            continue
        if c == '"':
            end = _skip_string(text, i)
            if at_start():
                start_line = line
            buf.append(text[i:end])
            line += text.count("\n", i, end)
            i = end
            continue
        if c.isspace():
            if c == "\n":
                line += 1
            if buf and not buf[-1].isspace():
                buf.append(" ")
            i += 1
            continue
        if at_start():
            start_line = line
            buf.clear()
            bullet = _BULLET.match(text, i)
            if bullet is not None and c in "-+*":
                buf.append(bullet.group(0))
                i = bullet.end()
                emit()
                continue
            if c in "{}":
                buf.append(c)
                i += 1
                emit()
                continue
            brace = _SELECTOR_BRACE.match(text, i)
            if brace is not None:
                buf.append(re.sub(r"\s+", " ", brace.group(0)))
                line += brace.group(0).count("\n")
                i = brace.end()
                emit()
                continue
        if c == ".":
            dots = i
            while dots < n and text[dots] == ".":
                dots += 1
            run = dots - i
            if run in (1, 3) and (dots == n or text[dots].isspace()):
                buf.append(text[i:dots])
                i = dots
                emit()
                continue
            buf.append(text[i:dots])
            i = dots
            continue
        buf.append(c)
        i += 1
    emit()
    return out


def _skip_comment(text: str, i: int) -> int:
    """Index just past the (nested) comment starting at ``i``; strings inside are skipped too,
    as Coq's lexer does."""
    depth = 0
    n = len(text)
    while i < n:
        if text.startswith("(*", i):
            depth += 1
            i += 2
        elif text.startswith("*)", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        elif text[i] == '"':
            i = _skip_string(text, i)
        else:
            i += 1
    raise SentenceSplitError("unterminated comment")


def _skip_string(text: str, i: int) -> int:
    """Index just past the string literal starting at ``i`` (``""`` escapes a quote)."""
    j = i + 1
    n = len(text)
    while j < n:
        if text[j] == '"':
            if j + 1 < n and text[j + 1] == '"':
                j += 2
                continue
            return j + 1
        j += 1
    raise SentenceSplitError("unterminated string")


def is_bullet_or_brace(sentence: str) -> bool:
    """Whether the sentence is a bullet (``-``, ``++``, ...), a brace, or ``N: {``."""
    s = sentence.strip()
    return (bool(_BULLET.fullmatch(s)) or s in ("{", "}")
            or bool(_SELECTOR_BRACE.fullmatch(s)))


def _without_attributes(sentence: str) -> str:
    """The sentence, stripped, without its leading attributes ``#[...]``."""
    s = sentence.strip()
    while True:
        m = _ATTRIBUTE.match(s)
        if m is None:
            break
        s = s[m.end():]
    return s


def head_word(sentence: str) -> str:
    """The command word of a sentence, past attributes ``#[...]`` and a goal selector."""
    s = _without_attributes(sentence)
    m = _SELECTOR.match(s)
    if m is not None:
        s = s[m.end():]
    word = _WORD.match(s)
    return word.group(0) if word else ""


def vernacular_head(sentence: str) -> str | None:
    """The vernacular word heading ``sentence``, or ``None`` if it reads as a tactic.

    Any capitalised head word counts as vernacular unless it is a qualified name (``Z.order``)
    or in :data:`TACTIC_COMMANDS`: tactics are lower-case in Coq, so this errs on the side of
    refusing (a user's capitalised Ltac is refused too).
    """
    s = sentence.strip()
    if s.startswith("#["):
        return "#[...]"
    word = head_word(s)
    if word in TACTIC_COMMANDS:
        return None
    if word in VERNACULAR_KEYWORDS:
        return word
    if word[:1].isupper():
        # A qualified Ltac name (``Z.order``, ``Nat.order``) is a tactic: commands never are.
        rest = _SELECTOR.sub("", s, count=1)
        qualified = _IDENT.match(rest)
        if qualified is None or "." not in qualified.group(0).rstrip("."):
            return word
    return None


def forbidden_word(sentence: str) -> str | None:
    """A word of :data:`FORBIDDEN_TACTIC_WORDS` occurring in ``sentence`` outside strings."""
    unquoted = re.sub(r'"(?:[^"]|"")*"', '""', sentence)
    for word in _WORD.findall(unquoted):
        if word in FORBIDDEN_TACTIC_WORDS:
            return word
    return None


def check_tactic(text: str) -> str:
    """Normalise a candidate to exactly one tactic sentence, or raise ``ValueError`` saying why.

    A missing final period is added (``auto`` -> ``auto.``); bullets and braces are accepted as
    they are. Vernacular, several sentences, ``admit``/``give_up``, the ``par:`` selector and
    control characters are refused. The result is a fixed point: checking it again returns it.
    """
    if not isinstance(text, str):
        raise ValueError(f"a tactic is a string, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise ValueError("empty tactic")
    bad_char = _UNSENDABLE.search(stripped)
    if bad_char is not None:
        # Coq echoes such characters back in its XML replies, which no XML parser accepts
        # (and lone surrogates cannot even be encoded): no tactic needs them.
        raise ValueError(f"control character {bad_char.group(0)!r} in the tactic")
    try:
        sentences = split_sentences(stripped)
    except SentenceSplitError as exc:
        raise ValueError(f"unparsable tactic: {exc}") from exc
    if not sentences:
        raise ValueError("empty tactic (only comments)")
    if len(sentences) > 1 and not is_bullet_or_brace(sentences[0].text):
        raise ValueError(f"expected one tactic sentence, got {len(sentences)}")
    if len(sentences) > 1:
        raise ValueError(f"expected one tactic sentence, got {len(sentences)} "
                         f"(a bullet or brace is a sentence of its own)")
    sentence = sentences[0].text
    if not is_bullet_or_brace(sentence) and not sentence.endswith("."):
        sentence += "."
    # Normalising (a period added, a comment replaced by a space) must leave one sentence
    # that reads the same again: ``exact I.(*c*)Defined.`` is one sentence to Coq (``.(`` is
    # a projection), but ``exact I. Defined.`` would be two. A checked sentence is a fixed
    # point, which is also what lets a state's path be re-checked when it is replayed.
    if [s.text for s in split_sentences(sentence)] != [sentence]:
        raise ValueError("expected one tactic sentence (it changes meaning once comments "
                         "are removed)")
    word = vernacular_head(sentence)
    if word is not None:
        raise ValueError(f"vernacular command {word!r} is not a tactic")
    if _PAR_SELECTOR.match(sentence):
        # ``par:`` hands the goals to worker processes, which Coq's ``Timeout`` does not stop.
        raise ValueError("the 'par:' selector is not allowed (it starts worker processes)")
    bad = forbidden_word(sentence)
    if bad is not None:
        raise ValueError(f"{bad!r} is not allowed in a proof")
    return sentence


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
    s = _without_attributes(sentence)
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


def theorems_of(lemmas: Iterable[CoqLemma], locator: dict[str, Any] | None = None
                ) -> list[Theorem]:
    """:class:`Theorem` values for lemmas (see :meth:`CoqLemma.theorem`)."""
    return [lemma.theorem(locator) for lemma in lemmas]


def prefix_sentences(sentences: Sequence[Sentence], lemma: CoqLemma) -> list[str]:
    """The sentences a session on ``lemma`` replays (through the statement and opener)."""
    if lemma.prefix_end > len(sentences):
        raise ConfigError(f"{lemma.file}: lemma {lemma.name} at sentence {lemma.index} is past "
                          f"the end of the file ({len(sentences)} sentences)")
    return [s.text for s in sentences[:lemma.prefix_end]]


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
    "prefix_sentences",
    "split_sentences",
    "stdlib_module_name",
    "theorems_of",
    "vernacular_head",
]
