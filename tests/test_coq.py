"""CoqEnvironment against a real ``coqidetop.opt`` (skipped when Coq is not installed)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from prover.backends import coq_process
from prover.backends.coq import (
    CoqConfig,
    CoqEnvironment,
    CoqHandle,
    CoqSession,
    parse_assumptions,
    stdlib_theories,
    verify_proof,
)
from prover.backends.coq_process import CoqHung, CoqProcess
from prover.backends.coq_sources import extract_lemmas
from prover.config import SearchConfig
from prover.errors import ConfigError, EnvironmentCrashError, EnvironmentInitError
from prover.generators.fixed import FixedTacticGenerator
from prover.search import BestFirstSearch
from prover.types import (
    Candidate,
    Outcome,
    ProofState,
    Proved,
    StateReached,
    TacticError,
    TacticTimeout,
    Theorem,
)

pytestmark = pytest.mark.skipif(shutil.which("coqidetop.opt") is None,
                                reason="coqidetop.opt not on PATH (apt-get install -y coq)")

CONJ = Theorem("conj_example", "Lemma conj_example : forall n : nat, n + 0 = n /\\ True.",
               {"prelude": "Require Import Arith."})

LOOP = "intros; repeat (assert True by trivial)."  # makes progress forever: only Timeout stops it


def state(outcome: Outcome) -> ProofState:
    assert isinstance(outcome, StateReached), outcome
    return outcome.state


@pytest.fixture
async def env() -> AsyncIterator[CoqEnvironment]:
    environment = CoqEnvironment(tactic_timeout_s=1, grace_s=3)
    yield environment
    await environment.close()


async def test_root_goal_rendering_and_apply(env: CoqEnvironment) -> None:
    async with await env.open(CONJ) as session:
        root = session.root
        assert root.goals == ("⊢ forall n : nat, n + 0 = n /\\ True",)
        intro = state(await session.apply(root, "intros n"))
        assert intro.goals == ("n : nat\n⊢ n + 0 = n /\\ True",)
        assert intro.key == intro.pp
        assert isinstance(await session.apply(intro, "split; auto with arith."), Proved)
        failed = await session.apply(intro, "exact I.")
        assert isinstance(failed, TacticError) and "n + 0 = n" in failed.message


async def test_branch_switching_returns_the_goals_of_the_requested_state(
        env: CoqEnvironment) -> None:
    async with await env.open(CONJ) as session:
        intro = state(await session.apply(session.root, "intros n."))
        induct = state(await session.apply(intro, "induction n."))
        split = state(await session.apply(intro, "split."))  # another branch of `intro`
        assert len(induct.goals) == 2 and "IHn" in induct.goals[1]
        # Back to the first branch, then to the second, then to the root: each answer must be
        # computed on the state asked for, not on the tip of Coq's linear document.
        simpl = state(await session.apply(induct, "simpl."))
        assert simpl.goals[0] == "⊢ 0 = 0 /\\ True"
        second = state(await session.apply(split, "2: exact I."))
        assert second.goals == ("n : nat\n⊢ n + 0 = n",)
        again = state(await session.apply(session.root, "intros m."))
        assert again.goals == ("m : nat\n⊢ m + 0 = m /\\ True",)
        assert isinstance(await session.apply(induct, "all: split; simpl; auto."), Proved)


async def test_goal_count_includes_background_goals_of_bullets_and_braces(
        env: CoqEnvironment) -> None:
    async with await env.open(CONJ) as session:
        split = state(await session.apply(session.root, "intros n; split."))
        bullet = state(await session.apply(split, "-"))
        # Same goals as `split`, but only the first is focused: equal text, different key.
        assert bullet.goals == split.goals and bullet.num_goals == 2
        assert bullet.key != split.key
        done_first = state(await session.apply(bullet, "auto with arith."))
        assert done_first.num_goals == 1 and done_first.goals == ("n : nat\n⊢ True",)
        refused = await session.apply(done_first, "exact I.")
        assert isinstance(refused, TacticError) and "bullet" in refused.message
        second = state(await session.apply(done_first, "-"))
        assert second.num_goals == 1 and second.key != done_first.key
        assert isinstance(await session.apply(second, "exact I."), Proved)
        brace = state(await session.apply(split, "{"))
        assert brace.num_goals == 2 and brace.key not in (split.key, bullet.key)
        closed = state(await session.apply(brace, "auto with arith."))
        assert closed.num_goals == 1
        after = state(await session.apply(closed, "}"))
        assert after.goals == ("n : nat\n⊢ True",) and after.key == after.pp


REFUSED = ["Qed.", "Admitted.", "admit.", "give_up.", "try admit.", "Abort.", "Undo.", "Restart.",
           "Back 1.", "Reset conj_example.", "Require Import Classical.",
           "Axiom cheat : False.", "Set Printing All.", "Lemma x : True.", "intros. auto.",
           "intros n. Admitted.", "Drop.", "Quit.", "Load foo.", "Declare ML Module \"x\".",
           "Unset Guard Checking.", "all: Admitted."]


async def test_vernacular_and_admit_never_reach_coq(env: CoqEnvironment) -> None:
    async with await env.open(CONJ) as session:
        before = session.tactics_run
        for tactic in REFUSED:
            outcome = await session.apply(session.root, tactic)
            assert isinstance(outcome, TacticError), tactic
            assert outcome.message.startswith("refused"), (tactic, outcome)
        assert session.tactics_run == before
        # The session is unharmed.
        assert state(await session.apply(session.root, "intros n.")).num_goals == 1


@pytest.mark.slow
async def test_tactic_timeout_then_session_still_works(env: CoqEnvironment) -> None:
    async with await env.open(CONJ) as session:
        began = time.monotonic()
        outcome = await session.apply(session.root, LOOP)
        assert isinstance(outcome, TacticTimeout)
        assert time.monotonic() - began < 4.5
        assert state(await session.apply(session.root, "intros n.")).goals == (
            "n : nat\n⊢ n + 0 = n /\\ True",)


async def test_killed_process_is_restarted_and_states_are_rebuilt(env: CoqEnvironment) -> None:
    async with await env.open(CONJ) as session:
        split = state(await session.apply(session.root, "intros n; split."))
        pid = session.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        outcome = await session.apply(split, "2: exact I.")
        assert state(outcome).goals == ("n : nat\n⊢ n + 0 = n",)
        assert session.restarts == 1 and session.pid != pid


async def test_restarts_are_bounded() -> None:
    env = CoqEnvironment(max_restarts=1)
    try:
        async with await env.open(CONJ) as session:
            for _ in range(2):
                pid = session.pid
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
                await asyncio.sleep(0.05)
                if session.restarts == 0:
                    assert isinstance(await session.apply(session.root, "intros."), StateReached)
            with pytest.raises(EnvironmentCrashError):
                await session.apply(session.root, "intros.")
    finally:
        await env.close()


@pytest.mark.slow
async def test_cancelled_apply_leaves_the_session_consistent(env: CoqEnvironment) -> None:
    async with await env.open(CONJ) as session:
        intro = state(await session.apply(session.root, "intros n."))
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(session.apply(intro, LOOP), 0.2)
        # The next call waits for the abandoned one and starts from a known document.
        split = state(await session.apply(intro, "split."))
        assert split.goals == ("n : nat\n⊢ n + 0 = n", "n : nat\n⊢ True")


@pytest.mark.slow
async def test_timeouts_by_the_caller_do_not_use_up_restarts() -> None:
    # A search's own tactic timeout cancels apply, which kills coqidetop on purpose: a search
    # with more timeouts than max_restarts must not end in EnvironmentCrashError.
    env = CoqEnvironment(max_restarts=1)
    try:
        async with await env.open(CONJ) as session:
            intro = state(await session.apply(session.root, "intros n."))
            for _ in range(3):
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(session.apply(intro, LOOP), 0.2)
            assert state(await session.apply(intro, "split.")).num_goals == 2
    finally:
        await env.close()


async def test_concurrent_applies_are_serialised_and_correct(env: CoqEnvironment) -> None:
    async with await env.open(CONJ) as session:
        intro = state(await session.apply(session.root, "intros n."))
        split = state(await session.apply(intro, "split."))
        jobs = [(intro, "induction n."), (split, "2: exact I."), (session.root, "intros m."),
                (split, "simpl."), (intro, "destruct n."), (split, "exact I.")]
        concurrent = await asyncio.gather(*(session.apply(s, t) for s, t in jobs))
        sequential = [await session.apply(s, t) for s, t in jobs]
        assert [getattr(o, "state", o) for o in concurrent] == \
            [getattr(o, "state", o) for o in sequential]
        assert isinstance(concurrent[-1], TacticError)


async def test_state_of_another_session_is_refused(env: CoqEnvironment) -> None:
    async with await env.open(CONJ) as first:
        root = first.root
    async with await env.open(CONJ) as second:
        outcome = await second.apply(root, "intros n.")
        assert isinstance(outcome, TacticError) and "session" in outcome.message


# ---- verify ----------------------------------------------------------------------------------


async def test_verify_accepts_a_proof_and_rejects_unsound_ones(env: CoqEnvironment) -> None:
    async with await env.open(CONJ) as session:
        good = ["intros n.", "split.", "-", "auto with arith.", "-", "exact I."]
        assert await session.verify(good)
        assert not await session.verify(good[:-1])  # a goal left open
        assert not await session.verify([*good[:-1], "admit."])
        assert not await session.verify([*good[:-1], "Admitted."])
        assert not await session.verify(["Axiom cheat : False.", "elim cheat."])
        assert not await session.verify(["intros n. split; [auto with arith | exact I]."])
        # exact_no_check closes the goal in the proof engine, but the kernel rejects it at Qed:
        # the session checks Qed before it reports Proved, and so does verify.
        forged = ["intros n.", "split.", "-", "exact_no_check I.", "-", "exact I."]
        outcome: Outcome = StateReached(session.root)
        for tactic in forged[:-1]:
            outcome = await session.apply(state(outcome), tactic)
        outcome = await session.apply(state(outcome), forged[-1])
        assert isinstance(outcome, TacticError) and "Qed" in outcome.message, outcome
        assert not await session.verify(forged)


async def test_verify_allows_the_axioms_of_the_prelude(env: CoqEnvironment) -> None:
    classical = Theorem("em", "Lemma em : forall P : Prop, P \\/ ~ P.",
                        {"prelude": "Require Import Classical."})
    async with await env.open(classical) as session:
        assert await session.verify(["intro P.", "apply classic."])
    declared = Theorem("boom", "Lemma boom : 1 = 2.", {"prelude": "Axiom cheat : False."})
    async with await env.open(declared) as session:
        assert await session.verify(["elim cheat."])


def test_parse_assumptions() -> None:
    text = ("Section Variables:\nn : nat\nAxioms:\nclassic : forall P : Prop,\n  P \\/ ~ P\n"
            "cheat : False")
    assert parse_assumptions(text) == (["classic", "cheat"], [])
    assert parse_assumptions("Closed under the global context") == ([], [])
    unsafe = "Constants/Inductives relying on type-in-type:\nfoo"
    assert parse_assumptions(unsafe)[1] == ["Constants/Inductives relying on type-in-type:"]


# ---- search on Coq ---------------------------------------------------------------------------


class KillingGenerator:
    """A fixed generator that kills the session's coqidetop on its ``kill_at``-th call."""

    def __init__(self, tactics: list[str], kill_at: int) -> None:
        self.inner = FixedTacticGenerator(tactics)
        self.kill_at = kill_at
        self.calls = 0
        self.session: CoqSession | None = None
        self.killed: list[int] = []

    async def propose(self, state: ProofState, k: int) -> list[Candidate]:
        self.calls += 1
        if self.calls == self.kill_at and self.session is not None and self.session.pid:
            self.killed.append(self.session.pid)
            os.kill(self.session.pid, signal.SIGKILL)
        return await self.inner.propose(state, k)


