"""Both Lean backends against a real Lean (marked ``lean``; skipped when ``lake`` is absent).

They need elan's ``lake`` on PATH and the network on first run: lean-interact clones and builds
the REPL, and elan downloads the toolchains. The LeanDojo test writes a small Lake project,
commits it to a local git repository, and lets LeanDojo trace it (minutes, into CACHE_DIR).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from prover import BestFirstSearch, FixedTacticGenerator, SearchConfig, Theorem
from prover.backends import LeanDojoEnvironment, LeanReplEnvironment
from prover.types import Proved, StateReached, TacticError

pytestmark = [
    pytest.mark.lean,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("lake") is None,
                       reason="needs a Lean toolchain: `lake` is not on PATH (install elan)"),
]

ADD = "theorem t (a b : Nat) : a + b = b + a := by"
TWO = "theorem two_goals (p q : Prop) (hp : p) (hq : q) : p ∧ q := by"
TWO_TACTICS = ["constructor", "exact hp", "exact hq"]

# LeanDojo's own tests trace mathlib4 29dcec07, which is on this toolchain; LeanDojo 4.x
# cannot run tactics on Lean >= v4.12 (LeanDojo#211).
LEANDOJO_TOOLCHAIN = "leanprover/lean4:v4.10.0-rc1"


def _search(env: object, tactics: list[str]) -> BestFirstSearch:
    return BestFirstSearch(env, FixedTacticGenerator(tactics),  # type: ignore[arg-type]
                           config=SearchConfig(max_expansions=20, time_limit_s=600))


async def test_repl_proves_add_comm_with_omega() -> None:
    env = LeanReplEnvironment(tactic_timeout_s=60)
    try:
        result = await _search(env, ["omega"]).search(
            Theorem("t", statement=ADD, locator={"header": ""}))
    finally:
        await env.close()
    assert result.status == "proved", result.message
    assert result.proof == ("omega",) and result.stats.verified is True


async def test_repl_proves_a_two_goal_theorem() -> None:
    env = LeanReplEnvironment(tactic_timeout_s=60)
    try:
        async with await env.open(Theorem("two_goals", statement=TWO)) as session:
            split = await session.apply(session.root, "constructor")
            assert getattr(split, "state", None) is not None
            assert split.state.num_goals == 2  # type: ignore[union-attr]
        result = await _search(env, TWO_TACTICS).search(Theorem("two_goals", statement=TWO))
    finally:
        await env.close()
    assert result.status == "proved", result.message
    assert result.proof == tuple(TWO_TACTICS) and result.stats.verified is True


async def test_repl_never_takes_sorry_or_an_error_for_a_proof() -> None:
    env = LeanReplEnvironment(tactic_timeout_s=60)
    try:
        async with await env.open(Theorem("two_goals", statement=TWO)) as session:
            for tactic in ("sorry", "admit", "exact my_fake_premise", "constructor <;> sorry",
                           "exact absurd hp (by sorry)"):
                outcome = await session.apply(session.root, tactic)
                assert not isinstance(outcome, Proved), (tactic, outcome)
            split = await session.apply(session.root, "constructor")
            assert isinstance(split, StateReached)
            assert split.state.num_goals == 2 == split.state.pp.count("⊢")
            assert await session.verify(["constructor", "exact hp", "sorry"]) is False
            assert await session.verify(["exact ⟨hp, hq⟩\ntheorem x : False := sorry"]) is False
            assert await session.verify(["exact ⟨hp, hq⟩"]) is True
    finally:
        await env.close()


async def test_repl_verify_checks_the_axioms_of_the_proof() -> None:
    native = "theorem nd : 2 + 2 = 4 := by"
    classical = "theorem em' (p : Prop) : p ∨ ¬p := by"
    strict = LeanReplEnvironment(tactic_timeout_s=60)
    # native_decide depends on Lean.ofReduceBool (and Lean.trustCompiler on recent Lean)
    lenient = LeanReplEnvironment(tactic_timeout_s=60, allowed_axioms={
        "propext", "Classical.choice", "Quot.sound", "Lean.ofReduceBool", "Lean.trustCompiler"})
    try:
        async with await strict.open(Theorem("nd", statement=native)) as session:
            assert await session.verify(["native_decide"]) is False
            assert await session.verify(["decide"]) is True
        async with await strict.open(Theorem("em'", statement=classical)) as session:
            assert await session.verify(["exact Classical.em p"]) is True
        async with await lenient.open(Theorem("nd", statement=native)) as session:
            assert await session.verify(["native_decide"]) is True
    finally:
        await strict.close()
        await lenient.close()


async def test_repl_refuses_native_decide_where_it_claims_a_proof() -> None:
    native = "theorem nd : 2 + 2 = 4 := by"
    strict = LeanReplEnvironment(tactic_timeout_s=60)
    lenient = LeanReplEnvironment(tactic_timeout_s=60, allowed_axioms=None)
    try:
        async with await strict.open(Theorem("nd", statement=native)) as session:
            outcome = await session.apply(session.root, "native_decide")
            assert isinstance(outcome, TacticError), outcome
            assert "Lean.ofReduceBool" in outcome.message
            assert isinstance(await session.apply(session.root, "decide"), Proved)
        async with await lenient.open(Theorem("nd", statement=native)) as session:
            assert isinstance(await session.apply(session.root, "native_decide"), Proved)
    finally:
        await strict.close()
        await lenient.close()


@pytest.fixture(scope="module")
def traced_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("leandojo") / "SegProverIt"
    root.mkdir()
    (root / "lean-toolchain").write_text(LEANDOJO_TOOLCHAIN + "\n")
    (root / "lakefile.lean").write_text(
        "import Lake\nopen Lake DSL\n\npackage «SegProverIt» where\n\n"
        "@[default_target]\nlean_lib «SegProverIt» where\n")
    (root / "SegProverIt.lean").write_text(
        f"{ADD}\n  omega\n\n{TWO}\n  exact ⟨hp, hq⟩\n")
    for command in (["git", "init", "-q"], ["git", "add", "."],
                    ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "t"]):
        subprocess.run(command, cwd=root, check=True)
    return root


def _dojo_theorem(project: Path, name: str, statement: str) -> Theorem:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, check=True,
                            capture_output=True, text=True).stdout.strip()
    return Theorem(name, statement=statement, locator={"leandojo": {
        "url": str(project), "commit": commit, "file_path": "SegProverIt.lean",
        "full_name": name}})


async def test_leandojo_proves_add_comm_with_omega(traced_project: Path) -> None:
    env = LeanDojoEnvironment(timeout_s=600)
    result = await _search(env, ["omega"]).search(_dojo_theorem(traced_project, "t", ADD))
    await env.close()
    assert result.status == "proved", result.message
    assert result.proof == ("omega",) and result.stats.verified is True


async def test_leandojo_proves_a_two_goal_theorem(traced_project: Path) -> None:
    env = LeanDojoEnvironment(timeout_s=600)
    theorem = _dojo_theorem(traced_project, "two_goals", TWO)
    async with await env.open(theorem) as session:
        split = await session.apply(session.root, "constructor")
        assert split.state.num_goals == 2  # type: ignore[union-attr]
    result = await _search(env, TWO_TACTICS).search(theorem)
    await env.close()
    assert result.status == "proved", result.message
    assert result.proof == tuple(TWO_TACTICS) and result.stats.verified is True
