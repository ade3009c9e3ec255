"""The XML protocol of ``coqidetop`` (Coq 8.16), as pure functions: build calls, parse replies.

A reply is everything up to and including ``</value>``; ``<feedback>`` elements may come first
(messages such as ``Print Assumptions`` output or errors arrive that way). ``&nbsp;`` is not an
XML entity and is replaced before parsing. Goals come back as ``<goals>`` with four lists:
focused goals, background goals (one ``(before, after)`` pair per bullet/brace level), shelved
and given-up goals.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import escape

from prover.errors import EnvironmentCrashError

REPLY_END = b"</value>"

_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class Goal:
    """One goal: hypotheses (each ``name : type``) and conclusion, as plain text."""

    hyps: tuple[str, ...]
    concl: str

    def render(self) -> str:
        """``hyps\\n⊢ concl``, the format every backend uses."""
        return "\n".join((*self.hyps, f"⊢ {self.concl}"))


@dataclass(frozen=True)
class Goals:
    """The goals of an open proof.

    ``background`` holds one ``(before, after)`` pair per focus level, innermost first.
    """

    focused: tuple[Goal, ...]
    background: tuple[tuple[tuple[Goal, ...], tuple[Goal, ...]], ...] = ()
    shelved: tuple[Goal, ...] = ()
    given_up: tuple[Goal, ...] = ()

    @property
    def unfocused(self) -> tuple[Goal, ...]:
        """Background goals, innermost level first, each level's ``before`` then ``after``."""
        return tuple(g for before, after in self.background for g in (*before, *after))

    @property
    def open_count(self) -> int:
        """Focused plus background goals: every goal the proof still has to close."""
        return len(self.focused) + len(self.unfocused)


@dataclass(frozen=True)
class Reply:
    """A parsed reply: ``good`` or not, its ``<value>`` element, and the feedback messages
    (level, text) that arrived before it."""

    good: bool
    value: ET.Element
    messages: tuple[tuple[str, str], ...] = ()

    @property
    def error(self) -> str:
        """The failure text of a ``fail`` reply."""
        rich = self.value.find("richpp")
        text = _text(rich) if rich is not None else ""
        return text.strip()

    @property
    def fail_state(self) -> int | None:
        """The last good state named by a ``fail`` reply (``None`` if absent or 0)."""
        sid = self.value.find("state_id")
        if sid is None:
            return None
        value = int(sid.get("val", "0"))
        return value or None


def init_call() -> str:
    return '<call val="Init"><option val="none"/></call>'


def add_call(sentence: str, on_top: int) -> str:
    """Parse ``sentence`` after state ``on_top`` (only its first sentence is taken)."""
    return ('<call val="Add"><pair><pair><pair><pair>'
            f"<string>{escape(sentence)}</string><int>-1</int></pair>"
            f'<pair><state_id val="{on_top}"/><bool val="true"/></pair></pair>'
            "<int>0</int></pair><pair><int>0</int><int>0</int></pair></pair></call>")


def goal_call() -> str:
    """Run the document to its tip and return the goals."""
    return '<call val="Goal"><unit/></call>'


def edit_at_call(state_id: int) -> str:
    """Rewind the document to ``state_id`` (later states are discarded)."""
    return f'<call val="Edit_at"><state_id val="{state_id}"/></call>'


def status_call() -> str:
    """Ask for the prover's status (no side effect; absorbs a pending interrupt)."""
    return '<call val="Status"><bool val="false"/></call>'


def _text(element: ET.Element | None) -> str:
    return "".join(element.itertext()) if element is not None else ""


def parse_reply(raw: bytes) -> Reply:
    """Parse one reply (feedback elements followed by one ``<value>``)."""
    text = raw.decode("utf-8", errors="replace").replace("&nbsp;", " ")
    # Coq copies the characters of a sentence into its replies as they are, including those
    # XML 1.0 forbids (``idtac "\x01"``): ElementTree would reject the whole reply.
    text = _XML_INVALID.sub("\ufffd", text)
    try:
        root = ET.fromstring(f"<reply>{text}</reply>")
    except ET.ParseError as exc:
        raise EnvironmentCrashError(f"coqidetop sent malformed XML ({exc}): {text[:300]!r}"
                                    ) from exc
    value = root.find("value")
    if value is None:
        raise EnvironmentCrashError(f"coqidetop reply has no <value>: {text[:300]!r}")
    messages: list[tuple[str, str]] = []
    for feedback in root.iter("feedback"):
        content = feedback.find("feedback_content")
        if content is None or content.get("val") != "message":
            continue
        message = content.find("message")
        if message is None:
            continue
        level = message.find("message_level")
        messages.append((level.get("val", "") if level is not None else "",
                         _text(message.find("richpp")).strip()))
    return Reply(value.get("val") == "good", value, tuple(messages))


def added_state(reply: Reply) -> int:
    """The new state id in a good ``Add`` reply."""
    sid = reply.value.find("pair/state_id")
    if sid is None:
        raise EnvironmentCrashError("Add reply without a state id")
    return int(sid.get("val", "0"))


def init_state(reply: Reply) -> int:
    sid = reply.value.find("state_id")
    if sid is None:
        raise EnvironmentCrashError("Init reply without a state id")
    return int(sid.get("val", "0"))


def _goal(element: ET.Element) -> Goal:
    hyps_list = element.find("list")
    hyps = tuple(_text(h).strip() for h in (hyps_list if hyps_list is not None else []))
    concl = element.find("richpp")
    return Goal(hyps, _text(concl).strip())


def _goal_list(element: ET.Element | None) -> tuple[Goal, ...]:
    if element is None:
        return ()
    return tuple(_goal(g) for g in element.findall("goal"))


def parse_goals(reply: Reply) -> Goals | None:
    """The goals of a good ``Goal`` reply; ``None`` when no proof is open."""
    option = reply.value.find("option")
    if option is None or option.get("val") != "some":
        return None
    goals = option.find("goals")
    if goals is None:
        return None
    lists = goals.findall("list")
    while len(lists) < 4:
        lists.append(ET.Element("list"))
    focused = _goal_list(lists[0])
    background = tuple((_goal_list(pair.findall("list")[0]), _goal_list(pair.findall("list")[1]))
                       for pair in lists[1].findall("pair"))
    return Goals(focused, background, _goal_list(lists[2]), _goal_list(lists[3]))


__all__ = [
    "REPLY_END",
    "Goal",
    "Goals",
    "Reply",
    "add_call",
    "added_state",
    "edit_at_call",
    "goal_call",
    "init_call",
    "init_state",
    "parse_goals",
    "parse_reply",
    "status_call",
]