class CapturingEnv:
    """Forwards to a CoqEnvironment and hands the session to the generator."""

    def __init__(self, env: CoqEnvironment, generator: KillingGenerator) -> None:
        self.env = env
        self.generator = generator
        self.sessions: list[CoqSession] = []

    async def open(self, theorem: Theorem) -> CoqSession:
        session = await self.env.open(theorem)
        self.generator.session = session
        self.sessions.append(session)
        return session

    async def close(self) -> None:
        await self.env.close()


async def test_search_finishes_when_the_process_is_killed_mid_search(
        env: CoqEnvironment) -> None:
    tactics = ["intros n.", "exact I.", "split.", "rewrite <- plus_n_O.", "reflexivity."]
    generator = KillingGenerator(tactics, kill_at=2)
    capturing = CapturingEnv(env, generator)
    search = BestFirstSearch(capturing, generator,
                             config=SearchConfig(num_candidates=5, max_expansions=20,
                                                 time_limit_s=60))
    result = await search.search(Theorem(
        "conj_manual", "Lemma conj_manual : forall n : nat, n + 0 = n /\\ True.",
        {"prelude": "Require Import Arith."}))
    assert generator.killed and capturing.sessions[0].restarts >= 1
    assert result.proved and result.stats.verified, result


async def test_branching_search_states_match_a_fresh_replay_of_their_path(
        env: CoqEnvironment) -> None:
    commutes = Theorem("add_comm_try", "Lemma add_comm_try : forall n m : nat, n + m = m + n.",
                       {"prelude": ""})
    tactics = ["intros n m.", "induction n.", "simpl.", "reflexivity.", "destruct m.", "-",
               "intros.", "{", "f_equal."]
    generator = KillingGenerator(tactics, kill_at=5)
    capturing = CapturingEnv(env, generator)
    search = BestFirstSearch(capturing, generator,
                             config=SearchConfig(num_candidates=9, max_expansions=12,
                                                 time_limit_s=60))
    result = await search.search(commutes)
    assert generator.killed and result.status in ("budget", "failed"), result
    tree = result.tree
    assert tree is not None and len(tree) > 15
    # Every state of the tree, rebuilt on its own from its path in a fresh session, has the
    # goals and key the search stored for it (the search jumped between branches throughout).
    async with await env.open(commutes) as fresh:
        for node in tree.nodes():
            current = fresh.root
            for tactic in node.tactics:
                current = state(await fresh.apply(current, tactic))
            assert current.goals == node.state.goals, node.tactics
            assert current.key == node.state.key, node.tactics


