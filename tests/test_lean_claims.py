"""What a Lean backend checks at the step that claims a proof, and how a tactic is bounded.

Against the stand-ins of ``lean_fakes`` (lean-interact's and lean_dojo's own response types):
a step whose proof relies on an axiom outside ``allowed_axioms`` (``native_decide`` brings
``Lean.ofReduceBool``) is a TacticError and the search goes on to a real proof, in both
backends; Lean stopping a tactic at its heartbeat limit keeps the REPL process.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from lean_fakes import BOTH, PROVED, RIGHT, ROOT, FakeLean, FakeRepl, message

from prover import BestFirstSearch, FixedTacticGenerator, SearchConfig, Theorem
from prover.backends import LeanDojoEnvironment, LeanReplEnvironment
from prover.backends.repl import statement_with_proof, statement_with_sorry
from prover.errors import BackendUnavailableError, EnvironmentInitError
from prover.types import Proved, StateReached, TacticError, TacticTimeout

HEADER = "import Mathlib\n\nset_option maxHeartbeats 0\n\n"
STATEMENT = "theorem two_goals (p q : Prop) (hp : p) (hq : q) : p ∧ q := by"
THEOREM = Theorem("two_goals", statement=STATEMENT,
                  locator={"header": HEADER, "formal_statement": STATEMENT})
DOJO_THEOREM = Theorem("two_goals", statement=STATEMENT)
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


# ---- LeanDojo ------------------------------------------------------------------------------
DOJO_TABLE = {ROOT: [("native_decide", -0.01), ("constructor", -0.5)],
              BOTH: [("exact hp", -0.3)], RIGHT: [("exact hq", -0.1)]}
MEW = {"url": "https://github.com/yangky11/miniF2F-lean4", "commit": "5746b7d6",
       "file_path": "MiniF2F/Test/two_goals.lean", "full_name": "two_goals"}


@pytest.fixture
def lean() -> Iterator[FakeLean]:
    fake = FakeLean()
    fake.edges[(ROOT, "native_decide")] = PROVED  # LeanDojo's validateProof passes
    fake.claim_axioms[NATIVE] = ["propext", "Lean.ofReduceBool"]
    yield fake
    assert fake.violations == [], fake.violations
    for dojo in [*fake.dojos, *fake.command_dojos]:
        assert not dojo.entered or dojo.exited


def dojo_env(lean: FakeLean, **kwargs: Any) -> LeanDojoEnvironment:
    return LeanDojoEnvironment(dojo_factory=lean.factory, command_factory=lean.command_factory,
                               **kwargs)


async def test_leandojo_native_decide_is_a_tactic_error_and_the_search_goes_on(
        lean: FakeLean) -> None:
    env = dojo_env(lean)
    result = await BestFirstSearch(env, FixedTacticGenerator(DOJO_TABLE),
                                   config=SearchConfig()).search(DOJO_THEOREM)
    await env.close()
    assert result.status == "proved", result.message
    assert result.proof == PROOF and result.stats.verified is True
    errors = {e["tactic"]: e["message"] for e in result.tree.errors(ROOT)}
    assert "Lean.ofReduceBool" in errors["native_decide"]
    # one command-mode Dojo for the session: the theorem redeclared with each claimed proof
    (checker,) = lean.command_dojos
    head = DOJO_THEOREM.statement.removesuffix(" by")
    assert checker.commands == [
        f"{head} by\n  native_decide\n\n#print axioms two_goals",
        f"{head} by\n  constructor\n  exact hp\n  exact hq\n\n#print axioms two_goals"]


async def test_leandojo_claims_follow_allowed_axioms(lean: FakeLean) -> None:
    lean.claim_axioms[PROOF] = "<stdin>:3:2: error: unsolved goals"
    env = dojo_env(lean)
    async with await env.open(DOJO_THEOREM) as session:
        assert isinstance(await session.apply(session.root, "native_decide"), TacticError)
        both = await session.apply(session.root, "constructor")
        assert isinstance(both, StateReached)
        right = await session.apply(both.state, "exact hp")
        assert isinstance(right, StateReached)
        refused = await session.apply(right.state, "exact hq")
        assert isinstance(refused, TacticError) and "unsolved goals" in refused.message
    await env.close()
    for allowed in ({"propext", "Lean.ofReduceBool"}, None):
        env = dojo_env(lean, allowed_axioms=allowed)
        async with await env.open(DOJO_THEOREM) as session:
            assert isinstance(await session.apply(session.root, "native_decide"), Proved)
        await env.close()
    assert len(lean.command_dojos) == 2  # none was started with allowed_axioms=None
    # without a way to ask Lean, a claim is refused, not accepted unchecked
    env = LeanDojoEnvironment(dojo_factory=lean.factory)
    async with await env.open(DOJO_THEOREM) as session:
        outcome = await session.apply(session.root, "native_decide")
        assert isinstance(outcome, TacticError) and "command_factory" in outcome.message
    await env.close()


async def test_leandojo_tactics_are_bounded_by_tactic_timeout_s(lean: FakeLean) -> None:
    lean.pexpect_procs = True
    env = dojo_env(lean, timeout_s=600, tactic_timeout_s=20)
    async with await env.open(DOJO_THEOREM) as session:
        assert lean.dojos[0].timeout_s == 600  # loading the file keeps the long bound
        assert lean.dojos[0].proc.timeout == 20  # each read after it: the tactic's
        assert session.root.goals == (ROOT,)
    await env.close()


@pytest.fixture
def no_tracing(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """lean_dojo's LeanGitRepo and Dojo replaced: nothing is cloned, traced or started."""
    import lean_dojo

    made: list[Any] = []

    class Repo:
        def __init__(self, url: str, commit: str) -> None:
            self.url, self.commit = url, commit
            self.lean_version = made.pop(0)

    class Dojo:
        def __init__(self, entry: Any, **kwargs: Any) -> None:
            made.append(entry)
            raise lean_dojo.DojoInitError("stop here: the Dojo would be entered now")

    monkeypatch.setattr(lean_dojo, "LeanGitRepo", Repo)
    monkeypatch.setattr(lean_dojo, "Dojo", Dojo)
    monkeypatch.setattr(shutil, "which", lambda name: f"/opt/elan/bin/{name}")
    return made


