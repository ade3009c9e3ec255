"""The Coq sentence splitter, the tactic checker and the lemma extractor (pure; no Coq needed)."""

from __future__ import annotations

import pytest

from prover.backends.coq_sources import (
    SentenceSplitError,
    check_tactic,
    extract_lemmas,
    is_bullet_or_brace,
    split_sentences,
    vernacular_head,
)


def texts(source: str) -> list[str]:
    return [s.text for s in split_sentences(source)]


def test_qualified_names_and_projections_do_not_end_a_sentence() -> None:
    assert texts("rewrite Nat.add_comm. apply x.(f).\nexact (Coq.Init.Logic.I).") == [
        "rewrite Nat.add_comm.", "apply x.(f).", "exact (Coq.Init.Logic.I)."]


def test_nested_comments_with_strings_are_dropped() -> None:
    source = 'intros. (* a (* nested . *) "*) still comment. " *) auto.\n(*x*)simpl.'
    assert texts(source) == ["intros.", "auto.", "simpl."]


def test_strings_keep_periods_quotes_and_spaces() -> None:
    source = 'Notation "x  .+. y" := (x + y) (at level 50).  idtac "a "" b. c".'
    assert texts(source) == ['Notation "x  .+. y" := (x + y) (at level 50).',
                             'idtac "a "" b. c".']


def test_ellipsis_ends_a_sentence_but_double_dot_does_not() -> None:
    source = 'Proof with auto. intros... Notation "[ x ; .. ; y ]" := (cons x .. (cons y nil) ..).'
    assert texts(source) == ["Proof with auto.", "intros...",
                             'Notation "[ x ; .. ; y ]" := (cons x .. (cons y nil) ..).']


@pytest.mark.parametrize("bullet", ["-", "+", "*", "--", "+++", "**"])
def test_bullets_are_sentences_of_their_own(bullet: str) -> None:
    assert texts(f"split. {bullet} auto. {bullet} exact I.") == [
        "split.", bullet, "auto.", bullet, "exact I."]


def test_braces_and_selector_braces_are_sentences() -> None:
    assert texts("split. { auto. } 2: { exact I. }\n[x]:{ trivial. }") == [
        "split.", "{", "auto.", "}", "2: {", "exact I.", "}", "[x]:{", "trivial.", "}"]


def test_minus_inside_a_sentence_is_not_a_bullet() -> None:
    assert texts("rewrite <- H. apply (f (- x)) * y.") == ["rewrite <- H.",
                                                           "apply (f (- x)) * y."]


def test_whitespace_is_collapsed_and_lines_are_kept() -> None:
    sentences = split_sentences("intros\n   n  m.\n\nauto.")
    assert [(s.text, s.line) for s in sentences] == [("intros n m.", 1), ("auto.", 4)]


def test_trailing_text_without_period_is_a_last_sentence() -> None:
    assert texts("intros. auto") == ["intros.", "auto"]


@pytest.mark.parametrize("source", ["intros. (* open", 'idtac "open'])
def test_unterminated_comment_or_string_raises(source: str) -> None:
    with pytest.raises(SentenceSplitError):
        split_sentences(source)


# ---- the tactic checker -------------------------------------------------------------------


@pytest.mark.parametrize("tactic,expected", [
    ("auto", "auto."),
    ("  intros n m.  ", "intros n m."),
    ("rewrite Nat.add_comm", "rewrite Nat.add_comm."),
    ("-", "-"),
    ("{", "{"),
    ("2: {", "2: {"),
    ("all: simpl.", "all: simpl."),
    ('idtac "admit Qed".', 'idtac "admit Qed".'),
    ("Z.order.", "Z.order."),
    ("auto. (* done *)", "auto."),
])
def test_check_tactic_accepts_one_tactic(tactic: str, expected: str) -> None:
    assert check_tactic(tactic) == expected


@pytest.mark.parametrize("tactic", [
    "Qed.", "Admitted.", "Abort.", "Reset foo.", "Back 2.", "BackTo 3.", "Undo.", "Restart.",
    "Drop.", "Quit.", "Require Import Classical.", "Load foo.", "Declare ML Module \"x\".",
    "Set Printing All.", "Unset Guard Checking.", "Axiom cheat : False.", "Lemma x : True.",
    "Definition x := 1.", "Ltac t := idtac.", "#[local] Hint Resolve I : core.", "Time auto.",
    "Fail auto.", "Timeout 100 auto.", "Proof.", "all: Admitted.", "Print Assumptions x.",
    "admit.", "give_up.", "try admit.", "solve [give_up | auto].", "split; admit",
    "intros. auto.", "- auto.", "auto. Qed.", "", "(* only a comment *)", "idtac \"open",
])
def test_check_tactic_refuses(tactic: str) -> None:
    with pytest.raises(ValueError):
        check_tactic(tactic)