# ---- files, pool, config ------------------------------------------------------------------


async def test_stdlib_lemma_replays_its_human_proof_and_reuses_the_prefix() -> None:
    path = stdlib_theories() / "Arith" / "Between.v"
    lemmas = extract_lemmas(path.read_text(), str(path)).lemmas
    env = CoqEnvironment(max_processes=1)
    try:
        pids = []
        for lemma in (lemmas[0], lemmas[3]):
            theorem = lemma.theorem({"stdlib_file": "Arith/Between.v", "file": None})
            theorem = Theorem(theorem.name, theorem.statement,
                              {"stdlib_file": "Arith/Between.v", "index": lemma.index})
            async with await env.open(theorem) as session:
                pids.append(session.pid)
                outcome: Outcome = StateReached(session.root)
                for tactic in lemma.steps:
                    outcome = await session.apply(state(outcome), tactic)
                assert isinstance(outcome, Proved), lemma.name
                assert await session.verify(lemma.steps)
        assert pids[0] == pids[1] and env.processes_started == 1
    finally:
        await env.close()


async def test_pool_bounds_concurrent_sessions() -> None:
    env = CoqEnvironment(max_processes=1)
    try:
        first = await env.open(CONJ)
        waiting = asyncio.ensure_future(env.open(CONJ))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await first.close()
        second = await asyncio.wait_for(waiting, 10)
        assert isinstance(await second.apply(second.root, "intros n."), StateReached)
        await second.close()
    finally:
        await env.close()


