"""Lean 4 tactic layout: which lines of a multi-tactic candidate make up each tactic.

A segment-level policy emits several tactics at once, one per line, and a Lean tactic may span
lines. :func:`split_lean_tactics` cuts such text the way Lean's tactic-block parser would, with
the rules of issue 12 (DESIGN.md, "Tactic layout"). The *tactic column* is the column of the
first line of code. A line continues the tactic above when

- it lies inside a bracket still open (``()``, ``[]``, ``{}``, ``⟨⟩``, ``⦃⦄``, ``⟦⟧``, ...), a
  string literal or a block comment ``/- -/`` (nested, as Lean's are);
- it is indented further than the tactic column (the block of a ``have ... := by``, of a ``·``
  bullet, a wrapped term);
- it starts with ``|`` (``cases h with | inl ...``, ``match`` arms, ``first``), ``<;>``, ``_``
  (``calc`` steps), a keyword that cannot start a tactic (``then``, ``else``, ``at``, ``using``,
  ``with``, ``generalizing``, ``fun``, ...) or an infix operator (``=``, ``+``, ``∧``, ``<|``,
  ``.trans``, ...);
- the line above ends with something that needs more text: ``<;>``, ``by``, ``=>``, ``↦``,
  ``:=``, ``with``, ``,``, ``;``, ``:``, an infix operator, or a word such as ``exact`` or
  ``calc`` that needs an argument. When that word opens a tactic sequence (``by``, ``=>``,
  ``then``, ``else``, ``do``, ``classical``, ``all_goals``, ``try``, ..., or a line that is
  only a bullet ``·``) and the next line is *not* indented, Lean's sequence takes every
  following line of the block, so the rest of the text is that one tactic (LeanDojo records
  ``classical\\next s\\nrw [...]`` as one tactic), up to a blank line: there our layout
  ends the sequence (Lean's parser would go on: this is our convention, the separator
  :func:`join_lean_tactics` writes after such a tactic when another follows it).

A ``·`` (or ``.``) at the tactic column starts a new tactic whose indented block belongs to it;
any other line at the tactic column starts a new tactic. Comment-only lines go with the tactic
after them (with the one before them at the end). Blank lines are dropped (kept inside a string
literal) and the tactic column's indentation is removed.

Text that cannot be split with confidence is one tactic, the whole text: brackets that do not
match or are still open at the end, an unterminated string or comment, a line of code dedented
below the tactic column (outside brackets), a tab or other odd whitespace in an indentation.
The work is linear in the length of the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

_OPENERS = "([{⟨⦃⟦⁅⌊⌈‹«⟪⟮"
_CLOSERS = ")]}⟩⦄⟧⁆⌋⌉›»⟫⟯"
_MATCHING = dict(zip(_CLOSERS, _OPENERS))

# The tokens the lexer stops at outside literals; everything else is plain code. A raw string
# ``r"..."``/``r#"..."#`` starts only where ``r`` is not the end of an identifier.
_NORMAL = re.compile("--|/-|(?<![\\w'.!?])r#*\"|[\"'\n" + re.escape(_OPENERS + _CLOSERS) + "]")
_COMMENT = re.compile(r"/-|-/|\n")
_STRING = re.compile(r'\\[\s\S]|"|\n')
_CHAR = re.compile(r"'(?:\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|[^\n])|[^\\'\n])'")
_IDENT_CHAR = re.compile(r"[\w'!?]")

# Words that need more text after them when they end a line (non-absorbing), and words after
# which a tactic sequence follows (absorbing: a sequence at the same column takes the rest).
_CONT_WORDS = frozenset({"with", "at", "using", "in", "from", "fun", "λ", "exact", "apply",
                         "refine", "refine'", "show", "calc", "change", "use", "exists",
                         "generalizing", "says", "if", "match", "suffices", "obtain"})
_SEQ_WORDS = frozenset({"by", "then", "else", "do", "classical", "all_goals", "any_goals",
                        "focus", "try", "repeat", "repeat'", "with_reducible",
                        "with_reducible_and_instances", "with_unfolding_all"})
# A line that is only a bullet opens the bullet's tactic sequence.
_SEQ_LINES = frozenset({"·", "."})
# Line endings that need more text ('*' is not one: ``simp at *``; nor '-': ``rintro -``;
# nor '|': ``|x|``).
_CONT_ENDINGS = ("<;>", ":=", ",", ";", ":", "↦", "<|", "|>", "|>.", "$", "=", "≠", "≤", "≥",
                 "<", ">", "+", "/", "^", "∧", "∨", "↔", "→", "←", "∘", "•", "∣", "∈", "∉",
                 "⊆", "⊂", "⊇", "⊃", "∪", "∩", "×", "≡", "¬", "∀", "∃", "∑", "∏", "@", "▸")
# Words and characters that cannot start a tactic, so a line starting with one continues.
_START_WORDS = frozenset({"then", "else", "at", "using", "with", "generalizing", "in", "from",
                          "fun", "λ", "says"})
_START_CHARS = frozenset("|_=≠≤≥<>+-*/^∧∨↔→←↦∘•∣∈∉⊆⊂⊇⊃∪∩×≡$:∑∏∀∃¬▸%")
_WORD = re.compile(r"[\w'!?.]+")
_ENDING_WORDS = _CONT_WORDS | _SEQ_WORDS
_LONGEST_WORD = max(map(len, _ENDING_WORDS))


_NewLine = Callable[[bool, bool], None]
"""Called by the lexer at each newline: (the next line starts in a literal, in a string)."""


class _Unsure(Exception):
    """The text cannot be split with confidence: it is applied whole."""


def split_lean_tactics(text: str) -> list[str]:
    """The tactics ``text`` applies, in order, by Lean 4's layout (see the module docstring).

    Blank text gives ``[]``; one line gives ``[text.strip()]``; text that cannot be split with
    confidence gives one element, the whole text (blank lines and common indentation removed).

    >>> split_lean_tactics("cases h with\\n| inl h => simp\\n| inr h => simp\\nring")
    ['cases h with\\n| inl h => simp\\n| inr h => simp', 'ring']
    """
    if "\n" not in text:  # the usual candidate
        stripped = text.strip()
        return [stripped] if stripped else []
    lines = text.replace("\r\n", "\n").split("\n")
    try:
        masked, in_string, in_literal, depth = _lex("\n".join(lines))
    except _Unsure:
        return _whole(lines, [False] * len(lines))
    try:
        units, base = _layout(lines, masked.split("\n"), in_string, in_literal, depth)
    except _Unsure:
        return _whole(lines, in_string)
    return [_render(lines, unit, in_string, base) for unit in units]


def join_lean_tactics(tactics: Sequence[str]) -> str:
    """Tactics as one text that :func:`split_lean_tactics` splits back into them.

    The tactics are joined by newlines; after a tactic that ends inside a tactic sequence at
    its own column (``classical\\next s``, which would take the lines after it), a blank line
    ends that sequence. (Blank lines elsewhere are dropped by the split.)
    """
    parts: list[str] = []
    for index, tactic in enumerate(tactics):
        if index and _takes_next(tactics[index - 1]):
            parts.append("")
        parts.append(tactic)
    return "\n".join(parts)


def _takes_next(tactic: str) -> bool:
    """Whether the next tactic would join ``tactic`` unless a blank line separates them."""
    return (split_lean_tactics(tactic + "\nskip")[-1:] != ["skip"]
            and split_lean_tactics(tactic + "\n\nskip")[-1:] == ["skip"])


# ---- lexing ------------------------------------------------------------------------------------
def _lex(text: str) -> tuple[str, list[bool], list[bool], list[int]]:
    """Mask comments (spaces) and the contents of literals (``x``), keeping every newline.

    Returns the masked text and, per line, whether it starts inside a string literal, whether
    it starts inside any literal (string or comment), and the bracket depth at its start.
    Raises ``_Unsure`` on a closing bracket that does not match and on text that ends inside a
    bracket or a literal.
    """
    out: list[str] = []
    in_string = [False]
    in_literal = [False]
    depth = [0]
    stack: list[str] = []

    def newline(literal: bool, string: bool) -> None:
        in_literal.append(literal)
        in_string.append(string)
        depth.append(len(stack))

    i = 0
    while True:
        match = _NORMAL.search(text, i)
        if match is None:
            out.append(text[i:])
            break
        start, token = match.start(), match.group()
        out.append(text[i:start])
        i = match.end()
        if token == "\n":
            out.append("\n")
            newline(False, False)
        elif token == "--":
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            out.append(" " * (end - start))
            i = end
        elif token == "/-":
            out.append("  ")
            i = _skip_comment(text, i, out, newline)
        elif token.endswith('"'):
            out.append(token)
            if token.startswith("r"):
                i = _skip_raw_string(text, i, token.count("#"), out, newline)
            else:
                i = _skip_string(text, i, out, newline)
        elif token == "'":
            char = _CHAR.match(text, start)
            if char is None or (start and _IDENT_CHAR.match(text, start - 1)):
                out.append("'")  # a prime in a name (h', foo'), or a lone quote
            else:
                out.append("'" + "x" * (char.end() - start - 2) + "'")
                i = char.end()
        elif token in _OPENERS:
            stack.append(token)
            out.append(token)
        else:  # a closing bracket
            if not stack or stack.pop() != _MATCHING[token]:
                raise _Unsure
            out.append(token)
    if stack:
        raise _Unsure
    return "".join(out), in_string, in_literal, depth


def _skip_comment(text: str, i: int, out: list[str], newline: _NewLine) -> int:
    """Past the (nested) block comment whose ``/-`` ends at ``i``, masked with spaces."""
    level = 1
    while level:
        match = _COMMENT.search(text, i)
        if match is None:
            raise _Unsure  # an unterminated comment
        out.append(" " * (match.start() - i))
        i = match.end()
        if match.group() == "\n":
            out.append("\n")
            newline(True, False)
        else:
            out.append("  ")
            level += 1 if match.group() == "/-" else -1
    return i


def _skip_string(text: str, i: int, out: list[str], newline: _NewLine) -> int:
    """Past the string literal whose opening quote ends at ``i``, contents masked."""
    while True:
        match = _STRING.search(text, i)
        if match is None:
            raise _Unsure  # an unterminated string
        _mask(text[i:match.start()], out, newline)
        i = match.end()
        if match.group() == '"':
            out.append('"')
            return i
        _mask(match.group(), out, newline)  # an escape (a gap holds a newline), or a newline


def _skip_raw_string(text: str, i: int, hashes: int, out: list[str],
                     newline: _NewLine) -> int:
    """Past the raw string ``r#"..."#`` whose opening quote ends at ``i``."""
    close = '"' + "#" * hashes
    end = text.find(close, i)
    if end < 0:
        raise _Unsure
    _mask(text[i:end], out, newline)
    out.append(close)
    return end + len(close)


