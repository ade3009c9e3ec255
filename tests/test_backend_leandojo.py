"""LeanDojoEnvironment against a scripted Dojo that speaks lean_dojo's own classes.

No Lean here: ``lean_fakes.FakeLean`` answers with ``TacticState``/``ProofFinished``/
``LeanError``/``ProofGivenUp`` and raises ``DojoTacticTimeoutError``/``DojoCrashError``/
``DojoInitError``, and records any misuse (wrong thread, stale state, reuse after a timeout).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from helpers import Capture
from lean_dojo import DojoInitError, TacticState
from lean_fakes import BOTH, LEFT, PROVED, RIGHT, ROOT, THEOREM, FakeLean

from prover import BestFirstSearch, FixedTacticGenerator, SearchConfig, Theorem
from prover.backends import LeanDojoEnvironment
from prover.errors import ConfigError, EnvironmentCrashError, EnvironmentInitError
from prover.types import ProofState, Proved, StateReached, TacticError, TacticTimeout

TABLE = {
    ROOT: [("simp", -0.1), ("exact?", -0.2), ("constructor", -0.5)],
    BOTH: [("bad", -0.1), ("exact hp", -0.3)],
    RIGHT: [("exact hq", -0.1)],
}
PROOF = ("constructor", "exact hp", "exact hq")




@pytest.fixture
def lean() -> Iterator[FakeLean]:
    fake = FakeLean()
    yield fake
    assert fake.violations == [], fake.violations
    assert fake.concurrency.max <= 1, "two calls ran in one Dojo at once"
    for dojo in fake.dojos:
        assert not dojo.entered or dojo.exited, f"Dojo {dojo.index} was never exited"
    for command in fake.command_dojos:
        assert not command.entered or command.exited, "a command-mode Dojo was never exited"


def env_for(lean: FakeLean, **kwargs: object) -> LeanDojoEnvironment:
    return LeanDojoEnvironment(dojo_factory=lean.factory,  # type: ignore[arg-type]
                               command_factory=lean.command_factory, **kwargs)


def search(env: object, table: dict[str, list[tuple[str, float]]] = TABLE,
           **config: object) -> BestFirstSearch:
    return BestFirstSearch(env, FixedTacticGenerator(table),  # type: ignore[arg-type]
                           config=SearchConfig(**config))  # type: ignore[arg-type]


async def test_results_map_to_outcomes(lean: FakeLean) -> None:
    env = env_for(lean)
    async with await env.open(THEOREM) as session:
        assert session.root == ProofState((ROOT,), key=ROOT)
        assert session.root.handle == ()
        outcome = await session.apply(session.root, "constructor")
        assert isinstance(outcome, StateReached)
        # goals split by LeanDojo's own rule, and as many as TacticState.num_goals
        assert outcome.state.goals == (LEFT, RIGHT)
        assert outcome.state.num_goals == TacticState(BOTH, 0).num_goals == 2
        assert outcome.state.key == BOTH
        assert outcome.state.handle == ("constructor",)
        assert await session.apply(session.root, "simp") == TacticError("simp made no progress")
        given_up = await session.apply(session.root, "exact?")
        assert isinstance(given_up, TacticError) and "not a proof" in given_up.message
        right = await session.apply(outcome.state, "exact hp")
        assert isinstance(right, StateReached) and right.state.goals == (RIGHT,)
        assert right.state.handle == ("constructor", "exact hp")
        assert await session.apply(right.state, "exact hq") == Proved("")
    assert len(lean.dojos) == 1 and lean.dojos[0].exited


async def test_search_proves_a_two_goal_theorem_and_verifies_it(lean: FakeLean) -> None:
    capture = Capture(env_for(lean))
    result = await search(capture).search(THEOREM)
    assert result.status == "proved", result.message
    assert result.proof == PROOF
    assert result.stats.verified is True
    assert len(lean.dojos) == 2  # the search's Dojo, and a fresh one for verify
    assert lean.calls_on(1) == [(ROOT, "constructor"), (BOTH, "exact hp"), (RIGHT, "exact hq")]
    errors = {e["tactic"]: e["message"] for e in result.tree.errors(ROOT)}
    assert errors["simp"] == "simp made no progress"
    session = capture.sessions[0]
    assert (session.restarts, session.crashes, session.timeouts) == (0, 0, 0)


async def test_a_given_up_proof_is_never_a_proof() -> None:
    lean = FakeLean(edges={(ROOT, "exact?"): "<given up>", (ROOT, "constructor"): BOTH})
    result = await search(env_for(lean), {ROOT: [("exact?", -0.1), ("constructor", -1.0)]}
                          ).search(THEOREM)
    assert result.status == "failed"
    assert result.proof is None
    assert lean.violations == []


async def test_timeout_restarts_the_dojo_and_rebuilds_the_states(lean: FakeLean) -> None:
    lean.fault(BOTH, "slow_tac", "timeout")
    table = dict(TABLE, **{BOTH: [("slow_tac", -0.1), ("exact hp", -0.3)]})
    capture = Capture(env_for(lean))
    result = await search(capture, table).search(THEOREM)
    assert result.status == "proved", result.message
    assert result.proof == PROOF and result.stats.verified is True
    timeouts = [e for e in result.tree.errors(BOTH) if e["tactic"] == "slow_tac"]
    assert timeouts[0]["outcome"] == "timeout" and "LeanDojo#218" in timeouts[0]["message"]
    # the timed-out Dojo was killed, a new one started, and the path to BOTH replayed there
    assert lean.dojos[0].exited
    assert lean.calls_on(1)[:2] == [(ROOT, "constructor"), (BOTH, "exact hp")]
    assert len(lean.dojos) == 3  # search, restart, verify
    session = capture.sessions[0]
    assert (session.restarts, session.crashes, session.timeouts) == (1, 0, 1)


async def test_crash_recovery_replays_and_still_proves(lean: FakeLean) -> None:
    lean.edges[(RIGHT, "assumption")] = PROVED
    lean.fault(RIGHT, "exact hq", "crash")
    lean.init_faults[1] = DojoInitError("Unexpected EOF")  # the first restart fails too
    table = dict(TABLE, **{RIGHT: [("exact hq", -0.1), ("assumption", -0.2)]})
    capture = Capture(env_for(lean, max_restarts=2))
    result = await search(capture, table).search(THEOREM)
    assert result.status == "proved", result.message
    assert result.proof == ("constructor", "exact hp", "assumption")
    assert result.stats.verified is True
    crash = next(e for e in result.tree.errors(RIGHT) if e["tactic"] == "exact hq")
    assert crash["outcome"] == "error" and "Unexpected EOF" in crash["message"]
    assert lean.calls_on(2) == [(ROOT, "constructor"), (BOTH, "exact hp"), (RIGHT, "assumption")]
    session = capture.sessions[0]
    assert (session.restarts, session.crashes) == (1, 2)


async def test_replay_that_reaches_another_state_is_an_error_not_a_wrong_state(
        lean: FakeLean) -> None:
    env = env_for(lean)
    async with await env.open(THEOREM) as session:
        both = await session.apply(session.root, "constructor")
        assert isinstance(both, StateReached)
        lean.fault(ROOT, "simp", "crash")
        assert isinstance(await session.apply(session.root, "simp"), TacticError)
        lean.edges[(ROOT, "constructor")] = RIGHT  # Lean now answers differently
        outcome = await session.apply(both.state, "exact hp")
        assert isinstance(outcome, TacticError) and "different state" in outcome.message


async def test_crashes_beyond_max_restarts_end_the_search_with_the_cause(lean: FakeLean) -> None:
    for tactic in ("a", "b", "c"):
        lean.fault(ROOT, tactic, "crash")
    table = {ROOT: [("a", -0.1), ("b", -0.2), ("c", -0.3)]}
    result = await search(env_for(lean, max_restarts=1), table).search(THEOREM)
    assert result.status == "error"
    assert result.message is not None
    assert "EnvironmentCrashError" in result.message
    assert "crashed 2 times" in result.message and "max_restarts=1" in result.message
    assert "Unexpected EOF" in result.message


async def test_out_of_memory_is_reported_as_such(lean: FakeLean) -> None:
    lean.fault(ROOT, "constructor", "oom", "oom")
    env = env_for(lean, max_restarts=1)
    async with await env.open(THEOREM) as session:
        first = await session.apply(session.root, "constructor")
        assert isinstance(first, TacticError)
        assert "out of memory" in first.message and "TACTIC_MEMORY_LIMIT" in first.message
        with pytest.raises(EnvironmentCrashError, match="out of memory"):
            await session.apply(session.root, "constructor")


@pytest.mark.parametrize(("error", "advice"), [
    (DojoInitError("Cannot find the *.ast.json file for Theorem(...) in /cache/x."),
     ["lean_dojo.trace", "CACHE_DIR"]),
    (subprocess.CalledProcessError(1, "lake build"),
     ["lake build", "CACHE_DIR", "DISABLE_REMOTE_CACHE", "v4.12"]),
    (DojoInitError("Unexpected EOF"), ["v4.12", "LeanDojo#211"]),
    (DojoInitError("Timeout during initialization"), ["timeout_s"]),
])
async def test_init_failures_say_what_to_do(error: BaseException, advice: list[str]) -> None:
    lean = FakeLean()
    lean.init_faults[0] = error
    env = env_for(lean)
    with pytest.raises(EnvironmentInitError) as caught:
        await env.open(THEOREM)
    for words in advice:
        assert words in str(caught.value)
    assert caught.value.__cause__ is error
    lean.init_faults[1] = error
    result = await search(env).search(THEOREM)
    assert result.status == "error" and result.message is not None
    assert result.message.startswith("EnvironmentInitError")
    await _threads_gone("dojo-")


async def test_default_factory_needs_a_leandojo_locator() -> None:
    env = LeanDojoEnvironment()
    with pytest.raises(EnvironmentInitError, match="no 'leandojo' locator"):
        await env.open(Theorem("t"))
    partial = Theorem("t", locator={"leandojo": {"url": "https://github.com/a/b", "commit": "c",
                                                 "file_path": "A.lean"}})
    with pytest.raises(EnvironmentInitError, match=r"leandojo\.full_name"):
        await env.open(partial)


async def test_cancelled_apply_kills_the_process_and_the_next_call_restarts(
        lean: FakeLean) -> None:
    lean.fault(ROOT, "constructor", "block")
    env = env_for(lean)
    async with await env.open(THEOREM) as session:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(session.apply(session.root, "constructor"), 0.3)
        began = time.monotonic()
        outcome = await session.apply(session.root, "constructor")
        assert time.monotonic() - began < 10  # the blocked call would have taken 30 s
        assert isinstance(outcome, StateReached) and outcome.state.key == BOTH
        assert lean.dojos[0].exited and lean.dojos[0].proc is not None
        assert lean.dojos[0].proc.returncode is not None  # the process was killed
        assert session.restarts == 1 and session.crashes == 0


async def test_queued_calls_wait_for_the_running_one(lean: FakeLean) -> None:
    lean.fault(ROOT, "constructor", "slow")
    env = env_for(lean)
    async with await env.open(THEOREM) as session:
        outcomes = await asyncio.gather(*(session.apply(session.root, t)
                                          for t in ("constructor", "simp", "exact?")))
        assert isinstance(outcomes[0], StateReached)
        assert outcomes[1] == TacticError("simp made no progress")
    assert lean.concurrency.max == 1
    assert [t for _, _, t in lean.calls] == ["constructor", "simp", "exact?"]


async def test_close_during_an_apply_is_prompt(lean: FakeLean) -> None:
    lean.fault(ROOT, "constructor", "block")
    env = env_for(lean)
    session = await env.open(THEOREM)
    task = asyncio.ensure_future(session.apply(session.root, "constructor"))
    await asyncio.sleep(0.2)
    began = time.monotonic()
    await session.close()
    assert time.monotonic() - began < 10
    assert isinstance(await task, TacticTimeout)
    with pytest.raises(EnvironmentCrashError, match="closed"):
        await session.apply(session.root, "simp")
    await _threads_gone("dojo-")


async def test_the_event_loop_runs_while_lean_works(lean: FakeLean) -> None:
    lean.fault(ROOT, "constructor", "slow")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    env = env_for(lean)
    async with await env.open(THEOREM) as session:
        task = asyncio.ensure_future(ticker())
        await session.apply(session.root, "constructor")
        task.cancel()
    assert ticks >= 3  # a loop blocked by the 0.3 s tactic would not tick during it


async def test_each_session_drives_its_dojo_from_its_own_thread(lean: FakeLean) -> None:
    env = env_for(lean)
    first, second = await asyncio.gather(env.open(THEOREM), env.open(THEOREM))
    await asyncio.gather(first.apply(first.root, "constructor"),
                         second.apply(second.root, "constructor"))
    threads = {dojo.thread for dojo in lean.dojos}
    assert len(threads) == 2 and threading.get_ident() not in threads
    await env.close()
    assert all(dojo.exited for dojo in lean.dojos)


async def test_verify_replays_in_a_fresh_dojo(lean: FakeLean) -> None:
    env = env_for(lean)
    async with await env.open(THEOREM) as session:
        await session.apply(session.root, "constructor")
        assert await session.verify(PROOF) is True
        assert lean.dojos[0].exited  # the search's Dojo is released first
        assert await session.verify(PROOF[:2]) is False  # goals remain
        assert await session.verify((*PROOF, "exact hq")) is False  # tactics after the end
        assert await session.verify(("constructor", "bad")) is False
        assert await session.verify(("exact?",)) is False  # ProofGivenUp
        assert len(lean.dojos) == 6
        # the session still works after verify (a new Dojo, root rebuilt)
        assert isinstance(await session.apply(session.root, "constructor"), StateReached)


def test_configuration_is_validated() -> None:
    with pytest.raises(ConfigError):
        LeanDojoEnvironment(timeout_s=0)
    with pytest.raises(ConfigError):
        LeanDojoEnvironment(timeout_s=1.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        LeanDojoEnvironment(max_restarts=-1)


async def test_states_of_other_backends_are_refused(lean: FakeLean) -> None:
    env = env_for(lean)
    async with await env.open(THEOREM) as session:
        with pytest.raises(ValueError, match="not handed out"):
            await session.apply(ProofState((ROOT,), handle="text"), "simp")


def test_import_prover_does_not_import_lean_dojo() -> None:
    code = ("import sys, prover, prover.backends, prover.theorems\n"
            "from prover.backends import LeanDojoEnvironment, LeanReplEnvironment\n"
            "LeanDojoEnvironment(); LeanReplEnvironment()\n"
            "heavy = [m for m in ('lean_dojo', 'lean_interact', 'ray', 'loguru') "
            "if m in sys.modules]\n"
            "print(heavy); sys.exit(1 if heavy else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


async def _threads_gone(prefix: str) -> None:
    deadline = time.monotonic() + 5
    while any(t.name.startswith(prefix) for t in threading.enumerate()):
        assert time.monotonic() < deadline, [t.name for t in threading.enumerate()]
        await asyncio.sleep(0.02)


# ---- goal parsing of real Lean states -------------------------------------------------------
REAL_STATES = [
    # one goal, unicode hypotheses, as miniF2F prints them
    ("x y z w : ℕ\nht : 1 < x ∧ 1 < y ∧ 1 < z\nhw : 0 ≤ w\n⊢ Real.log ↑w / Real.log ↑z = 60", 1),
    # `constructor` on ∧: case tags, goals separated by one blank line
    (BOTH, 2),
    # `induction n with` and three goals, dotted case tags
    ("case zero\n⊢ 0 + 0 = 0\n\ncase succ\nn : ℕ\nih : 0 + n = n\n⊢ 0 + (n + 1) = n + 1\n\n"
     "case succ.h\nn : ℕ\n⊢ True", 3),
    # a multi-line hypothesis (the pretty printer wraps long types over several lines)
    ("f : ℕ → ℕ\nh₀ :\n  ∀ (x : ℕ),\n    f x = x + 1\n⊢ f 1 = 2", 1),
]


@pytest.mark.parametrize(("pp", "count"), REAL_STATES)
def test_goals_split_as_leandojo_counts_them(pp: str, count: int) -> None:
    from prover.backends.leandojo import split_goals

    goals = split_goals(pp)
    assert len(goals) == count == pp.count("⊢") == TacticState(pp, 0).num_goals
    assert "\n\n".join(goals) == pp  # nothing lost, nothing added
    assert all(goal.count("⊢") == 1 for goal in goals)


def test_goal_split_keeps_a_hypothesis_printed_over_a_blank_line() -> None:
    from prover.backends.leandojo import split_goals

    pp = "h : let x := 1\n\n  x = 1\n⊢ True\n\ncase b\n⊢ False"
    assert TacticState(pp, 0).num_goals == 2  # LeanDojo drops the piece "h : let x := 1"
    assert split_goals(pp) == ("h : let x := 1\n\n  x = 1\n⊢ True", "case b\n⊢ False")


async def test_a_goals_header_is_not_part_of_the_first_goal() -> None:
    pp = f"2 goals\n{BOTH}"  # as Lean prints it, before Dojo._post_process strips the count
    lean = FakeLean(edges={(ROOT, "constructor"): pp, (pp, "exact hp"): RIGHT})
    lean.fault(pp, "crashy", "crash")
    env = env_for(lean)
    async with await env.open(THEOREM) as session:
        outcome = await session.apply(session.root, "constructor")
        assert isinstance(outcome, StateReached)
        assert outcome.state.goals == (LEFT, RIGHT) and outcome.state.key == BOTH
        # the key is compared the same way when the state is rebuilt after a crash
        assert isinstance(await session.apply(outcome.state, "crashy"), TacticError)
        right = await session.apply(outcome.state, "exact hp")
        assert isinstance(right, StateReached) and right.state.goals == (RIGHT,)
        assert session.restarts == 1


async def test_a_state_without_a_turnstile_is_an_error_not_a_proved_state() -> None:
    lean = FakeLean(edges={(ROOT, "weird"): "Lean printed no goal here"})
    env = env_for(lean)
    async with await env.open(THEOREM) as session:
        outcome = await session.apply(session.root, "weird")
        assert isinstance(outcome, TacticError) and "no goal" in outcome.message


async def test_an_unparsable_state_is_an_error_and_keeps_the_dojo(lean: FakeLean) -> None:
    lean.fault(ROOT, "weird", "unparsable")
    env = env_for(lean)
    async with await env.open(THEOREM) as session:
        outcome = await session.apply(session.root, "weird")
        assert isinstance(outcome, TacticError) and "could not parse" in outcome.message
        assert isinstance(await session.apply(session.root, "constructor"), StateReached)
        assert len(lean.dojos) == 1  # not taken for a crash: no restart
        assert (session.restarts, session.crashes) == (0, 0)


async def test_lean_killed_by_a_signal_is_a_crash_named_as_such(lean: FakeLean) -> None:
    lean.fault(ROOT, "constructor", "sigkill")
    env = env_for(lean)
    async with await env.open(THEOREM) as session:
        outcome = await session.apply(session.root, "constructor")
        assert isinstance(outcome, TacticError)
        assert "signal 9" in outcome.message and "out of memory" in outcome.message
        assert session.crashes == 1
        assert isinstance(await session.apply(session.root, "constructor"), StateReached)


async def test_a_restart_slower_than_the_callers_timeout_is_not_redone(lean: FakeLean) -> None:
    lean.fault(ROOT, "simp", "crash")
    lean.init_delays[1] = 0.6  # the restart loads the file: slower than the caller waits
    env = env_for(lean)
    async with await env.open(THEOREM) as session:
        assert isinstance(await session.apply(session.root, "simp"), TacticError)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(session.apply(session.root, "constructor"), 0.2)
        outcome = await session.apply(session.root, "constructor")
        assert isinstance(outcome, StateReached) and outcome.state.key == BOTH
        # the restarted Dojo was kept (not killed and restarted again), and the tactic of
        # the abandoned call was never run
        assert len(lean.dojos) == 2 and session.restarts == 1
        assert lean.calls_on(1) == [(ROOT, "constructor")]


async def test_close_during_a_restart_kills_the_dojo_being_entered(lean: FakeLean) -> None:
    lean.fault(ROOT, "simp", "crash")
    lean.init_blocks.add(1)
    env = env_for(lean)
    session = await env.open(THEOREM)
    assert isinstance(await session.apply(session.root, "simp"), TacticError)
    task = asyncio.ensure_future(session.apply(session.root, "constructor"))
    deadline = time.monotonic() + 10
    while len(lean.dojos) < 2 or lean.dojos[1].proc is None:  # Lean started, not answered
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    began = time.monotonic()
    await session.close()
    assert time.monotonic() - began < 10  # the blocked __enter__ would have taken 30 s
    assert isinstance(await task, TacticTimeout)
    assert lean.dojos[1].proc.returncode is not None
    await _threads_gone("dojo-")


async def test_a_state_of_another_session_is_refused(lean: FakeLean) -> None:
    other_root = "p : Prop\nhp : p\n⊢ p ∧ p"
    other = FakeLean(root=other_root, edges={(other_root, "constructor"): RIGHT})
    first = env_for(lean)
    second = env_for(other)
    async with await first.open(THEOREM) as a, await second.open(THEOREM) as b:
        reached = await b.apply(b.root, "constructor")
        assert isinstance(reached, StateReached)
        await a.apply(a.root, "constructor")  # same tactic path in a, another state
        outcome = await a.apply(reached.state, "exact hq")
        assert isinstance(outcome, TacticError) and "another session" in outcome.message