async def test_bad_theorems_raise_environment_init_error(env: CoqEnvironment) -> None:
    with pytest.raises(EnvironmentInitError, match="prefix"):
        await env.open(Theorem("t", "Lemma t : True.", {"prelude": "Require Import Nope."}))
    with pytest.raises(EnvironmentInitError, match="opened no proof"):
        await env.open(Theorem("t", "Definition t := 1.", {"prelude": ""}))
    with pytest.raises(EnvironmentInitError):
        await env.open(Theorem("t", "", {}))


def test_config_validation() -> None:
    with pytest.raises(ConfigError):
        CoqConfig(tactic_timeout_s=0)
    with pytest.raises(ConfigError):
        CoqConfig(max_processes=0)
    with pytest.raises(ConfigError):
        CoqConfig(args="-R x Y")  # type: ignore[arg-type]
    assert CoqConfig(tactic_timeout_s=2.5).coq_timeout == 3


# ---- hardening: soundness ----------------------------------------------------------------


async def test_proved_needs_the_kernel_to_accept_the_proof(env: CoqEnvironment) -> None:
    # Each of these leaves no goal in the proof engine; only Qed (the kernel) rejects them.
    theorem = Theorem("kern", "Lemma kern : nat -> False.", {"prelude": ""})
    forged = [["intro n", "exact_no_check I"], ["fix IH 1", "intro n", "apply IH", "exact n"],
              ["intro n", "change_no_check (n = n)", "reflexivity"]]
    async with await env.open(theorem) as session:
        for tactics in forged:
            current = session.root
            for tactic in tactics[:-1]:
                current = state(await session.apply(current, tactic))
            outcome = await session.apply(current, tactics[-1])
            assert isinstance(outcome, TacticError) and "Qed" in outcome.message, tactics
            assert not await session.verify(tactics)
        # The session is unharmed by the Qed it tried (and took back).
        assert state(await session.apply(session.root, "intro n.")).goals == ("n : nat\n⊢ False",)


