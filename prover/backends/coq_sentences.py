"""Coq source text as sentences, and the check that a candidate is one allowed tactic.

:func:`split_sentences` cuts text into the sentences Coq would run one ``Add`` at a time: nested
comments are dropped, strings kept verbatim, whitespace outside strings collapsed to one space;
a sentence ends at ``.`` or ``...`` followed by whitespace or the end of the text (so qualified
names like ``Nat.add_comm`` and projections like ``x.(f)`` stay inside); bullets (``-``, ``+``,
``*``, also repeated) and braces (``{``, ``}``, ``2: {``) are sentences of their own, because
``Add`` would run the bullet and silently drop the tactic behind it.

Both :func:`split_sentences` and :func:`check_tactic` run in time linear in the text: the
scanner jumps between the characters that matter (whitespace, ``.``, ``"``, ``(*``) with one
compiled pattern and joins each sentence's pieces once (the first version re-joined the
sentence so far at every character: 32 KB took seconds, 400 KB never ended).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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

FOCUS_COMMANDS: frozenset[str] = frozenset({"Focus", "Unfocus", "Unfocused"})
"""Commands that only move the focus (old-style structure, like bullets and braces)."""

_BULLET = re.compile(r"(-+|\++|\*+)")
_SELECTOR_BRACE = re.compile(r"(?:\d+|\[[^\]\s]+\])\s*:\s*\{")
_SELECTOR = re.compile(r"^(?:\d+(?:\s*-\s*\d+)?(?:\s*,\s*\d+(?:\s*-\s*\d+)?)*|all|par|!|\[[^\]]+\])"
                       r"\s*:\s*")
_ATTRIBUTE = re.compile(r"^#\[[^\]]*\]\s*")
_PAR_SELECTOR = re.compile(r"par\s*:")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_']*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_'.]*")
_SPACES = re.compile(r"\s+")
_DOTS = re.compile(r"\.+")
# Where the scanner has something to decide: whitespace, a period, a string, a comment.
_SPECIAL = re.compile(r'[\s."]|\(\*')
_COMMENT_TOKEN = re.compile(r'\(\*|\*\)|"')
_QUOTED = re.compile(r'"(?:[^"]|"")*"')
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


class _Splitter:
    """The state of one :func:`split_sentences` run: the current sentence's pieces, lines."""

    __slots__ = ("line", "out", "parts", "start_line", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.out: list[Sentence] = []
        self.parts: list[str] = []  # empty exactly while no sentence has started
        self.line = 1
        self.start_line = 1

    def emit(self) -> None:
        sentence = "".join(self.parts).strip()
        self.parts.clear()
        if sentence:
            self.out.append(Sentence(sentence, self.start_line))

    def space(self) -> None:
        if self.parts and self.parts[-1] != " ":
            self.parts.append(" ")

    def structure_at(self, i: int) -> int:
        """At a sentence start: the end of a bullet or brace starting at ``i`` (emitted as a
        sentence of its own), or ``i`` when there is none."""
        text = self.text
        c = text[i]
        if c in "-+*":
            bullet = _BULLET.match(text, i)
            assert bullet is not None
            self.parts.append(bullet.group(0))
            self.emit()
            return bullet.end()
        if c in "{}":
            self.parts.append(c)
            self.emit()
            return i + 1
        if c.isdigit() or c == "[":
            brace = _SELECTOR_BRACE.match(text, i)
            if brace is not None:
                self.parts.append(_SPACES.sub(" ", brace.group(0)))
                self.line += brace.group(0).count("\n")
                self.emit()
                return brace.end()
        return i

    def run(self) -> list[Sentence]:
        text = self.text
        n = len(text)
        i = 0
        while i < n:
            c = text[i]
            if not self.parts and not c.isspace() and c not in '."' \
                    and not text.startswith("(*", i):
                self.start_line = self.line
                after = self.structure_at(i)
                if after != i:
                    i = after
                    continue
            special = _SPECIAL.search(text, i)
            j = special.start() if special is not None else n
            if j > i:  # ordinary characters: part of the sentence as they are
                self.parts.append(text[i:j])
                i = j
                continue
            if c == "(":  # a comment: dropped, it separates like a space
                end = _skip_comment(text, i)
                self.line += text.count("\n", i, end)
                self.space()
            elif c == '"':
                end = _skip_string(text, i)
                if not self.parts:
                    self.start_line = self.line
                self.parts.append(text[i:end])
                self.line += text.count("\n", i, end)
            elif c == ".":
                dots = _DOTS.match(text, i)
                assert dots is not None
                end = dots.end()
                if not self.parts:
                    self.start_line = self.line
                self.parts.append(dots.group(0))
                if end - i in (1, 3) and (end == n or text[end].isspace()):
                    self.emit()
            else:  # whitespace
                spaces = _SPACES.match(text, i)
                assert spaces is not None
                end = spaces.end()
                self.line += text.count("\n", i, end)
                self.space()
            i = end
        self.emit()
        return self.out


def split_sentences(text: str) -> list[Sentence]:
    """Cut Coq source text into sentences (see the module docstring for the rules).

    Trailing text without a final ``.`` is returned as a last sentence, so callers can tell a
    candidate with two sentences from one with one. Raises :class:`SentenceSplitError` on an
    unterminated comment or string. Linear in the length of ``text``.
    """
    return _Splitter(text).run()


def _skip_comment(text: str, i: int) -> int:
    """Index just past the (nested) comment starting at ``i``; strings inside are skipped too,
    as Coq's lexer does."""
    depth = 0
    while (token := _COMMENT_TOKEN.search(text, i)) is not None:
        i = token.end()
        if token.group(0) == "(*":
            depth += 1
        elif token.group(0) == "*)":
            depth -= 1
            if depth == 0:
                return i
        else:
            i = _skip_string(text, token.start())
    raise SentenceSplitError("unterminated comment")


def _skip_string(text: str, i: int) -> int:
    """Index just past the string literal starting at ``i`` (``""`` escapes a quote)."""
    j = i + 1
    while (j := text.find('"', j)) >= 0:
        if text.startswith('""', j):
            j += 2
            continue
        return j + 1
    raise SentenceSplitError("unterminated string")


def is_bullet_or_brace(sentence: str) -> bool:
    """Whether the sentence is a bullet (``-``, ``++``, ...), a brace, or ``N: {``."""
    s = sentence.strip()
    return (bool(_BULLET.fullmatch(s)) or s in ("{", "}")
            or bool(_SELECTOR_BRACE.fullmatch(s)))


def is_structure(sentence: str) -> bool:
    """Whether the sentence only structures a proof: a bullet, a brace, ``N: {``, or a focus
    command (``Focus``, ``Unfocus``): it proves nothing by itself."""
    s = sentence.strip()
    return is_bullet_or_brace(s) or head_word(s) in FOCUS_COMMANDS


def without_attributes(sentence: str) -> str:
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
    s = without_attributes(sentence)
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
    unquoted = _QUOTED.sub('""', sentence)
    for word in _WORD.findall(unquoted):
        if word in FORBIDDEN_TACTIC_WORDS:
            return str(word)
    return None


def check_tactic(text: str) -> str:
    """Normalise a candidate to exactly one tactic sentence, or raise ``ValueError`` saying why.

    A missing final period is added (``auto`` -> ``auto.``); bullets and braces are accepted as
    they are. Vernacular, several sentences, ``admit``/``give_up``, the ``par:`` selector and
    control characters are refused. The result is a fixed point: checking it again returns it.
    Linear in the length of ``text``.
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


__all__ = [
    "FOCUS_COMMANDS",
    "FORBIDDEN_TACTIC_WORDS",
    "TACTIC_COMMANDS",
    "VERNACULAR_KEYWORDS",
    "Sentence",
    "SentenceSplitError",
    "check_tactic",
    "forbidden_word",
    "head_word",
    "is_bullet_or_brace",
    "is_structure",
    "split_sentences",
    "vernacular_head",
    "without_attributes",
]