def _mask(chunk: str, out: list[str], newline: _NewLine) -> None:
    for index, piece in enumerate(chunk.split("\n")):
        if index:
            out.append("\n")
            newline(True, True)
        out.append("x" * len(piece))


# ---- layout ------------------------------------------------------------------------------------
def _layout(lines: list[str], masked: list[str], in_string: list[bool],
            in_literal: list[bool], depth: list[int]) -> tuple[list[list[int]], int]:
    """Group line indices into tactics; returns them and the tactic column. Raises
    ``_Unsure`` where Lean's grouping is not clear."""
    units: list[list[int]] = []
    pending: list[int] = []  # comment-only lines waiting for the tactic after them
    target = pending  # where the line above went (a line inside a literal goes there too)
    base: int | None = None
    previous = ""  # the last line of code so far, masked and stripped
    absorbing = False
    for index, (line, code) in enumerate(zip(lines, masked)):
        if in_literal[index] and (in_string[index] or target is not pending
                                  or not code.strip()):
            # inside a comment or string: it goes where the line above went
            if line.strip() or in_string[index]:
                target.append(index)
            if code.strip():
                previous = code.strip()  # (a string's contents are masked)
            continue
        # (else: code after a comment that no tactic holds yet starts one, below)
        if not line.strip():
            absorbing = False  # (the separator join_lean_tactics writes after such a tactic)
            continue
        stripped = code.strip()
        if not stripped:  # a comment and nothing else
            if units and (absorbing or depth[index] or _continues(previous, "")
                          or _indent(line, line) > (base or 0)):
                units[-1].extend([*pending, index])
                target, pending = units[-1], []
            else:
                pending.append(index)
                target = pending
            continue
        column = _indent(line, code)
        joined = True
        if base is None:
            base, joined = column, False
        elif depth[index] or absorbing or column > base:
            pass
        elif column < base:
            raise _Unsure  # dedented below the tactic column
        elif _continues(previous, stripped):
            absorbing = _opens_sequence(previous)
        else:
            joined = False
        if joined:
            units[-1].extend([*pending, index])
        else:
            units.append([*pending, index])
        target, pending = units[-1], []
        previous = stripped
    if pending:  # trailing comments go with the last tactic (only comments: one "tactic")
        if units:
            units[-1].extend(pending)
        else:
            units.append(pending)
    return units, base or 0


