"""Coq tactic layout (sentences, bullets, braces), structure stripping, and the linear scanner
(pure; no Coq needed)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from prover.backends.coq_layout import split_tactics, strip_structure
from prover.backends.coq_sentences import is_structure
from prover.generators.knn import KNNTacticGenerator
from prover.types import ProofState

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("text,expected", [
    ("intros n. simpl.", ["intros n.", "simpl."]),
    ("split. - auto. - exact I.", ["split.", "-", "auto.", "-", "exact I."]),
    ("split.\n  + auto.\n  + ++ trivial.", ["split.", "+", "auto.", "+", "++", "trivial."]),
    ("{ auto. } 2: { trivial. }", ["{", "auto.", "}", "2: {", "trivial.", "}"]),
    ("intros n.\n  induction n as [|n IH].\n  - reflexivity.\n  - simpl. rewrite IH. reflexivity.",
     ["intros n.", "induction n as [|n IH].", "-", "reflexivity.", "-", "simpl.",
      "rewrite IH.", "reflexivity."]),
    ("rewrite Nat.add_comm; auto", ["rewrite Nat.add_comm; auto"]),
    ("apply x.(f). exact (Coq.Init.Logic.I).", ["apply x.(f).", "exact (Coq.Init.Logic.I)."]),
    ('idtac "a. b". auto.', ['idtac "a. b".', "auto."]),
    ("split... auto.", ["split...", "auto."]),
    ("intros (* a. comment *) n.", ["intros n."]),
    ("   ", []),
])
def test_split_tactics_follows_coq_sentences_bullets_and_braces(text: str,
                                                                 expected: list[str]) -> None:
    assert split_tactics(text) == expected


@pytest.mark.parametrize("text", ["exact (* unterminated", 'idtac "open', "(* only *)"])
def test_text_that_cannot_be_split_with_confidence_is_one_tactic(text: str) -> None:
    assert split_tactics(text) == [text]


def test_text_over_the_cap_is_one_tactic() -> None:
    text = "idtac. " * 100
    assert split_tactics(text, max_chars=50) == [text.strip()]
    assert len(split_tactics(text, max_chars=10_000)) == 100


@pytest.mark.parametrize("sentence", ["-", "--", "+", "+++", "*", "**", "{", "}", "2: {",
                                      "2:{", "[x]: {", "Focus 2.", "Unfocus.", "Unfocused."])
def test_bullets_braces_and_focus_commands_are_structure(sentence: str) -> None:
    assert is_structure(sentence)
    assert strip_structure(sentence) == ""


@pytest.mark.parametrize("sentence", ["auto.", "- x = y.", "exact (- x).", "2: auto.",
                                      "all: trivial.", "split; [auto | trivial]."])
def test_tactics_are_not_structure(sentence: str) -> None:
    assert not is_structure(sentence)


def test_strip_structure_keeps_the_tactics_of_a_segment() -> None:
    assert strip_structure("split. - auto. - { exact I. }") == "split. auto. exact I."
    assert strip_structure("  auto.  ") == "auto."


async def test_knn_with_coq_structure_stripped_never_proposes_structure() -> None:
    state = "n : nat\n⊢ n + 0 = n"
    pairs = [(state, t) for t in ("-", "{", "}", "2: {", "Focus 1.", "+", "--", "*",
                                  "auto.", "simpl.", "- reflexivity.")]
    plain = KNNTacticGenerator(pairs)
    stripped = KNNTacticGenerator(pairs, normalize=strip_structure)
    assert len(stripped) == 3
    proposed = [c.tactic for c in await stripped.propose(ProofState((state,)), 8)]
    assert sorted(proposed) == ["auto.", "reflexivity.", "simpl."]
    assert any(is_structure(c.tactic) for c in await plain.propose(ProofState((state,)), 8))


_LINEAR = textwrap.dedent("""
    from prover.backends.coq_sentences import check_tactic, split_sentences
    size = 400_000
    one_sentence = ("simpl; " * size)[:size - 1] + "."
    texts = [one_sentence, ("auto. " * size)[:size], "(* " + "x" * size + " *) auto.",
             'idtac "' + "y" * size + '".', ("- " * size)[:size], "exact (" * (size // 7)]
    for text in texts:
        split_sentences(text)
    check_tactic(one_sentence)
    check_tactic('idtac "' + "y" * size + '".')
    print("done")
""")


@pytest.mark.slow
def test_sentence_splitting_and_the_tactic_check_finish_on_400_kb() -> None:
    # Quadratic before (8 KB: 0.5-1 s, 32 KB: 6-16 s, 400 KB: never); linear now, about 0.3 s
    # for all of these (timings in benchmarks/coq_sentences.py). The generous limit only
    # catches a return to quadratic time, which takes minutes here.
    done = subprocess.run([sys.executable, "-c", _LINEAR], cwd=REPO, capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "done"