@pytest.mark.parametrize("version", ["v4.24.0", "v4.12.0-rc1", "v5.0.0", "nightly-2024-10-01"])
async def test_leandojo_refuses_a_repository_on_lean_4_12_or_later_before_tracing(
        no_tracing: list[Any], version: str) -> None:
    no_tracing.append(version)
    env = LeanDojoEnvironment()
    with pytest.raises(EnvironmentInitError) as caught:
        await env.open(Theorem("two_goals", statement=STATEMENT, locator={"leandojo": MEW}))
    await env.close()
    text = str(caught.value)
    assert version in text and "lean_dojo_mew_v4.7.0" in text and "LeanReplEnvironment" in text
    assert no_tracing == []  # no Dojo was made


@pytest.mark.parametrize("version", ["v4.7.0", "v4.11.0", "nightly-2023-08-19"])
async def test_leandojo_goes_on_to_the_dojo_below_lean_4_12(no_tracing: list[Any],
                                                            version: str) -> None:
    no_tracing.append(version)
    env = LeanDojoEnvironment()
    with pytest.raises(EnvironmentInitError, match="stop here"):
        await env.open(Theorem("two_goals", statement=STATEMENT, locator={"leandojo": MEW}))
    await env.close()
    assert len(no_tracing) == 1  # the Dojo was made


@pytest.mark.skipif(shutil.which("lake") is not None, reason="lake is installed here")
async def test_without_lake_both_lean_backends_are_unavailable() -> None:
    theorem = Theorem("two_goals", statement=STATEMENT,
                      locator={"header": "", "leandojo": MEW})
    for env in (LeanReplEnvironment(), LeanDojoEnvironment()):
        with pytest.raises(BackendUnavailableError, match="lake") as caught:
            await env.open(theorem)
        assert "elan" in str(caught.value)
        await env.close()