def _indent(line: str, code: str) -> int:
    """The column of the line's first code token; odd whitespace before it is ``_Unsure``."""
    lead = len(line) - len(line.lstrip())
    if line[:lead].strip(" "):
        raise _Unsure  # a tab (Lean refuses them) or other whitespace in an indentation
    return len(code) - len(code.lstrip())


def _continues(previous: str, line: str) -> bool:
    """Whether a line at the tactic column (``line``, masked and stripped; "" for a comment)
    continues the tactic whose last line of code is ``previous``."""
    if previous.endswith(_CONT_ENDINGS) or previous in _SEQ_LINES:
        return True
    if _last_word(previous) in _ENDING_WORDS:
        return True
    if not line or line[0] == "·" or (line[0] == "." and line[1:2] in ("", " ")):
        return False  # a bullet starts a new tactic
    if line[0] in _START_CHARS or line[0] == ".":
        return True
    head = _WORD.match(line)
    return head is not None and head.group() in _START_WORDS


def _opens_sequence(previous: str) -> bool:
    """Whether ``previous`` ends by opening a tactic sequence (which then takes the rest of
    the block when the block is not indented)."""
    if previous.endswith("=>") or previous in _SEQ_LINES:
        return True
    return _last_word(previous) in _SEQ_WORDS


