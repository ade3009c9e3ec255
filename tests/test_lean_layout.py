"""Lean 4 tactic layout: multi-tactic candidates split as Lean's tactic blocks would."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from prover.backends.lean_layout import join_lean_tactics, split_lean_tactics

STEPS = "trajectories/leandojo_benchmark4_subset_steps.jsonl"
BENCHMARK = ("trajectories/leandojo_benchmark4_subset/long1k_train.json",
             "trajectories/leandojo_benchmark4_subset/val20.json")


def recorded_tactics(shared_data: Path) -> list[str]:
    """Every tactic LeanDojo traced in the shared data (steps JSONL and benchmark JSON)."""
    tactics = [json.loads(line)["tactic"]
               for line in (shared_data / STEPS).read_text(encoding="utf-8").splitlines()]
    for name in BENCHMARK:
        records = json.loads((shared_data / name).read_text(encoding="utf-8"))
        tactics += [t["tactic"] for r in records.values() for t in r["traced_tactics"]]
    return tactics


def test_every_recorded_multi_line_tactic_is_one_tactic(shared_data: Path) -> None:
    multi = [t for t in recorded_tactics(shared_data) if "\n" in t]
    # 12 distinct ones, each in the steps file and again in a benchmark file
    assert len(multi) == 24 and len(set(multi)) == 12
    assert [t for t in multi if split_lean_tactics(t) != [t]] == []
    # ... and followed by another tactic, each still ends where it ends
    assert [t for t in multi if split_lean_tactics(join_lean_tactics([t, "simp"]))
            != [t, "simp"]] == []


# Each case is cut wrongly by a rule that starts a tactic at every unindented line.
CASES = {
    "cases with alternatives": (
        "cases h with\n| inl h => exact h\n| inr h => simp\nring",
        ["cases h with\n| inl h => exact h\n| inr h => simp", "ring"]),
    "induction with alternatives": (
        "induction n with\n| zero => simp\n| succ n ih =>\n  rw [ih]\n  ring\nomega",
        ["induction n with\n| zero => simp\n| succ n ih =>\n  rw [ih]\n  ring", "omega"]),
    "match arms": (
        "match h with\n| .inl h => exact h\n| .inr h => exact h.symm\nsimp",
        ["match h with\n| .inl h => exact h\n| .inr h => exact h.symm", "simp"]),
    "<;> at the start of a line": (
        "constructor\n<;> simp\nring", ["constructor\n<;> simp", "ring"]),
    "<;> at the end of a line": (
        "constructor <;>\nsimp\nring", ["constructor <;>\nsimp", "ring"]),
    "lemma list wrapped at column 0": (
        "nlinarith [sq_nonneg (a - b),\nsq_nonneg c]\nlinarith",
        ["nlinarith [sq_nonneg (a - b),\nsq_nonneg c]", "linarith"]),
    "bullets after a wrapped term": (
        "refine ⟨?_,\n?_⟩\n· simp\n· intro x\n  ring",
        ["refine ⟨?_,\n?_⟩", "· simp", "· intro x\n  ring"]),
    "bullets with comments": (
        "constructor\n-- the left side\n· simp\n-- the right side\n. ring",
        ["constructor", "-- the left side\n· simp", "-- the right side\n. ring"]),
    "have with a by block, then a comment": (
        "have h : p := by\n  simp\n-- now use it\nexact h",
        ["have h : p := by\n  simp", "-- now use it\nexact h"]),
    "have := then by on the next line": (
        "have h : a = b :=\nby simp\nexact h", ["have h : a = b :=\nby simp", "exact h"]),
    "calc steps": (
        "calc a + b\n_ = b + a := add_comm a b\n_ = c := h\nlinarith",
        ["calc a + b\n_ = b + a := add_comm a b\n_ = c := h", "linarith"]),
    "fun x ↦ at the end of a line": (
        "exact fun x ↦\nby simpa using x\nsimp", ["exact fun x ↦\nby simpa using x", "simp"]),
    "if then else": (
        "if h : p then\n  simp\nelse\n  ring\nomega",
        ["if h : p then\n  simp\nelse\n  ring", "omega"]),
    "classical takes the block after it": (
        "intro x\nclassical\next s\nrw [h]", ["intro x", "classical\next s\nrw [h]"]),
    "block comment with brackets": (
        "simp /- (see\nbelow] -/\nring", ["simp /- (see\nbelow] -/", "ring"]),
    "string literal with a bracket and a newline": (
        'trace "a (\nb"\nsimp', ['trace "a (\nb"', "simp"]),
    "block comment ending before <;>": (
        "simp /- a\nb -/ <;>\nring\nomega", ["simp /- a\nb -/ <;>\nring", "omega"]),
    "line comment with a bracket": (
        "exact foo -- (wrong\nsimp\n-- last words", ["exact foo -- (wrong", "simp\n-- last words"]),
}


@pytest.mark.parametrize("text, expected", list(CASES.values()), ids=list(CASES))
def test_lean_layout(text: str, expected: list[str]) -> None:
    assert split_lean_tactics(text) == expected
    assert split_lean_tactics(join_lean_tactics(expected)) == expected


def test_plain_tactics_split_and_uncertain_text_is_whole() -> None:
    assert split_lean_tactics("intro x\nsimp") == ["intro x", "simp"]
    assert split_lean_tactics("\n  intro x\n\n  simp at h ⊢\n") == ["intro x", "simp at h ⊢"]
    assert split_lean_tactics("simp at *\nrintro -\nexact h'\nexact '('") == [
        "simp at *", "rintro -", "exact h'", "exact '('"]
    # brackets that do not match or stay open, a dedent below the first tactic, a tab, an
    # unterminated comment or string: applied whole
    for text in ("exact foo (\nsimp", "exact foo)\nsimp", "exact ⟨a, b)\nsimp",
                 "  intro x\nsimp", "intro x\n\tsimp", "ring /- oops\nsimp", 'trace "x\nsimp'):
        (whole,) = split_lean_tactics(text)
        assert whole.split("\n")[-1].strip() == "simp" and len(whole.split("\n")) == 2, text


@pytest.mark.parametrize("text", ["simp", "  simp at h  ", "", "   ", "exact foo\n  bar",
                                  "a\n\nb", "\n  intro x\n  simp\n", "a\tb"])
def test_one_line_fast_path_agrees_with_the_general_path(text: str) -> None:
    # a trailing newline forces the general path, and changes nothing else
    assert split_lean_tactics(text) == split_lean_tactics(text + "\n")


def test_random_sequences_of_recorded_tactics_split_back(shared_data: Path) -> None:
    tactics = sorted(set(recorded_tactics(shared_data)))
    multi = [t for t in tactics if "\n" in t]
    rng = random.Random(12)
    for _ in range(300):
        sequence = rng.sample(tactics, 4) + rng.sample(multi, 2)
        rng.shuffle(sequence)
        assert split_lean_tactics(join_lean_tactics(sequence)) == sequence


def test_real_whole_proofs_split_into_tactics_that_stay_whole(shared_data: Path) -> None:
    # DeepSeek-Prover / Kimina proofs: long `have ... := by` scripts with `<;>` chains,
    # comments and wrapped lemma lists
    split = 0
    for path in sorted((shared_data / "solutions").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            tactics = split_lean_tactics(record.get("proof") or record["formal_proof"])
            assert tactics, record["name"]
            assert [t for t in tactics if split_lean_tactics(t) != [t]] == [], record["name"]
            # no tactic starts with what can only continue one (`<;>`, an alternative, a calc
            # step, a wrapped argument)
            assert [t for t in tactics if t.startswith(("<;>", "|", "_", "[", ")"))] == []
            assert split_lean_tactics(join_lean_tactics(tactics)) == tactics, record["name"]
            split += len(tactics)
    assert split > 4000


def test_join_separates_a_tactic_that_would_take_the_next() -> None:
    tactics = ["classical\next s\nrw [h]", "simp", "have h : p := by\nsimp\nexact h", "ring"]
    text = join_lean_tactics(tactics)
    assert text == "classical\next s\nrw [h]\n\nsimp\nhave h : p := by\nsimp\nexact h\n\nring"
    assert split_lean_tactics(text) == tactics
    assert join_lean_tactics(["intro x", "simp"]) == "intro x\nsimp"


def test_long_text_is_split_in_one_pass() -> None:
    # a quadratic rule would take minutes here; the assertion is on the result only
    text = "simp [foo, bar] at h\n" * 20_000 + "exact (a,\n" * 5_000 + ")" * 5_000
    tactics = split_lean_tactics(text)
    assert len(tactics) == 20_001 and tactics[-1].count("\n") == 5_000
    assert split_lean_tactics("/-" * 50_000) == ["/-" * 50_000]


@pytest.mark.slow
async def test_replay_of_the_real_steps_finds_every_replayable_proof(shared_data: Path) -> None:
    from benchmarks.lean_replay_check import run
    from prover import SearchConfig

    report = await run(shared_data / STEPS, SearchConfig(max_expansions=64, time_limit_s=600.0))
    assert report["theorems"] == 1020 and report["multi_line_tactics"] == 12
    # 836 recorded proofs chain from their first state to "no goals", 12 with a multi-line
    # tactic; the other 184 cannot be replayed from LeanDojo's steps (see the benchmark)
    assert report["replayable"] == 836 and report["replayable_with_multi_line"] == 12
    assert sum(report["not_replayable"].values()) == 184
    for granularity, found in report["granularities"].items():
        assert found["missed"] == [] and found["unsplittable"] == 0, granularity
        assert found["proofs_with_multi_line_tactic"] == 12, granularity
