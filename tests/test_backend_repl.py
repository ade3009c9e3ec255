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
from helpers import Capture
from lean_fakes import BOTH, LEFT, RIGHT, ROOT, FakeRepl, message

from prover import BestFirstSearch, FixedTacticGenerator, SearchConfig, Theorem
from prover.backends import LeanReplEnvironment
from prover.backends.repl import (
    STANDARD_AXIOMS,
    declared_theorem_name,
    parse_axioms,
    statement_with_proof,
    statement_with_sorry,
)
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
    verify, axioms = commands(repl, 0)[-2:]
    assert verify == {"cmd": HEADER + STATEMENT + "\n  constructor\n  exact hp\n  exact hq\n"}
    server = repl.servers[0]  # then its axioms, in the environment the proof made
    made = server.answers[server.requests.index(verify)]["env"]
    assert axioms == {"cmd": "#print axioms two_goals", "env": made}
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
                {"memory_limit_mb": 0}, {"theorems_per_process": 0}, {"max_restarts": -1},
                {"allowed_axioms": "propext"}, {"allowed_axioms": STANDARD_AXIOMS | {"sorryAx"}},
                {"allowed_axioms": {""}}):
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

    monkeypatch.setattr(shutil, "which", lambda name: "/opt/elan/bin/lake")
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


# ---- soundness of verify ----------------------------------------------------------------------
@pytest.mark.parametrize("proof", [
    ("rfl\ntheorem x : False := sorry",),  # ends the `by` block, then a top-level command
    ("constructor", "exact hp", "exact hq\nend"),
    ("constructor", "exact hp", "exact hq\n#exit"),
    ("constructor", "exact hp", "exact hq\naxiom cheat : False"),
    ("constructor", "exact hp", "exact hq theorem x : True := trivial"),
    ("constructor", "exact hp", "sorry"),
    ("constructor", "exact hp", "admit"),
    # top-level metaprogramming could make the `#print axioms` that follows answer anything
    ("constructor", "exact hp", "exact hq\nelab_rules : command | `(#print axioms $_) => pure ()"),
    ("constructor", "exact hp", "exact hq\nmacro_rules | `(tactic| rfl) => `(tactic| sorry)"),
    ("constructor", "exact hp", "exact hq\nrun_cmd pure ()"),
    ("constructor", "exact hp", "exact hq\nattribute [simp] And.intro"),
])
async def test_verify_refuses_proofs_that_escape_or_give_up(repl: FakeRepl,
                                                            proof: tuple[str, ...]) -> None:
    # a REPL that would answer "no message" must not even be asked: the text is not a proof
    repl.proofs[HEADER + statement_with_proof(STATEMENT, proof)] = {"messages": []}
    env = env_for(repl)
    async with await env.open(THEOREM) as session:
        sent = len(commands(repl, 0))
        assert await session.verify(proof) is False
        assert len(commands(repl, 0)) == sent
    await env.close()


def test_proof_escape_ignores_comments_strings_and_identifiers() -> None:
    from prover.backends.repl import proof_escape

    fine = ["simp [Nat.succ_le_iff, foo_def, h.end]  -- by the theorem above, end",
            "/- theorem: /- nested -/ sorry -/ exact h", 'exact "sorry, theorem end"',
            "exact instance_of h", "exact Classical.em p", "have h' : p := by\n  exact hp",
            "infer_instance", "exact?"]
    assert proof_escape(fine) is None
    assert proof_escape(["exact h", "  end"]) == "end"
    assert proof_escape(["exact h -- c\ntheorem t : True := trivial"]) == "theorem"
    assert proof_escape(["exact (sorry : p)"]) == "sorry"
    # a char literal '"' opens no string that would hide what follows
    assert proof_escape(["exact (h' '\"')\ntheorem x : True := trivial"]) == "theorem"


@pytest.mark.parametrize("warning", ["declaration uses `sorry`",
                                     "declaration uses 'sorry' (in 2 places)"])
async def test_verify_refuses_any_wording_of_the_sorry_warning(repl: FakeRepl,
                                                               warning: str) -> None:
    repl.proofs[HEADER + statement_with_proof(STATEMENT, PROOF)] = {
        "messages": [message("warning", warning)]}
    env = env_for(repl)
    async with await env.open(THEOREM) as session:
        assert await session.verify(PROOF) is False
    await env.close()