def _last_word(line: str) -> str:
    """The name or keyword that ends ``line`` ("" when it is longer than any keyword, part of
    a dotted name, or absent); looks at a bounded tail so that the work stays linear."""
    start = len(line)
    while start and _IDENT_CHAR.match(line, start - 1):
        start -= 1
        if len(line) - start > _LONGEST_WORD:
            return ""
    if start and line[start - 1] == ".":
        return ""
    return line[start:]


# ---- output ------------------------------------------------------------------------------------
def _render(lines: list[str], unit: list[int], in_string: list[bool], base: int) -> str:
    """The unit's lines, each less up to ``base`` leading spaces (not inside a string)."""
    out: list[str] = []
    for position, index in enumerate(unit):
        line = lines[index]
        if not in_string[index]:
            line = line[min(base, len(line) - len(line.lstrip(" "))):]
        if position + 1 == len(unit) or not in_string[unit[position + 1]]:
            line = line.rstrip()  # (trailing spaces before a string's next line are its own)
        out.append(line)
    return "\n".join(out)


def _whole(lines: list[str], in_string: list[bool]) -> list[str]:
    """The text as one tactic: blank lines dropped, the common indentation removed."""
    kept = [i for i, line in enumerate(lines) if line.strip() or in_string[i]]
    leads = [lines[i][:len(lines[i]) - len(lines[i].lstrip())] for i in kept
             if not in_string[i]]
    size = 0
    if leads:  # the common prefix of all is that of the first and last in sorted order
        low, high = min(leads), max(leads)
        while size < len(low) and low[size] == high[size]:
            size += 1
    text = _render([line[size:] if not in_string[i] else line
                    for i, line in enumerate(lines)], kept, in_string, 0).strip()
    return [text] if text else []


__all__ = ["join_lean_tactics", "split_lean_tactics"]
