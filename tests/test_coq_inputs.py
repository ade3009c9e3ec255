"""What reaches Coq: candidates split by Coq's sentence rules, size caps, large texts off the
event loop, and a JSONL suite's Coq context (real ``coqidetop.opt``; skipped without Coq)."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchmarks.suites import load_suite
from prover.backends import coq as coq_module
from prover.backends import coq_session
from prover.backends.coq import CoqEnvironment
from prover.config import SearchConfig
from prover.errors import DataFormatError, EnvironmentInitError
from prover.generators.fixed import FixedTacticGenerator
from prover.search import BestFirstSearch
from prover.theorems import load_theorems
from prover.types import Proved, TacticError, Theorem

needs_coq = pytest.mark.skipif(shutil.which("coqidetop.opt") is None,
                               reason="coqidetop.opt not on PATH (apt-get install -y coq)")

CONJ = Theorem("conj_example", "Lemma conj_example : forall n : nat, n + 0 = n /\\ True.",
               {"prelude": "Require Import Arith."})


@needs_coq
async def test_a_multi_sentence_candidate_with_bullets_is_applied_sentence_by_sentence() -> None:
    # Before: the Lean layout rules kept the one-line script whole, and Coq refused it as
    # "expected one tactic sentence".
    env = CoqEnvironment(tactic_timeout_s=2)
    try:
        script = "intros n. split.\n- auto with arith.\n- { exact I. }"
        search = BestFirstSearch(env, FixedTacticGenerator([script]),
                                 config=SearchConfig(max_expansions=1, time_limit_s=60))
        result = await search.search(CONJ)
        assert result.status == "proved" and result.stats.verified is True, result
        # The proof ends where no goal is left (its open brace is closed at Qed).
        assert result.proof == ("intros n.", "split.", "-", "auto with arith.", "-", "{",
                                "exact I.")
    finally:
        await env.close()


# ---- size caps and the event loop -----------------------------------------------------------


@needs_coq
async def test_a_tactic_over_the_size_cap_is_refused_before_it_reaches_coq() -> None:
    env = CoqEnvironment(tactic_timeout_s=2, max_tactic_chars=10_000)
    try:
        async with await env.open(CONJ) as session:
            before = session.tactics_run
            huge = "idtac; " * 2_000 + "idtac."
            outcome = await session.apply(session.root, huge)
            assert isinstance(outcome, TacticError) and "max_tactic_chars" in outcome.message
            assert session.tactics_run == before
            assert session.split_tactics(huge + " auto.") == [huge + " auto."]
    finally:
        await env.close()


@needs_coq
async def test_a_statement_over_the_size_cap_is_an_init_error() -> None:
    env = CoqEnvironment(max_statement_chars=1_000)
    try:
        long = Theorem("long", "Lemma long : " + " /\\ ".join(["True"] * 400) + ".",
                       {"prelude": ""})
        with pytest.raises(EnvironmentInitError, match="max_statement_chars"):
            await env.open(long)
    finally:
        await env.close()


def _thread_recorder(function: Callable[..., Any], threads: list[bool]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread() is threading.main_thread())
        return function(*args, **kwargs)
    return wrapper


@needs_coq
async def test_large_tactics_and_preludes_are_read_off_the_event_loop(
        monkeypatch: pytest.MonkeyPatch) -> None:
    on_loop: list[bool] = []
    monkeypatch.setattr(coq_session, "check_tactic",
                        _thread_recorder(coq_session.check_tactic, on_loop))
    documents: list[bool] = []
    monkeypatch.setattr(coq_module, "document_for",
                        _thread_recorder(coq_module.document_for, documents))
    env = CoqEnvironment(tactic_timeout_s=2)
    try:
        prelude = "\n".join(f"Definition d{i} := {i}." for i in range(400))  # ~9 KB
        theorem = Theorem("big", "Lemma big : d3 = 3.", {"prelude": prelude})
        async with await env.open(theorem) as session:
            assert documents == [False]  # a worker thread read the long prelude
            await session.apply(session.root, "reflexivity.")
            long = "idtac; " * 800 + "reflexivity."  # ~5.6 KB
            assert isinstance(await session.apply(session.root, long), Proved)
            assert on_loop == [True, False]  # short: inline; long: in a worker thread
        async with await env.open(CONJ) as session:
            assert documents == [False, True]  # a short statement is read inline
    finally:
        await env.close()


# ---- a JSONL suite's Coq context ------------------------------------------------------------


def _suite(tmp_path: Path, *records: dict[str, Any]) -> Path:
    path = tmp_path / "suite.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@needs_coq
async def test_a_jsonl_records_header_runs_before_its_statement(tmp_path: Path) -> None:
    # Before: the header was ignored ("No such Hint database: arith").
    path = _suite(tmp_path, {"name": "add_0_r", "header": "Require Import Arith.",
                             "formal_statement": "Lemma add_0_r : forall n : nat, n + 0 = n."})
    theorem = load_suite(str(path)).theorems[0]
    env = CoqEnvironment(tactic_timeout_s=2)
    try:
        search = BestFirstSearch(env, FixedTacticGenerator(["intros; auto with arith."]),
                                 config=SearchConfig(max_expansions=1, time_limit_s=60))
        result = await search.search(theorem)
        assert result.status == "proved" and result.stats.verified is True, result
    finally:
        await env.close()


@needs_coq
async def test_a_jsonl_record_can_name_a_file_and_statement_index(tmp_path: Path) -> None:
    (tmp_path / "Small.v").write_text("Require Import Arith.\n"
                                      "Lemma s : forall n, n + 0 = n.\nProof. auto. Qed.\n")
    path = _suite(tmp_path, {"name": "s", "header": "", "file": "Small.v", "index": 1,
                             "coq_args": ["-w", "-all"]})
    theorem = load_theorems(path)[0]
    assert theorem.locator["file"] == str(tmp_path / "Small.v")
    assert theorem.locator["coq_args"] == ["-w", "-all"]
    env = CoqEnvironment(tactic_timeout_s=2)
    try:
        async with await env.open(theorem) as session:
            assert session.root.goals == ("⊢ forall n : nat, n + 0 = n",)
            assert isinstance(await session.apply(session.root, "auto with arith."), Proved)
    finally:
        await env.close()


@pytest.mark.parametrize("extra,field", [
    ({"coq_args": "-R x Y"}, "coq_args"),
    ({"coq_args": ["-R", 3]}, "coq_args"),
    ({"file": "Missing.v", "index": 0}, "file"),
    ({"file": "Small.v"}, "index"),
    ({"file": "Small.v", "index": -1}, "index"),
    ({"index": 2}, "file"),
    ({"prelude": ["Require Import Arith."]}, "prelude"),
    ({"header": "Require Import Arith.", "prelude": "Require Import ZArith."}, "prelude"),
])
def test_a_jsonl_record_with_a_bad_coq_field_is_refused_with_its_place(
        tmp_path: Path, extra: dict[str, Any], field: str) -> None:
    (tmp_path / "Small.v").write_text("Lemma s : True.\n")
    record = {"name": "t", "header": "", "formal_statement": "Lemma t : True."}
    record.update(extra)
    path = _suite(tmp_path, {"name": "ok", "header": "", "formal_statement": "Lemma ok : True."},
                  record)
    with pytest.raises(DataFormatError) as info:
        load_theorems(path)
    assert (info.value.line, info.value.field) == (2, field)
    assert str(path) in str(info.value)