UNGUARDED = ("Unset Guard Checking. Fixpoint f (n : nat) : False := f n. Set Guard Checking. "
             "Goal False. exact (f 0). Qed.")


async def test_proofs_relying_on_unsafe_definitions_are_not_proved(env: CoqEnvironment) -> None:
    # Coq 8.16 lists a definition made without guard checking under "Axioms:" as
    # "f is assumed to be guarded." (no colon): it must not pass for a clean proof.
    theorem = Theorem("unsafe", "Goal 1 = 2.", {"prelude": UNGUARDED})
    async with await env.open(theorem) as session:
        outcome = await session.apply(session.root, "destruct (f 0).")
        assert isinstance(outcome, TacticError) and "guarded" in outcome.message
        assert not await session.verify(["destruct (f 0)."])


async def test_verify_judges_the_proof_it_saved_not_an_older_namesake(
        env: CoqEnvironment) -> None:
    # The prelude's Goal is Unnamed_thm and relies on the unguarded f; this Goal is
    # Unnamed_thm0 and clean. A unicode lemma name is a name too.
    theorem = Theorem("second_goal", "Goal True.", {"prelude": UNGUARDED})
    async with await env.open(theorem) as session:
        assert isinstance(await session.apply(session.root, "exact I."), Proved)
        verdict = await verify_proof(env.config, session.document, ["exact I."])
        assert verdict.ok, verdict
    unicode = Theorem("αβ", "Lemma αβ_γ : True.", {"prelude": ""})
    async with await env.open(unicode) as session:
        assert await session.verify(["exact I."])
        assert not await session.verify("exact I.")  # a str is a Sequence[str] too


