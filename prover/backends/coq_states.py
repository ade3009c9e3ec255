"""Coq proof states: the handle that rebuilds a state, its key, and the sentences around it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from prover.backends import coq_xml as xml
from prover.backends.coq_sentences import is_bullet_or_brace
from prover.types import ProofState


@dataclass(frozen=True)
class CoqHandle:
    """What a state needs to be rebuilt: its session and the tactic path from the root.

    ``markers`` is the stack of open bullets/braces, innermost last (part of the state key).
    """

    owner: int
    path: tuple[str, ...]
    markers: tuple[str, ...] = ()


def update_markers(markers: tuple[str, ...], sentence: str, levels: int) -> tuple[str, ...]:
    """The bullet/brace stack after ``sentence``, cut or padded to Coq's ``levels``."""
    s = sentence.strip()
    if is_bullet_or_brace(s) and s != "}":
        mark = "{" if s.endswith("{") else s
        stack = list(markers)
        if mark != "{" and mark in stack:
            del stack[stack.index(mark) + 1:]
        else:
            stack.append(mark)
        markers = tuple(stack)
    elif s == "}":
        stack = list(markers)
        while stack and stack[-1] != "{":
            stack.pop()
        markers = tuple(stack[:-1])
    if len(markers) > levels:
        markers = markers[:levels]
    return markers + ("?",) * (levels - len(markers))


def make_state(goals: xml.Goals, owner: int, path: tuple[str, ...],
               markers: tuple[str, ...] = ()) -> ProofState:
    """The :class:`ProofState` for Coq goals: focused then background (then shelved when
    nothing else is left); the key adds the focus structure when there is one."""
    shown = goals.focused + goals.unfocused
    if not shown:
        shown = goals.shelved
    texts = tuple(g.render() for g in shown)
    pp = "\n\n".join(texts)
    levels = tuple((len(b), len(a)) for b, a in goals.background)
    key = pp
    if levels or goals.shelved:
        structure = ",".join(f"{b}+{a}" for b, a in levels)
        key = (f"{pp}\n\n(* focused {len(goals.focused)}; background {structure}; "
               f"bullets {' '.join(markers)}; shelved {len(goals.shelved)} *)")
    return ProofState(texts, key=key, handle=CoqHandle(owner, path, markers))


def timed(sentence: str, seconds: int) -> str:
    """``Timeout seconds sentence``; bullets and braces cannot take a prefix and are instant."""
    if is_bullet_or_brace(sentence):
        return sentence
    return f"Timeout {seconds} {sentence}"


def closing_braces(sentences: Sequence[str]) -> list[str]:
    """The ``}`` sentences that close the braces ``sentences`` leaves open."""
    depth = 0
    for sentence in sentences:
        if sentence.endswith("{") and is_bullet_or_brace(sentence):
            depth += 1
        elif sentence == "}":
            depth -= 1
    return ["}"] * max(depth, 0)


__all__ = ["CoqHandle", "closing_braces", "make_state", "timed", "update_markers"]