# ---- soundness of verify: axioms ----------------------------------------------------------
async def verify_with(repl: FakeRepl, axioms: Any, **kwargs: Any) -> bool:
    """verify PROOF, with `#print axioms two_goals` answering ``axioms``."""
    repl.axioms["two_goals"] = axioms
    env = env_for(repl, **kwargs)
    async with await env.open(THEOREM) as session:
        verified = await session.verify(PROOF)
    await env.close()
    return verified


@pytest.mark.parametrize("axioms", [
    [],
    ["propext"],
    ["propext", "Classical.choice", "Quot.sound"],
    # Lean wraps a long list over lines
    {"messages": [message("info", "'two_goals' depends on axioms: [propext,\n Classical.choice,"
                                  "\n Quot.sound]")]},
    # the full name, when the header opened a namespace
    {"messages": [message("info", "'Algebra.two_goals' does not depend on any axioms")]},
])
async def test_verify_accepts_the_standard_axioms(repl: FakeRepl, axioms: Any) -> None:
    assert await verify_with(repl, axioms) is True


@pytest.mark.parametrize(("axioms", "named"), [
    (["propext", "Lean.ofReduceBool"], "Lean.ofReduceBool"),  # native_decide
    (["Lean.ofReduceBool", "Lean.trustCompiler"], "Lean.trustCompiler"),
    (["propext", "sorryAx"], "sorryAx"),
    (["cheat"], "cheat"),  # an axiom the header or the proof smuggled in
])
async def test_verify_refuses_other_axioms(repl: FakeRepl, axioms: list[str], named: str,
                                           caplog: pytest.LogCaptureFixture) -> None:
    assert await verify_with(repl, axioms) is False
    assert "beyond allowed_axioms" in caplog.text and named in caplog.text


async def test_allowed_axioms_extend_what_verify_accepts(repl: FakeRepl) -> None:
    native = STANDARD_AXIOMS | {"Lean.ofReduceBool", "Lean.trustCompiler"}
    assert await verify_with(repl, ["Lean.ofReduceBool", "propext"],
                             allowed_axioms=native) is True
    assert await verify_with(repl, ["Lean.ofReduceBool", "cheat"], allowed_axioms=native) is False
    # and the defaults can be narrowed: a constructive-only run
    assert await verify_with(repl, ["Classical.choice"], allowed_axioms=set()) is False
    assert await verify_with(repl, [], allowed_axioms=set()) is True


