"""The Coq backend against crashes, a missing or broken ``coqidetop``, closes in flight and
tactics queued behind others (real ``coqidetop.opt``; skipped when Coq is not installed)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from coq_fakes import crashing_coqidetop, failing_executable, launches

from prover.backends.coq import CoqEnvironment
from prover.config import SearchConfig
from prover.errors import BackendUnavailableError, EnvironmentCrashError, EnvironmentInitError
from prover.generators.fixed import FixedTacticGenerator
from prover.search import BestFirstSearch
from prover.types import Proved, StateReached, TacticError, TacticTimeout, Theorem

pytestmark = pytest.mark.skipif(shutil.which("coqidetop.opt") is None,
                                reason="coqidetop.opt not on PATH (apt-get install -y coq)")

CONJ = Theorem("conj_example", "Lemma conj_example : forall n : nat, n + 0 = n /\\ True.",
               {"prelude": "Require Import Arith."})
PROOF = ["intros n.", "split.", "-", "auto with arith.", "-", "exact I."]
LOOP = "intros; repeat (assert True by trivial)."  # only Timeout stops it

# Replies of a session's open: 1 Init, 2 Add of the prelude, 3 Add of the statement, 4 Goal.
DURING_INIT, DURING_REPLAY = 1, 3


# ---- crashes are retried, never a verdict ----------------------------------------------------


@pytest.mark.parametrize("after", [DURING_INIT, DURING_REPLAY])
async def test_a_process_killed_while_a_session_opens_is_restarted(tmp_path: Path,
                                                                   after: int) -> None:
    # Before: EnvironmentInitError ("did not start" / "replaying the file prefix failed"),
    # an error row that a passing crash should never cause.
    exe, counter = crashing_coqidetop(tmp_path, after=after, crash_on={1})
    env = CoqEnvironment(executable=str(exe), tactic_timeout_s=2)
    try:
        async with await env.open(CONJ) as session:
            assert launches(counter) == 2 and session.restarts == 1
            assert isinstance(await session.apply(session.root, "intros n; split; auto."),
                              (Proved, StateReached))
    finally:
        await env.close()


@pytest.mark.slow
async def test_a_process_that_keeps_crashing_is_a_crash_after_max_restarts(tmp_path: Path
                                                                          ) -> None:
    exe, counter = crashing_coqidetop(tmp_path, after=DURING_REPLAY, crash_on=None)
    env = CoqEnvironment(executable=str(exe), max_restarts=2)
    try:
        with pytest.raises(EnvironmentCrashError, match="max_restarts 2"):
            await env.open(CONJ)
        assert launches(counter) == 3
    finally:
        await env.close()


@pytest.mark.slow
async def test_a_crash_of_the_verify_process_is_retried_not_a_rejection(tmp_path: Path
                                                                        ) -> None:
    # Launch 1 is the session's; launch 2 (verify's) dies while the prefix replays. Before:
    # verify answered False, so `bench` reported a found proof as unsound.
    exe, counter = crashing_coqidetop(tmp_path, after=DURING_REPLAY, crash_on={2})
    env = CoqEnvironment(executable=str(exe))
    try:
        async with await env.open(CONJ) as session:
            assert await session.verify(PROOF) is True
            assert launches(counter) == 3
    finally:
        await env.close()


async def test_a_verify_process_that_keeps_crashing_raises_instead_of_answering_false(
        tmp_path: Path) -> None:
    exe, counter = crashing_coqidetop(tmp_path, after=DURING_REPLAY, crash_on=range(2, 100))
    env = CoqEnvironment(executable=str(exe), max_restarts=1)
    try:
        async with await env.open(CONJ) as session:
            with pytest.raises(EnvironmentCrashError, match="verify"):
                await session.verify(PROOF)
            assert launches(counter) == 3
    finally:
        await env.close()


async def test_a_search_whose_verify_crashes_once_reports_a_verified_proof(tmp_path: Path
                                                                          ) -> None:
    exe, _ = crashing_coqidetop(tmp_path, after=DURING_REPLAY, crash_on={2})
    env = CoqEnvironment(executable=str(exe))
    try:
        search = BestFirstSearch(env, FixedTacticGenerator(["intros n; split; auto with arith."]),
                                 config=SearchConfig(max_expansions=2, time_limit_s=60))
        result = await search.search(CONJ)
        assert result.status == "proved" and result.stats.verified is True, result
    finally:
        await env.close()


# ---- a backend that cannot start is unavailable, permanently --------------------------------


@pytest.mark.parametrize("executable", ["coqidetop-not-installed", "/nonexistent/coqidetop.opt"])
async def test_a_missing_coqidetop_is_backend_unavailable(executable: str) -> None:
    env = CoqEnvironment(executable=executable)
    try:
        with pytest.raises(BackendUnavailableError, match="not found") as info:
            await env.open(CONJ)
        assert "executable=" in str(info.value)  # says how to fix it
    finally:
        await env.close()


async def test_a_coqidetop_that_exits_at_once_is_backend_unavailable(tmp_path: Path) -> None:
    env = CoqEnvironment(executable=str(failing_executable(tmp_path, 3, "no libcoq here")))
    try:
        with pytest.raises(BackendUnavailableError, match="status 3") as info:
            await env.open(CONJ)
        assert "no libcoq here" in str(info.value)
    finally:
        await env.close()


async def test_a_file_that_is_not_executable_is_backend_unavailable(tmp_path: Path) -> None:
    plain = tmp_path / "coqidetop.opt"
    plain.write_text("not a program")
    env = CoqEnvironment(executable=str(plain))
    try:
        with pytest.raises(BackendUnavailableError):
            await env.open(CONJ)
    finally:
        await env.close()


async def test_a_theorem_with_flags_coq_refuses_is_that_theorems_error_only() -> None:
    env = CoqEnvironment()
    try:
        bad = Theorem("t", "Lemma t : True.", {"prelude": "", "coq_args": ["-no-such-flag"]})
        with pytest.raises(EnvironmentInitError, match="no-such-flag") as info:
            await env.open(bad)
        assert not isinstance(info.value, BackendUnavailableError)
        async with await env.open(CONJ) as session:  # the backend itself is fine
            assert isinstance(await session.apply(session.root, "intros n."), StateReached)
    finally:
        await env.close()


# ---- close never kills a healthy process ----------------------------------------------------


def _in_flight(round_: int) -> list[str]:
    mixes = [["intros n.", "intros n; split.", "auto.", "simpl.", "idtac."],
             ["intros n; split.", "auto.", LOOP],
             ["intros n.", LOOP, "intros n; split."],
             [LOOP, "idtac."]]
    return mixes[round_ % len(mixes)]


async def test_closing_sessions_with_tactics_in_flight_never_kills_or_restarts_coqidetop(
        ) -> None:
    # Before: every such close killed the process, and about 1 close in 2 restarted it and
    # replayed the prefix inside close (a cancel lost as the reply arrived).
    env = CoqEnvironment(tactic_timeout_s=5, grace_s=3, max_processes=1)
    try:
        pids = set()
        for round_ in range(32):
            session = await env.open(CONJ)
            proc = session._proc
            assert proc is not None
            pids.add(proc.pid)
            running = [asyncio.ensure_future(session.apply(session.root, tactic))
                       for tactic in _in_flight(round_)]
            for _ in range(round_ % 5):
                await asyncio.sleep(0)
            await asyncio.sleep(0.0005 * (round_ % 9))
            await session.close()
            outcomes = await asyncio.gather(*running, return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    assert isinstance(outcome, EnvironmentCrashError), outcome
                    assert "closed" in str(outcome)
                else:
                    assert isinstance(outcome, (StateReached, Proved, TacticError, TacticTimeout))
                    assert not (isinstance(outcome, TacticError)
                                and "interrupt" in outcome.message), outcome
            assert proc.alive, f"round {round_}: close killed coqidetop"
            assert session.restarts == 0 and session.kills == 0
        assert env.processes_started == 1 and len(pids) == 1
        async with await env.open(CONJ) as session:  # the reused process answers correctly
            outcome = await session.apply(session.root, "intros n.")
            assert isinstance(outcome, StateReached)
            assert outcome.state.goals == ("n : nat\n⊢ n + 0 = n /\\ True",)
            assert isinstance(await session.apply(session.root, "intros n; split; auto."),
                              (Proved, StateReached))
    finally:
        await env.close()


# ---- tactic timeouts: Coq's own, counted from when a tactic runs -----------------------------


@pytest.mark.slow
async def test_a_tactic_queued_behind_slow_ones_is_never_recorded_as_a_timeout() -> None:
    # Coq's Timeout is 1 s; two looping candidates run first, one at a time (one process).
    # The search's own 1.5 s timer used to start when it handed the third candidate over, so
    # "intros n." was recorded as a timeout after waiting ~2 s without ever running.
    env = CoqEnvironment(tactic_timeout_s=1, grace_s=3)
    try:
        generator = FixedTacticGenerator([(LOOP, 0.0), (f"idtac; {LOOP}", -1.0),
                                          ("intros n.", -2.0)])
        search = BestFirstSearch(env, generator, config=SearchConfig(
            tactic_timeout_s=1.5, num_candidates=3, max_expansions=1, time_limit_s=60))
        result = await search.search(CONJ)
        tree = result.tree
        assert tree is not None
        errors = tree.errors(tree.root.state.key)
        assert [(e["tactic"], e["outcome"]) for e in errors] == [
            (LOOP, "timeout"), (f"idtac; {LOOP}", "timeout")]
        assert all("Coq Timeout 1 s" in e["message"] for e in errors), errors
        assert len(tree) >= 2  # intros n. reached its state
    finally:
        await env.close()
