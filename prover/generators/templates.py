"""Prompt templates per model family, and truncation of long states that keeps the goal.

A template is a :meth:`str.format` string with a ``{state}`` field (and optionally ``{name}`` and
``{proof_before}``, which the search does not know and leaves empty); literal braces are doubled.
Pure functions only: tokenizers are passed in as a ``fits`` predicate.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from prover.errors import ConfigError

FIELDS = frozenset({"state", "name", "proof_before"})
"""Fields a template may use; only ``state`` is required."""


@dataclass(frozen=True)
class PromptTemplate:
    """How a proof state becomes a model prompt.

    ``text`` is a :meth:`str.format` template with a ``{state}`` field; ``name`` identifies it in
    logs and specs; ``source`` says where the format comes from.
    """

    text: str
    name: str = "custom"
    source: str = ""

    def __post_init__(self) -> None:
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(self.text) if f is not None}
        except ValueError as exc:
            raise ConfigError(f"template {self.name!r} is not a valid format string: {exc}"
                              ) from exc
        if "state" not in fields:
            raise ConfigError(f"template {self.name!r} has no {{state}} field: {self.text!r}")
        unknown = fields - FIELDS
        if unknown:
            raise ConfigError(f"template {self.name!r} uses unknown fields {sorted(unknown)}; "
                              f"allowed: {sorted(FIELDS)} (double literal braces: '{{{{')")

    def render(self, state: str, *, name: str = "", proof_before: str = "") -> str:
        """The prompt for ``state``."""
        return self.text.format(state=state, name=name, proof_before=proof_before)


TEMPLATES: Mapping[str, PromptTemplate] = {
    t.name: t for t in (
        PromptTemplate(
            "{state}", "state",
            "ReProver's ByT5 generator reads the bare state (lean-dojo/ReProver "
            "generator/model.py, HuggingFaceGenerator template '%s')"),
        PromptTemplate(
            "[GOAL]\n{state}\n[PROOFSTEP]\n", "goal-proofstep",
            "ReProver's VllmGenerator (lean-dojo/ReProver generator/model.py) and DoBeVi "
            "(NJUDeepEngine/llm_based_atp)"),
        PromptTemplate(
            "{state}:::", "bfs-prover",
            "BFS-Prover-V1/V2 model cards (huggingface.co/ByteDance-Seed/BFS-Prover-V2-7B): "
            "input '{state}:::'"),
        PromptTemplate(
            "<|im_start|>user\n---\nNAME: {name}\n\n---\nPROOF_BEFORE: {proof_before}\n\n"
            "---\nSTATE_BEFORE: {state}\n\n---\nTACTIC: <|im_end|>\n<|im_start|>assistant\n",
            "internlm2.5-step-prover",
            "input template of the InternLM2.5-StepProver model card "
            "(huggingface.co/internlm/internlm2_5-step-prover) inside InternLM2's ChatML turns"),
    )
}
"""Built-in templates by name."""


def get_template(template: str | PromptTemplate) -> PromptTemplate:
    """A built-in template by name, a :class:`PromptTemplate`, or a format string with
    ``{state}`` (a user template)."""
    if isinstance(template, PromptTemplate):
        return template
    if template in TEMPLATES:
        return TEMPLATES[template]
    if "{state}" in template:
        return PromptTemplate(template)
    raise ConfigError(f"unknown template {template!r}: use one of {sorted(TEMPLATES)} or a "
                      "format string with a {state} field")


def _conclusion_start(goal: str) -> int:
    """Where the conclusion of one goal starts: the line holding ``⊢`` (Lean), else the last
    line (Coq prints hypotheses above a bar, then the conclusion)."""
    turnstile = goal.rfind("⊢")
    if turnstile >= 0:
        return goal.rfind("\n", 0, turnstile) + 1
    stripped = goal.rstrip("\n")
    return stripped.rfind("\n") + 1


def _first_fitting(count: int, fits: Callable[[int], bool]) -> int | None:
    """The smallest ``i`` in ``range(count)`` with ``fits(i)``, assuming ``fits`` is monotone
    (false then true); ``None`` if none fits."""
    lo, hi = 0, count
    while lo < hi:
        mid = (lo + hi) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo if lo < count else None


def truncate_goals(goals: Sequence[str], fits: Callable[[str], bool]) -> str:
    """The longest rendering of ``goals`` that ``fits``, cut so that the main goal survives.

    Tactics act on the first goal, and a Lean goal ends with its ``⊢`` conclusion, so the cuts
    are, in order: drop trailing goals (keeping the first), drop hypothesis lines of the first
    goal from the top, then drop characters from the left of what remains. ``fits`` says whether
    a state text is short enough (e.g. its prompt's token count is under a limit) and is assumed
    monotone in the text's length; it is called O(log n) times. Returns ``""`` when not even an
    empty state fits.
    """
    full = "\n\n".join(goals)
    if fits(full):
        return full
    if len(goals) > 1:
        # Keep j goals, j = len-1 .. 1; index 0 keeps the most.
        n = len(goals) - 1
        kept = _first_fitting(n, lambda i: fits("\n\n".join(goals[: n - i])))
        if kept is not None:
            return "\n\n".join(goals[: n - kept])
    main = goals[0] if goals else ""
    conclusion = _conclusion_start(main)
    line_starts = [0] + [i + 1 for i, ch in enumerate(main[:conclusion]) if ch == "\n"]
    line_starts = sorted(set(line_starts) | {conclusion})
    cut = _first_fitting(len(line_starts), lambda i: fits(main[line_starts[i]:]))
    if cut is not None:
        return main[line_starts[cut]:]
    offsets = range(conclusion, len(main) + 1)
    cut = _first_fitting(len(offsets), lambda i: fits(main[offsets[i]:]))
    return main[offsets[cut]:] if cut is not None else ""


def render_prompt(template: PromptTemplate, goals: Sequence[str], max_tokens: int | None = None,
                  count_tokens: Callable[[str], int] | None = None) -> str:
    """The prompt for a state's ``goals``, cut by :func:`truncate_goals` so that the whole
    prompt counts at most ``max_tokens`` by ``count_tokens`` (no cut when either is ``None``)."""
    if max_tokens is None or count_tokens is None:
        return template.render("\n\n".join(goals))
    limit = max_tokens

    def fits(text: str) -> bool:
        return count_tokens(template.render(text)) <= limit

    return template.render(truncate_goals(goals, fits))


__all__ = ["FIELDS", "TEMPLATES", "PromptTemplate", "get_template", "render_prompt",
           "truncate_goals"]