def test_vernacular_head_sees_through_selectors_and_attributes() -> None:
    assert vernacular_head("2: Qed.") == "Qed"
    assert vernacular_head("#[global] Instance x : C.") == "#[...]"
    assert vernacular_head("now apply Nat.le_trans.") is None
    assert is_bullet_or_brace("---") and not is_bullet_or_brace("- auto.")


# ---- lemma extraction ---------------------------------------------------------------------

SOURCE = """
Require Import Arith.
Module M.
Section S.
Variable n : nat.
Lemma a : n = n.
Proof. reflexivity. Qed.
Theorem b : True.
Proof with auto. split... - exact I. Qed.
End S.
Lemma c : True. exact I. Defined.
Lemma d : True := I.
Fact e : True.
Proof. Opaque plus. exact I. Qed.
Remark f : True.
Proof I.
Corollary g : 1 = 1.
Admitted.
Example h : True.
Proof. admit. Qed.
Lemma a : True. Proof. trivial. Qed.
End M.
Proposition i : True.
Proof.
Qed.
"""


def test_extract_lemmas_keeps_qed_proofs_and_counts_the_rest() -> None:
    result = extract_lemmas(SOURCE, "X.v", "Top.X")
    names = [lemma.name for lemma in result.lemmas]
    assert names == ["Top.X.M.a", "Top.X.M.b", "Top.X.M.a@32"]
    a, b = result.lemmas[0], result.lemmas[1]
    assert a.statement == "Lemma a : n = n." and a.steps == ("reflexivity.",)
    assert result.sentences[a.opener or 0].text == "Proof."
    assert b.steps == ("split...", "-", "exact I.")
    assert result.sentences[b.opener or 0].text == "Proof with auto."
    assert b.prefix_end == b.index + 2
    assert dict(result.skipped) == {
        "defined": 1, "no interactive proof": 1, "vernacular in proof: Opaque": 1,
        "proof term": 1, "admitted": 1, "admit in proof": 1, "empty proof": 1}


def test_extracted_theorem_locator_points_at_the_statement() -> None:
    result = extract_lemmas(SOURCE, "X.v")
    lemma = result.lemmas[0]
    theorem = lemma.theorem()
    assert theorem.locator == {"file": "X.v", "index": lemma.index}
    assert result.sentences[lemma.index].text == theorem.statement


# ---- hardening: what must never reach Coq -----------------------------------------------


@pytest.mark.parametrize("tactic", [
    'idtac "\x00".', 'idtac "\x01\x1b".', "split\x00. exact I.", 'idtac "a\x0bb".',
    'idtac "\ud800".', 'idtac "\x85".', 'idtac "\uffff".',
])
def test_check_tactic_refuses_characters_xml_cannot_carry(tactic: str) -> None:
    # Coq echoes them back in replies no XML parser accepts (and a surrogate cannot be encoded).
    with pytest.raises(ValueError, match="control character"):
        check_tactic(tactic)


def test_check_tactic_keeps_tabs_newlines_and_unicode() -> None:
    assert check_tactic('idtac "é∀😀"\n\t') == 'idtac "é∀😀".'


@pytest.mark.parametrize("tactic", ["exact I.(*c*)Defined.", "idtac.(* x *)Save foo."])
def test_check_tactic_refuses_a_sentence_that_splits_once_its_comment_is_gone(
        tactic: str) -> None:
    # To Coq ``.(`` continues the sentence; with the comment replaced by a space it would end.
    with pytest.raises(ValueError, match="one tactic sentence"):
        check_tactic(tactic)


@pytest.mark.parametrize("tactic", ["par: auto.", "par : exact I", "par:(repeat idtac)"])
def test_check_tactic_refuses_the_par_selector(tactic: str) -> None:
    # ``par:`` starts worker processes that Coq's Timeout does not stop.
    with pytest.raises(ValueError, match="par"):
        check_tactic(tactic)


@pytest.mark.parametrize("tactic", [None, 3, b"auto."])
def test_check_tactic_refuses_non_strings(tactic: object) -> None:
    with pytest.raises(ValueError, match="string"):
        check_tactic(tactic)  # type: ignore[arg-type]


@pytest.mark.parametrize("tactic", [
    "auto", "  intros n m.  ", "auto. (* Qed. *)", 'idtac "a. b".', "rewrite Nat.add_comm",
    "auto...", "-", "2: {", "}", "exact (fun x => x.(f))", "Unshelve", "all: simpl",
])
def test_check_tactic_result_is_a_fixed_point(tactic: str) -> None:
    # Sessions re-check a state's path before replaying it: a checked sentence must pass again.
    sentence = check_tactic(tactic)
    assert check_tactic(sentence) == sentence