def test_parse_assumptions_of_coq_8_16_unsafe_entries() -> None:
    assert parse_assumptions("Axioms:\nf is assumed to be guarded.") == (
        [], ["f is assumed to be guarded."])
    assert parse_assumptions("Axioms:\nV relies on an unsafe hierarchy.\ncheat : False")[1] == [
        "V relies on an unsafe hierarchy."]
    assert parse_assumptions("Axioms:\nI is assumed to be positive.")[1] != []
    assert parse_assumptions("Theory:\nSet is impredicative")[1] == ["Theory:"]
    assert parse_assumptions("Axioms:\na_very_long_axiom_name\n  : False") == (
        ["a_very_long_axiom_name"], [])
    assert parse_assumptions("Fetching opaque proofs from disk")[1] != []


async def test_multi_sentence_statements_are_refused(env: CoqEnvironment) -> None:
    with pytest.raises(EnvironmentInitError, match="one sentence"):
        await env.open(Theorem("t", "Lemma t : True. Admitted. Goal True.", {"prelude": ""}))
    with pytest.raises(EnvironmentInitError, match="coq_args"):
        await env.open(Theorem("t", "Lemma t : True.", {"prelude": "", "coq_args": "-R x Y"}))
    opened = Theorem("t", "Lemma t : True /\\ True.\nProof with auto.", {"prelude": ""})
    async with await env.open(opened) as session:
        assert isinstance(await session.apply(session.root, "split..."), Proved)


async def test_states_of_other_environments_and_forged_paths_are_refused(
        env: CoqEnvironment) -> None:
    other = CoqEnvironment(tactic_timeout_s=1, grace_s=3)
    try:
        async with await other.open(Theorem("a", "Lemma a : True.", {"prelude": ""})) as first, \
                await env.open(Theorem("b", "Lemma b : False.", {"prelude": ""})) as second:
            # Session ids are unique across environments: `first.root` is not `second`'s.
            outcome = await second.apply(first.root, "exact I.")
            assert isinstance(outcome, TacticError) and "session" in outcome.message
            handle = second.root.handle
            assert isinstance(handle, CoqHandle)
            for path in (("Timeout 1 Qed.",), ("admit.",), ("intros. exact I.",)):
                forged = ProofState(("x",), key="x", handle=CoqHandle(handle.owner, path))
                outcome = await second.apply(forged, "idtac.")
                assert isinstance(outcome, TacticError) and "path" in outcome.message, path
            assert isinstance(await second.apply(None, "idtac."), TacticError)  # type: ignore
            assert isinstance(await second.apply(second.root, None), TacticError)  # type: ignore
    finally:
        await other.close()


# ---- hardening: robustness ---------------------------------------------------------------


async def test_control_characters_in_coq_output_do_not_break_the_session(
        env: CoqEnvironment) -> None:
    # The prelude is not checked; Coq copies the \x01 into its XML reply as it is.
    theorem = Theorem("ctl", "Lemma ctl : True.", {"prelude": 'Ltac t := idtac "<\x01\x0c>".'})
    async with await env.open(theorem) as session:
        assert state(await session.apply(session.root, "t.")).goals == ("⊢ True",)
        refused = await session.apply(session.root, 'idtac "\x00".')
        assert isinstance(refused, TacticError) and refused.message.startswith("refused")
        assert isinstance(await session.apply(session.root, "exact I."), Proved)
        assert session.restarts == 0


