"""LeanReplEnvironment against scripted REPL processes that answer with lean-interact's models.

``lean_fakes.FakeRepl`` builds the REPL's JSON answers (the shapes of the REPL's own tests and
REFERENCE.md, the invalid_tactic error-with-new-state included) and validates them into
``CommandResponse`` / ``ProofStepResponse`` / ``LeanError`` as ``LeanServer.run`` does.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest
from lean_fakes import BOTH, LEFT, RIGHT, ROOT, FakeRepl, message

from prover import BestFirstSearch, FixedTacticGenerator, SearchConfig, Theorem
from prover.backends import LeanReplEnvironment
from prover.backends.repl import LeanReplSession, statement_with_proof, statement_with_sorry
from prover.errors import ConfigError, EnvironmentCrashError, EnvironmentInitError
from prover.types import ProofState, Proved, StateReached, TacticError, TacticTimeout

HEADER = "import Mathlib\n\nset_option maxHeartbeats 0\n\n"
STATEMENT = "theorem two_goals (p q : Prop) (hp : p) (hq : q) : p ∧ q := by"
THEOREM = Theorem("two_goals", statement=STATEMENT,
                  locator={"header": HEADER, "formal_statement": STATEMENT})
PROOF = ("constructor", "exact hp", "exact hq")
TABLE = {
    ROOT: [("exact my_fake_premise", -0.05), ("simp", -0.1), ("exact?", -0.2),
           ("constructor", -0.5)],
    BOTH: [("exact hp", -0.3)],
    RIGHT: [("exact hq", -0.1)],
}


@pytest.fixture
def repl() -> Iterator[FakeRepl]:
    fake = FakeRepl(header=HEADER)
    fake.statement(statement_with_sorry(STATEMENT))
    fake.proofs[HEADER + statement_with_proof(STATEMENT, PROOF)] = {"messages": []}
    yield fake
    assert fake.concurrency.max <= 1, "two requests ran in one REPL process at once"


def env_for(repl: FakeRepl, **kwargs: Any) -> LeanReplEnvironment:
    return LeanReplEnvironment(server_factory=repl.factory, **kwargs)


class Capture:
    def __init__(self, env: LeanReplEnvironment) -> None:
        self.env = env
        self.sessions: list[LeanReplSession] = []

    async def open(self, theorem: Theorem) -> LeanReplSession:
        session = await self.env.open(theorem)
        self.sessions.append(session)
        return session

    async def close(self) -> None:
        await self.env.close()


def search(env: Any, table: dict[str, list[tuple[str, float]]] = TABLE) -> BestFirstSearch:
    return BestFirstSearch(env, FixedTacticGenerator(table), config=SearchConfig())


def commands(repl: FakeRepl, index: int) -> list[dict[str, Any]]:
    return [r for r in repl.requests(index) if "cmd" in r]


async def test_repl_answers_become_outcomes(repl: FakeRepl) -> None:
    env = env_for(repl)
    async with await env.open(THEOREM) as session:
        assert session.root == ProofState((ROOT,)) and session.root.handle == ()
        both = await session.apply(session.root, "constructor")
        assert isinstance(both, StateReached)
        assert both.state.goals == (LEFT, RIGHT) and both.state.num_goals == 2
        assert both.state.key == BOTH and both.state.handle == ("constructor",)
        simp = await session.apply(session.root, "simp")
        assert simp == TacticError("simp made no progress")
        # a new proofState with no goals, and an error message: a failure, not a proof
        fake = await session.apply(session.root, "exact my_fake_premise")
        assert fake == TacticError("Unknown identifier `my_fake_premise`")
        for tactic, words in [("exact?", "contains sorry"),
                              ("refine ⟨?_, ?_⟩ <;> skip", "metavariable"),
                              ("kernel", "kernel type check failed")]:
            outcome = await session.apply(session.root, tactic)
            assert isinstance(outcome, TacticError) and words in outcome.message, tactic
        crashy = await session.apply(session.root, "crashy")
        assert crashy == TacticError("Lean error:\nPANIC at something")
        right = await session.apply(both.state, "exact hp")
        assert isinstance(right, StateReached) and right.state.goals == (RIGHT,)
        assert await session.apply(right.state, "exact hq") == Proved()
        assert await session.apply(session.root, "   ") == TacticError("empty tactic")
    wire = repl.requests(0)
    assert wire[0] == {"cmd": HEADER}
    assert wire[1] == {"cmd": statement_with_sorry(STATEMENT), "env": 0}
    assert wire[2] == {"proofState": 1, "tactic": "constructor"}


async def test_the_header_runs_once_per_process(repl: FakeRepl) -> None:
    other = "theorem other (p q : Prop) (hp : p) (hq : q) : p ∧ q := by"
    repl.statement(statement_with_sorry(other))
    env = env_for(repl)
    for statement in (STATEMENT, other, STATEMENT):
        theorem = Theorem("x", statement=statement, locator={"header": HEADER})
        async with await env.open(theorem) as session:
            assert session.root.goals == (ROOT,)
    sent = commands(repl, 0)
    assert [c.get("env") for c in sent] == [None, 0, 0, 0]
    assert [c["cmd"] for c in sent].count(HEADER) == 1
    assert len(repl.servers) == 1
    await env.close()


async def test_search_proves_and_verifies_the_whole_text(repl: FakeRepl) -> None:
    capture = Capture(env_for(repl))
    result = await search(capture).search(THEOREM)
    assert result.status == "proved", result.message
    assert result.proof == PROOF and result.stats.verified is True
    verify = commands(repl, 0)[-1]
    assert verify == {"cmd": HEADER + STATEMENT + "\n  constructor\n  exact hp\n  exact hq\n"}
    errors = {e["tactic"]: e["message"] for e in result.tree.errors(ROOT)}
    assert errors["exact my_fake_premise"] == "Unknown identifier `my_fake_premise`"
    await capture.close()


@pytest.mark.parametrize(("answer", "accepted"), [
    ({"messages": []}, True),
    ({"messages": [message("warning", "unused variable `h`")]}, True),
    ({"messages": [message("warning", "declaration uses 'sorry'")]}, False),
    ({"messages": [message("error", "unsolved goals")]}, False),
    ({"sorries": [{"goal": "⊢ q", "proofState": 3}]}, False),
])
async def test_verify_needs_no_error_and_no_sorry(repl: FakeRepl, answer: dict[str, Any],
                                                  accepted: bool) -> None:
    repl.proofs[HEADER + statement_with_proof(STATEMENT, PROOF)] = answer
    env = env_for(repl)
    async with await env.open(THEOREM) as session:
        assert await session.verify(PROOF) is accepted
        assert await session.verify(PROOF[:2]) is False  # text the REPL rejects
    await env.close()


async def test_timeout_restarts_the_process_and_replays(repl: FakeRepl) -> None:
    repl.fault(BOTH, "slow_tac", "timeout")
    table = dict(TABLE, **{BOTH: [("slow_tac", -0.1), ("exact hp", -0.3)]})
    capture = Capture(env_for(repl))
    result = await search(capture, table).search(THEOREM)
    assert result.status == "proved", result.message
    assert result.proof == PROOF and result.stats.verified is True
    timeout = next(e for e in result.tree.errors(BOTH) if e["tactic"] == "slow_tac")
    assert timeout["outcome"] == "timeout"
    assert len(repl.servers) == 2 and repl.servers[0].killed
    second = repl.requests(1)
    assert second[0] == {"cmd": HEADER}  # the header again, once, on the new process
    assert second[2]["tactic"] == "constructor"  # the path to BOTH replayed
    session = capture.sessions[0]
    assert (session.restarts, session.crashes, session.timeouts) == (1, 0, 1)
    await capture.close()


async def test_crash_recovery_survives_a_failed_restart(repl: FakeRepl) -> None:
    repl.steps[(RIGHT, "assumption")] = []
    repl.fault(RIGHT, "exact hq", "crash")
    repl.start_faults[1] = ChildProcessError("The Lean server could not be started")
    table = dict(TABLE, **{RIGHT: [("exact hq", -0.1), ("assumption", -0.2)]})
    repl.proofs[HEADER + statement_with_proof(STATEMENT, (*PROOF[:2], "assumption"))] = {}
    capture = Capture(env_for(repl, max_restarts=2))
    result = await search(capture, table).search(THEOREM)
    assert result.status == "proved", result.message
    assert result.proof == ("constructor", "exact hp", "assumption")
    assert result.stats.verified is True
    crash = next(e for e in result.tree.errors(RIGHT) if e["tactic"] == "exact hq")
    assert "crashed" in crash["message"] and "ConnectionAbortedError" in crash["message"]
    session = capture.sessions[0]
    assert (session.restarts, session.crashes) == (1, 2)
    await capture.close()


async def test_out_of_memory_and_the_restart_bound(repl: FakeRepl) -> None:
    repl.fault(ROOT, "constructor", "oom", "oom")
    env = env_for(repl, max_restarts=1)
    async with await env.open(THEOREM) as session:
        first = await session.apply(session.root, "constructor")
        assert isinstance(first, TacticError) and "out of memory" in first.message
        with pytest.raises(EnvironmentCrashError, match="out of memory") as caught:
            await session.apply(session.root, "constructor")
        assert "max_restarts=1" in str(caught.value)
    await env.close()


async def test_bad_statement_and_bad_header_are_init_errors(repl: FakeRepl) -> None:
    env = env_for(repl)
    wrong = Theorem("w", statement="theorem w : 1 = 2 := by", locator={"header": HEADER})
    with pytest.raises(EnvironmentInitError, match="does not elaborate"):
        await env.open(wrong)
    broken = Theorem("b", statement=STATEMENT, locator={"header": "import Nope\n"})
    with pytest.raises(EnvironmentInitError, match="header does not compile"):
        await env.open(broken)
    result = await search(env).search(wrong)
    assert result.status == "error" and result.message is not None
    assert result.message.startswith("EnvironmentInitError")
    with pytest.raises(EnvironmentInitError, match="no formal statement"):
        await env.open(Theorem("empty"))
    await env.close()


async def test_the_pool_leases_each_process_to_one_session(repl: FakeRepl) -> None:
    env = env_for(repl, num_processes=2)
    first = await env.open(THEOREM)
    second = await env.open(THEOREM)
    third = asyncio.ensure_future(env.open(THEOREM))
    await asyncio.sleep(0.1)
    assert not third.done()  # both processes are leased
    await first.close()
    session = await third
    assert len(repl.servers) == 2
    assert sum(c["cmd"] == HEADER for s in range(2) for c in commands(repl, s)) == 2
    outcome = await session.apply(session.root, "constructor")
    assert isinstance(outcome, StateReached)
    await env.close()
    assert all(not server.alive for server in repl.servers)
    await second.close()  # already closed by env.close: a no-op


async def test_processes_are_recycled_after_theorems_per_process(repl: FakeRepl) -> None:
    env = env_for(repl, theorems_per_process=2)
    for _ in range(3):
        async with await env.open(THEOREM):
            pass
    assert len(repl.servers) == 2 and repl.servers[0].killed
    assert env.process_starts == 2
    await env.close()


async def test_cancelled_apply_kills_the_process_and_the_next_call_restarts(
        repl: FakeRepl) -> None:
    repl.fault(ROOT, "constructor", "block")
    env = env_for(repl)
    async with await env.open(THEOREM) as session:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(session.apply(session.root, "constructor"), 0.3)
        began = time.monotonic()
        outcome = await session.apply(session.root, "constructor")
        assert time.monotonic() - began < 10  # the blocked request would have taken 30 s
        assert isinstance(outcome, StateReached) and outcome.state.key == BOTH
        assert len(repl.servers) == 2 and session.crashes == 0
    await env.close()


async def test_close_during_an_apply_is_prompt(repl: FakeRepl) -> None:
    repl.fault(ROOT, "constructor", "block")
    env = env_for(repl)
    session = await env.open(THEOREM)
    task = asyncio.ensure_future(session.apply(session.root, "constructor"))
    await asyncio.sleep(0.2)
    began = time.monotonic()
    await session.close()
    assert time.monotonic() - began < 10
    assert isinstance(await task, TacticTimeout)
    again = await env.open(THEOREM)  # the process went back to the pool and restarts
    assert isinstance(await again.apply(again.root, "constructor"), StateReached)
    await env.close()


def test_configuration_is_validated() -> None:
    for bad in ({"num_processes": 0}, {"tactic_timeout_s": 0}, {"command_timeout_s": -1},
                {"memory_limit_mb": 0}, {"theorems_per_process": 0}, {"max_restarts": -1}):
        with pytest.raises(ConfigError):
            LeanReplEnvironment(**bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not both"):
        LeanReplEnvironment("some/project", lean_version="v4.9.0")


@pytest.mark.skipif(shutil.which("lake") is not None, reason="lake is installed here")
async def test_without_lake_the_default_factory_says_how_to_install() -> None:
    env = LeanReplEnvironment()
    with pytest.raises(EnvironmentInitError, match="`lake` is not on PATH") as caught:
        await env.open(THEOREM)
    assert "elan" in str(caught.value)
    await env.close()


def test_statement_text() -> None:
    assert statement_with_sorry("theorem t : p := by") == "theorem t : p := by sorry"
    assert statement_with_sorry("theorem t : p := by\n") == "theorem t : p := by sorry"
    assert statement_with_sorry("theorem t : p :=") == "theorem t : p := by sorry"
    assert statement_with_sorry("theorem t : p") == "theorem t : p := by sorry"
    proof = statement_with_proof("theorem t : p := by", ["have h : q := by\n  simp", "exact h"])
    assert proof == "theorem t : p := by\n  have h : q := by\n    simp\n  exact h\n"


def test_default_factory_builds_one_config_from_the_project(tmp_path: Any,
                                                            monkeypatch: Any) -> None:
    import lean_interact

    import prover.backends.repl as repl_module

    made: list[dict[str, Any]] = []

    class Config:
        def __init__(self, **kwargs: Any) -> None:
            made.append(kwargs)

    class Server:
        def __init__(self, config: Any) -> None:
            self.config = config

    monkeypatch.setattr(repl_module.shutil, "which", lambda name: "/opt/elan/bin/lake")
    monkeypatch.setattr(lean_interact, "LeanREPLConfig", Config)
    monkeypatch.setattr(lean_interact, "LeanServer", Server)
    factory = repl_module.LeanServerFactory(tmp_path, memory_limit_mb=8192)
    first, second = factory(), factory()
    assert len(made) == 1 and first.config is second.config  # one config, built once
    project = made[0]["project"]
    assert isinstance(project, lean_interact.LocalProject)
    assert (project.directory, project.auto_build) == (str(tmp_path), False)
    assert made[0]["memory_hard_limit_mb"] == 8192 and made[0]["lean_version"] is None

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("Failed to build the REPL")

    monkeypatch.setattr(lean_interact, "LeanREPLConfig", broken)
    with pytest.raises(EnvironmentInitError, match="Failed to build the REPL") as caught:
        repl_module.LeanServerFactory(lean_version="v4.9.0")()
    assert "elan" in str(caught.value) and "lake exe cache get" in str(caught.value)
    with pytest.raises(EnvironmentInitError, match="not a directory"):
        repl_module.LeanServerFactory(tmp_path / "missing")()
