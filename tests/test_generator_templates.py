"""Prompt templates and goal-keeping truncation."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from prover.errors import ConfigError
from prover.generators.templates import (
    TEMPLATES,
    PromptTemplate,
    get_template,
    render_prompt,
    truncate_goals,
)

GOAL = "\n".join(f"h{i} : a{i} ≤ a{i + 1}" for i in range(50)) + "\n⊢ a0 ≤ a50"


def shorter_than(limit: int) -> Callable[[str], bool]:
    return lambda text: len(text) <= limit


def test_builtin_templates_render_and_cite_a_source() -> None:
    assert set(TEMPLATES) == {"state", "goal-proofstep", "bfs-prover", "internlm2.5-step-prover"}
    for template in TEMPLATES.values():
        assert template.source and "⊢ p" in template.render("⊢ p")
    assert TEMPLATES["goal-proofstep"].render("⊢ p") == "[GOAL]\n⊢ p\n[PROOFSTEP]\n"
    assert TEMPLATES["bfs-prover"].render("⊢ p") == "⊢ p:::"
    internlm = TEMPLATES["internlm2.5-step-prover"].render("⊢ p", name="thm", proof_before="")
    assert internlm.startswith("<|im_start|>user\n---\nNAME: thm\n\n")
    assert "---\nSTATE_BEFORE: ⊢ p\n\n---\nTACTIC: " in internlm
    assert internlm.endswith("<|im_start|>assistant\n")


def test_user_templates() -> None:
    template = get_template("Goal: {state}\nTactic:")
    assert template.render("⊢ {x}") == "Goal: ⊢ {x}\nTactic:"  # braces in states are data
    assert get_template(template) is template
    assert PromptTemplate("{{json}} {state}").render("s") == "{json} s"
    with pytest.raises(ConfigError, match=r"no \{state\} field"):
        PromptTemplate("{goal}")
    with pytest.raises(ConfigError, match="unknown fields"):
        PromptTemplate("{state} {premises}")
    with pytest.raises(ConfigError, match="not a valid format string"):
        PromptTemplate("{state} {")
    with pytest.raises(ConfigError, match="unknown template"):
        get_template("reprover-v9")


def test_a_state_that_fits_is_unchanged() -> None:
    assert truncate_goals([GOAL, "⊢ b"], shorter_than(10_000)) == GOAL + "\n\n⊢ b"


def test_trailing_goals_go_first() -> None:
    goals = ["h : p\n⊢ q", "⊢ second", "⊢ third"]
    assert truncate_goals(goals, shorter_than(22)) == "h : p\n⊢ q\n\n⊢ second"
    assert truncate_goals(goals, shorter_than(12)) == "h : p\n⊢ q"


def test_hypotheses_go_from_the_top_keeping_the_conclusion() -> None:
    for limit in (30, 100, 333, len(GOAL) - 1):
        text = truncate_goals([GOAL, "⊢ other"], shorter_than(limit))
        assert len(text) <= limit and GOAL.endswith(text) and text.endswith("⊢ a0 ≤ a50")
        assert text.startswith("h")  # whole lines only
        longer = GOAL[: len(GOAL) - len(text) - 1]
        previous_line = longer[longer.rfind("\n") + 1:]
        assert len(previous_line + "\n" + text) > limit  # the cut is as small as it can be


def test_a_long_conclusion_is_cut_from_the_left() -> None:
    goal = "h : p\n⊢ " + " ∧ ".join(f"q{i}" for i in range(100))
    text = truncate_goals([goal], shorter_than(40))
    assert len(text) == 40 and goal.endswith(text)
    assert truncate_goals([goal], lambda text: False) == ""


def test_multiline_conclusions_and_coq_goals_are_kept_whole() -> None:
    lean = "h1 : p\nh2 : q\n⊢ p ∧\n    q"
    assert truncate_goals([lean], shorter_than(14)) == "⊢ p ∧\n    q"
    coq = "n : nat\nH : n > 0\n============================\nn + 0 = n"
    assert truncate_goals([coq], shorter_than(12)) == "n + 0 = n"


def test_truncation_asks_few_questions() -> None:
    goal = "\n".join(f"h{i} : p{i}" for i in range(5000)) + "\n⊢ q"
    calls = 0

    def fits(text: str) -> bool:
        nonlocal calls
        calls += 1
        return len(text) <= 500

    assert truncate_goals([goal, "⊢ r"], fits).endswith("⊢ q")
    assert calls <= 30


def test_truncation_matches_a_brute_force_search() -> None:
    rng = random.Random(7)
    for _ in range(200):
        lines = [f"h{i} : " + "x" * rng.randint(0, 12) for i in range(rng.randint(0, 8))]
        goal = "\n".join([*lines, "⊢ " + "y" * rng.randint(0, 20)])
        limit = rng.randint(0, len(goal) + 2)
        starts = [0] + [i + 1 for i, ch in enumerate(goal) if ch == "\n"]
        whole_lines = [goal[s:] for s in starts if len(goal[s:]) <= limit]
        expected = whole_lines[0] if whole_lines else goal[len(goal) - limit:] if limit else ""
        assert truncate_goals([goal], shorter_than(limit)) == expected, (goal, limit)


def test_render_prompt_counts_the_whole_prompt() -> None:
    template = TEMPLATES["goal-proofstep"]
    prompt = render_prompt(template, [GOAL], 120, len)
    assert len(prompt) <= 120 and prompt.endswith("⊢ a0 ≤ a50\n[PROOFSTEP]\n")
    assert prompt.startswith("[GOAL]\nh")
    assert render_prompt(template, [GOAL], None, len) == template.render(GOAL)
