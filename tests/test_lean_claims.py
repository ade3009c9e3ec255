"""What a Lean backend checks at the step that claims a proof, and how a tactic is bounded.

Against the stand-ins of ``lean_fakes`` (lean-interact's and lean_dojo's own response types):
a step whose proof relies on an axiom outside ``allowed_axioms`` (``native_decide`` brings
``Lean.ofReduceBool``) is a TacticError and the search goes on to a real proof, in both
backends; Lean stopping a tactic at its heartbeat limit keeps the REPL process.
"""

from __future__ import annotations

from typing import Any

import pytest
from lean_fakes import BOTH, RIGHT, ROOT, FakeRepl, message

from prover import BestFirstSearch, FixedTacticGenerator, SearchConfig, Theorem
from prover.backends import LeanReplEnvironment
from prover.backends.repl import statement_with_proof, statement_with_sorry
from prover.types import Proved, StateReached, TacticError, TacticTimeout

HEADER = "import Mathlib\n\nset_option maxHeartbeats 0\n\n"
STATEMENT = "theorem two_goals (p q : Prop) (hp : p) (hq : q) : p ∧ q := by"
THEOREM = Theorem("two_goals", statement=STATEMENT,
                  locator={"header": HEADER, "formal_statement": STATEMENT})
PROOF = ("constructor", "exact hp", "exact hq")
NATIVE = ("native_decide",)
HEARTBEATS = ("Lean error:\n(deterministic) timeout at `whnf`, maximum number of heartbeats "
              "(200000) has been reached\nUse `set_option maxHeartbeats <num>` to set the limit.")
TABLE = {ROOT: [("native_decide", -0.01), ("nlinarith", -0.02), ("constructor", -0.5)],
         BOTH: [("exact hp", -0.3)], RIGHT: [("exact hq", -0.1)]}


@pytest.fixture
def repl() -> FakeRepl:
    fake = FakeRepl(header=HEADER)
    fake.statement(statement_with_sorry(STATEMENT))
    fake.steps[(ROOT, "native_decide")] = []  # the REPL's kernel check passes: "Completed"
    fake.steps[(ROOT, "nlinarith")] = HEARTBEATS
    fake.proofs[HEADER + statement_with_proof(STATEMENT, PROOF)] = {"messages": []}
    fake.proofs[HEADER + statement_with_proof(STATEMENT, NATIVE)] = {
        "messages": [], "_axioms": ["propext", "Lean.ofReduceBool"]}
    return fake


def search(env: Any) -> BestFirstSearch:
    return BestFirstSearch(env, FixedTacticGenerator(TABLE), config=SearchConfig())


async def test_repl_native_decide_is_a_tactic_error_and_the_search_goes_on(
        repl: FakeRepl) -> None:
    env = LeanReplEnvironment(server_factory=repl.factory)
    result = await search(env).search(THEOREM)
    await env.close()
    assert result.status == "proved", result.message
    assert result.proof == PROOF and result.stats.verified is True
    errors = {e["tactic"]: e["message"] for e in result.tree.errors(ROOT)}
    assert "Lean.ofReduceBool" in errors["native_decide"]
    assert "allowed_axioms" in errors["native_decide"]
    # the claim was checked in the header's environment: one import for the whole run
    sent = [r["cmd"] for r in repl.requests(0) if "cmd" in r]
    assert sent.count(HEADER) == 1
    assert statement_with_proof(STATEMENT, NATIVE) in sent


async def test_repl_claim_check_counts_allowed_axioms_and_can_be_off(repl: FakeRepl) -> None:
    native = {"propext", "Classical.choice", "Quot.sound", "Lean.ofReduceBool"}
    for allowed in (native, None):
        env = LeanReplEnvironment(server_factory=repl.factory, allowed_axioms=allowed)
        async with await env.open(THEOREM) as session:
            assert await session.apply(session.root, "native_decide") == Proved()
        await env.close()


@pytest.mark.parametrize("answer", [
    {"messages": [message("error", "unsolved goals")]},  # tactic mode and the whole text differ
    {"messages": [message("warning", "declaration uses 'sorry'")]},
    {"_axioms": ["sorryAx"]},
])
async def test_repl_claim_that_does_not_hold_as_a_whole_is_a_tactic_error(
        repl: FakeRepl, answer: dict[str, Any]) -> None:
    repl.proofs[HEADER + statement_with_proof(STATEMENT, NATIVE)] = answer
    env = LeanReplEnvironment(server_factory=repl.factory)
    async with await env.open(THEOREM) as session:
        outcome = await session.apply(session.root, "native_decide")
        assert isinstance(outcome, TacticError) and "does not count" in outcome.message
        # the process is in step: the search goes on from the same states
        assert isinstance(await session.apply(session.root, "constructor"), StateReached)
    assert len(repl.servers) == 1
    await env.close()


async def test_repl_claim_without_a_theorem_name_is_never_accepted(repl: FakeRepl) -> None:
    statement = "example (p q : Prop) (hp : p) (hq : q) : p ∧ q := by"
    repl.statement(statement_with_sorry(statement))
    env = LeanReplEnvironment(server_factory=repl.factory)
    theorem = Theorem("anonymous", statement=statement, locator={"header": HEADER})
    async with await env.open(theorem) as session:
        outcome = await session.apply(session.root, "native_decide")
        assert isinstance(outcome, TacticError) and "cannot be checked" in outcome.message
    await env.close()


async def test_repl_heartbeat_stop_is_a_timeout_that_keeps_the_process(repl: FakeRepl) -> None:
    env = LeanReplEnvironment(server_factory=repl.factory)
    async with await env.open(THEOREM) as session:
        outcome = await session.apply(session.root, "nlinarith")
        assert isinstance(outcome, TacticTimeout) and "heartbeat" in outcome.message
        assert isinstance(await session.apply(session.root, "constructor"), StateReached)
        assert session.heartbeat_timeouts == 1 and session.restarts == 0
    assert env.process_starts == 1 and repl.servers[0].killed == 0
    await env.close()