async def test_huge_output_is_read_in_linear_time_with_bounded_feedback(
        env: CoqEnvironment, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(coq_process, "MAX_FEEDBACK_BYTES", 1 << 16)
    async with await env.open(CONJ) as session:
        began = time.monotonic()
        chatty = f'do 1500 idtac "{"x" * 1000}".'  # about 2 MB of feedback messages
        assert state(await session.apply(session.root, chatty)).goals == session.root.goals
        assert time.monotonic() - began < 1.5
        assert session._proc is not None and len(session._proc._buffer) < 1 << 16
        assert state(await session.apply(session.root, "intros n.")).num_goals == 1


@pytest.mark.slow
async def test_a_stopped_process_is_killed_after_the_reply_deadline() -> None:
    env = CoqEnvironment(tactic_timeout_s=0.5, grace_s=0.3)
    try:
        theorem = Theorem("stop", "Lemma stop : True /\\ True.", {"prelude": ""})
        async with await env.open(theorem) as session:
            state(await session.apply(session.root, "split."))
            pid = session.pid
            assert pid is not None
            os.kill(pid, signal.SIGSTOP)  # alive but silent: only the deadline can tell
            began = time.monotonic()
            outcome = await session.apply(session.root, "exact I.")  # rewinds first: bounded too
            assert isinstance(outcome, TacticTimeout)
            assert time.monotonic() - began < 1.3 + 0.4
            assert state(await session.apply(session.root, "split.")).num_goals == 2
    finally:
        await env.close()


async def test_closing_a_session_fails_its_running_apply_with_a_prover_error(
        env: CoqEnvironment) -> None:
    session = await env.open(CONJ)
    running = asyncio.ensure_future(session.apply(session.root, LOOP))
    await asyncio.sleep(0.2)
    await session.close()
    with pytest.raises(EnvironmentCrashError, match="closed"):
        await running


def _live_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are not zombies (Linux ``/proc``)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
async def test_killing_coqidetop_kills_the_workers_it_started() -> None:
    # `par:` (refused for candidates) starts tactic workers that ignore Timeout; a killed
    # coqidetop must not leave them running as orphans.
    proc = CoqProcess()
    await proc.start()
    assert proc.pid is not None
    try:
        with pytest.raises(CoqHung):
            await proc.sync(["Goal True /\\ True.", "split.",
                             "par: (repeat (assert True by trivial))."], 1.0)
    finally:
        await proc.close()
    await asyncio.sleep(0.2)
    assert _live_members(proc.pid) == []


async def test_a_closed_environment_does_not_keep_released_processes() -> None:
    env = CoqEnvironment(max_processes=1)
    session = await env.open(CONJ)
    proc = session._proc
    await env.close()
    await session.close()
    assert proc is not None and not proc.alive


async def test_coq_project_load_paths_are_used_for_library_files(tmp_path: Path) -> None:
    theories = tmp_path / "theories"
    theories.mkdir()
    (theories / "Base.v").write_text("Definition double (n : nat) := n + n.\n")
    (theories / "Use.v").write_text("Require Import MyLib.Base.\n"
                                    "Lemma double_1 : double 1 = 2.\nProof. reflexivity. Qed.\n")
    (tmp_path / "_CoqProject").write_text("# comment\n-R theories MyLib\ntheories/Base.v\n")
    subprocess.run(["coqc", "-R", str(theories), "MyLib", str(theories / "Base.v")],
                   check=True, capture_output=True, timeout=60)
    env = CoqEnvironment(tactic_timeout_s=1)
    try:
        theorem = Theorem("double_1", "Lemma double_1 : double 1 = 2.",
                          {"file": str(theories / "Use.v"), "index": 1})
        async with await env.open(theorem) as session:
            assert session.root.goals == ("⊢ double 1 = 2",)
            assert isinstance(await session.apply(session.root, "reflexivity."), Proved)
            assert await session.verify(["reflexivity."])
    finally:
        await env.close()