@pytest.mark.parametrize("answer", [
    {"messages": []},
    {"messages": [message("info", "two_goals : p ∧ q")]},
    {"messages": [message("info", "'two_goals' depends on axioms: propext")]},
    {"messages": [message("info", "'two_goals' does not depend on any axioms"),
                  message("info", "'two_goals' depends on axioms: [sorryAx]")]},
    {"messages": [message("info", "'other_theorem' does not depend on any axioms")]},
    {"messages": [message("info", "'two_goals' does not depend on any axioms"),
                  message("error", "unknown constant 'two_goals'")]},
    {"message": "Unknown environment."},
])
async def test_verify_refuses_an_axiom_answer_it_cannot_read(
        repl: FakeRepl, answer: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    assert await verify_with(repl, answer) is False
    assert "#print axioms two_goals" in caplog.text


async def test_messages_of_the_proof_cannot_answer_for_print_axioms(repl: FakeRepl) -> None:
    # a tactic may log any text; only the answer to the separate command counts
    repl.proofs[HEADER + statement_with_proof(STATEMENT, PROOF)] = {"messages": [
        message("info", "'two_goals' does not depend on any axioms")]}
    assert await verify_with(repl, ["Lean.ofReduceBool"]) is False


async def test_verify_fails_closed_without_a_theorem_name(
        repl: FakeRepl, caplog: pytest.LogCaptureFixture) -> None:
    statement = "example (p q : Prop) (hp : p) (hq : q) : p ∧ q := by"
    repl.statement(statement_with_sorry(statement))
    repl.proofs[HEADER + statement_with_proof(statement, PROOF)] = {"messages": []}
    env = env_for(repl)
    theorem = Theorem("anonymous", statement=statement, locator={"header": HEADER})
    async with await env.open(theorem) as session:
        sent = len(commands(repl, 0))
        assert await session.verify(PROOF) is False
        assert len(commands(repl, 0)) == sent  # not even compiled: it could not be checked
    await env.close()
    assert "axioms cannot be checked" in caplog.text


def test_declared_theorem_name() -> None:
    assert declared_theorem_name(STATEMENT) == "two_goals"
    assert declared_theorem_name("theorem mathd_algebra_478\n  (b h v : ℝ) :\n  v = 65 := by"
                                 ) == "mathd_algebra_478"
    assert declared_theorem_name("lemma Nat.foo' {n : ℕ} : n = n := by") == "Nat.foo'"
    assert declared_theorem_name("theorem h₀_le: 1 ≤ 2 := by") == "h₀_le"
    assert declared_theorem_name("theorem «my thm» : True := by") == "«my thm»"
    assert declared_theorem_name("theorem foo.{u} (α : Sort u) : α → α := by") == "foo"
    assert declared_theorem_name("/-- a theorem about sums -/\n@[simp] private theorem bar "
                                 "⦃x : ℕ⦄ : x = x := by") == "bar"
    assert declared_theorem_name("open Real in\ntheorem baz : π > 3 := by") == "baz"
    assert declared_theorem_name("def f := 1\n-- theorem not_this : True\n"
                                 "theorem f_eq : f = 1 := by") == "f_eq"
    for nameless in ("example : True := by", "theorem : True := by", "theorem 1x : True",
                     "def f : ℕ := 1", "-- theorem t : True := by\nexample : True := by"):
        assert declared_theorem_name(nameless) is None, nameless


def test_parse_axioms() -> None:
    assert parse_axioms("'t' does not depend on any axioms") == ("t", frozenset())
    assert parse_axioms("'bar'' depends on axioms: [Classical.choice, Quot.sound, propext]"
                        "\n") == ("bar'", frozenset({"Classical.choice", "Quot.sound",
                                                      "propext"}))
    assert parse_axioms("'A.t' depends on axioms: [propext,\n Lean.ofReduceBool]") == (
        "A.t", frozenset({"propext", "Lean.ofReduceBool"}))
    for unreadable in ("", "t : True", "'t' depends on axioms: propext",
                       "unknown constant 't'"):
        assert parse_axioms(unreadable) is None, unreadable


async def test_verify_puts_a_header_without_final_newline_on_its_own_line() -> None:
    header = "import Mathlib"
    repl = FakeRepl(header=header)
    repl.statement(statement_with_sorry(STATEMENT))
    repl.proofs[header + "\n" + statement_with_proof(STATEMENT, PROOF)] = {"messages": []}
    theorem = Theorem("two_goals", statement=STATEMENT, locator={"header": header})
    env = env_for(repl)
    async with await env.open(theorem) as session:
        assert await session.verify(PROOF) is True
    await env.close()


# ---- states the REPL lost, restarts, the pool ------------------------------------------------
async def test_a_server_that_forgot_its_states_is_restarted_and_replayed(repl: FakeRepl) -> None:
    env = env_for(repl)
    async with await env.open(THEOREM) as session:
        both = await session.apply(session.root, "constructor")
        assert isinstance(both, StateReached)
        repl.servers[0].forget()  # e.g. AutoLeanServer restarted itself to free memory
        lost = await session.apply(both.state, "exact hp")
        assert isinstance(lost, TacticError) and "no longer holds" in lost.message
        right = await session.apply(both.state, "exact hp")
        assert isinstance(right, StateReached) and right.state.goals == (RIGHT,)
        assert len(repl.servers) == 2 and (session.restarts, session.crashes) == (1, 1)
    await env.close()


async def test_a_forgotten_header_environment_is_made_again(repl: FakeRepl) -> None:
    env = env_for(repl)
    async with await env.open(THEOREM):
        pass
    repl.servers[0].forget()
    async with await env.open(THEOREM) as session:
        assert session.root.goals == (ROOT,)
        assert isinstance(await session.apply(session.root, "constructor"), StateReached)
    assert [c["cmd"] for c in commands(repl, 0)].count(HEADER) == 2
    assert len(repl.servers) == 1
    await env.close()


async def test_a_failed_restart_of_the_default_kind_is_retried(repl: FakeRepl) -> None:
    # LeanServerFactory reports a process that did not start as EnvironmentInitError
    repl.start_faults[1] = EnvironmentInitError("the Lean REPL did not start")
    repl.fault(ROOT, "simp", "crash")
    env = env_for(repl, max_restarts=2)
    async with await env.open(THEOREM) as session:
        assert isinstance(await session.apply(session.root, "simp"), TacticError)
        outcome = await session.apply(session.root, "constructor")
        assert isinstance(outcome, StateReached) and outcome.state.key == BOTH
        assert (session.restarts, session.crashes) == (1, 2)
    await env.close()


async def test_a_restart_slower_than_the_callers_timeout_is_not_redone(repl: FakeRepl) -> None:
    repl.fault(ROOT, "simp", "crash")
    env = env_for(repl)
    async with await env.open(THEOREM) as session:
        assert isinstance(await session.apply(session.root, "simp"), TacticError)
        repl.command_delays[HEADER] = 0.6  # importing Mathlib again takes a while
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(session.apply(session.root, "constructor"), 0.2)
        outcome = await session.apply(session.root, "constructor")
        assert isinstance(outcome, StateReached) and outcome.state.key == BOTH
        assert len(repl.servers) == 2 and session.restarts == 1
        # the abandoned call did not run its tactic on the restarted process
        assert [r.get("tactic") for r in repl.requests(1) if "tactic" in r] == ["constructor"]
    await env.close()


async def test_closing_the_environment_fails_opens_waiting_for_a_process(
        repl: FakeRepl) -> None:
    env = env_for(repl)
    first = await env.open(THEOREM)
    waiting = asyncio.ensure_future(env.open(THEOREM))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await asyncio.wait_for(env.close(), 10)
    with pytest.raises(EnvironmentInitError, match="closed"):
        await asyncio.wait_for(waiting, 10)
    with pytest.raises(EnvironmentCrashError, match="closed"):
        await first.apply(first.root, "constructor")


async def test_a_state_of_another_session_is_refused(repl: FakeRepl) -> None:
    other = "theorem other (p : Prop) (hp : p) : p ∧ p := by"
    other_root = "p : Prop\nhp : p\n⊢ p ∧ p"
    repl.statement(statement_with_sorry(other), goal=other_root)
    repl.steps[(other_root, "constructor")] = [RIGHT]
    env = env_for(repl, num_processes=2)
    theirs = Theorem("other", statement=other, locator={"header": HEADER})
    async with await env.open(THEOREM) as a, await env.open(theirs) as b:
        reached = await b.apply(b.root, "constructor")
        assert isinstance(reached, StateReached)
        await a.apply(a.root, "constructor")  # same tactic path in a, another state
        outcome = await a.apply(reached.state, "exact hq")
        assert isinstance(outcome, TacticError) and "another session" in outcome.message
    await env.close()


async def test_closing_the_environment_during_an_open_fails_that_open(repl: FakeRepl) -> None:
    repl.command_delays[HEADER] = 0.5
    env = env_for(repl)
    opening = asyncio.ensure_future(env.open(THEOREM))
    await asyncio.sleep(0.1)
    await asyncio.wait_for(env.close(), 10)
    with pytest.raises(EnvironmentInitError, match="closed"):
        await asyncio.wait_for(opening, 10)
    assert all(not server.alive for server in repl.servers)


async def test_a_call_queued_at_worker_shutdown_fails_with_worker_closed() -> None:
    import threading as _threading

    from prover.backends.worker import ThreadWorker, WorkerClosedError

    release = _threading.Event()
    worker = ThreadWorker("test-worker", lambda: False)
    running = asyncio.ensure_future(worker.call(lambda: release.wait(5)))
    queued = asyncio.ensure_future(worker.call(lambda: "ran"))
    await asyncio.sleep(0.05)
    worker.shutdown()
    release.set()
    assert await running is True
    with pytest.raises(WorkerClosedError):  # not a CancelledError nobody asked for
        await queued
