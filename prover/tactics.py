"""Splitting multi-tactic candidates (segment-level policies emit several tactics at once)."""

from __future__ import annotations

import textwrap


def split_tactics(text: str) -> list[str]:
    """Split a candidate into the tactics it applies in order.

    Tactics are separated by newlines; a line that starts with whitespace continues the tactic
    above it (a Lean ``have ... := by`` block, a wrapped term), and blank lines are dropped.
    A one-line candidate gives a one-element list.
    """
    if "\n" not in text:  # the usual candidate; dedent's regexes cost as much as applying it
        stripped = text.strip()
        return [stripped] if stripped else []
    tactics: list[str] = []
    for line in textwrap.dedent(text.strip("\n")).split("\n"):
        if not line.strip():
            continue
        if tactics and line[:1].isspace():
            tactics[-1] += "\n" + line.rstrip()
        else:
            tactics.append(line.strip())
    return tactics


__all__ = ["split_tactics"]
