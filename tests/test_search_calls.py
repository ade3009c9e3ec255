"""What the search counts and times around ``Session.apply``: queueing is not a timeout, and
``env_calls`` counts answers only (no prover needed)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from prover import BestFirstSearch, ProofState, Proved, SearchConfig, StateReached, Theorem
from prover.config import SearchResult
from prover.env import SessionBase
from prover.generators.fixed import FixedTacticGenerator
from prover.types import Outcome

ROOT = ProofState(("⊢ root",))


class QueueingSession(SessionBase):
    """Runs one tactic at a time (like Coq's one process), each taking ``run_s``; with
    ``own_timeout_s`` it declares a per-tactic timeout of its own."""

    def __init__(self, run_s: float, own_timeout_s: float | None,
                 outcomes: dict[str, float | Outcome] | None = None) -> None:
        self.run_s = run_s
        self.outcomes = outcomes or {}
        self.lock = asyncio.Lock()
        self.ran: list[str] = []
        if own_timeout_s is not None:
            self.tactic_timeout_s = own_timeout_s

    @property
    def root(self) -> ProofState:
        return ROOT

    async def apply(self, state: ProofState, tactic: str) -> Outcome:
        async with self.lock:
            self.ran.append(tactic)
            special = self.outcomes.get(tactic)
            if isinstance(special, float):
                await asyncio.sleep(special)
            elif special is not None:
                return special
            else:
                await asyncio.sleep(self.run_s)
            return StateReached(ProofState((f"⊢ after {tactic}",)))

    async def verify(self, tactics: Sequence[str]) -> bool:
        return True


class OneSession:
    def __init__(self, session: QueueingSession) -> None:
        self.session = session

    async def open(self, theorem: Theorem) -> QueueingSession:
        return self.session

    async def close(self) -> None:
        return None


def four_candidates() -> dict[str, list[tuple[str, float]]]:
    return {"⊢ root": [(f"t{i}", -float(i)) for i in range(4)]}


async def search(session: QueueingSession, cfg: SearchConfig,
                 table: dict[str, list[tuple[str, float]]]) -> SearchResult:
    return await BestFirstSearch(OneSession(session), FixedTacticGenerator(table),
                                 config=cfg).search(Theorem("t"))


async def test_a_tactic_queued_behind_others_is_no_timeout_when_the_session_times_its_own(
        ) -> None:
    # Each tactic runs 0.2 s, one at a time: the last of four starts after 0.6 s. The search's
    # 0.3 s timer counted that wait and recorded t2 and t3 as timeouts without their running.
    session = QueueingSession(0.2, own_timeout_s=5.0)
    cfg = SearchConfig(tactic_timeout_s=0.3, max_expansions=1, num_candidates=4)
    result = await search(session, cfg, four_candidates())
    assert result.tree is not None
    assert result.tree.errors(ROOT.key) == []
    assert len(result.tree) == 5 and session.ran == ["t0", "t1", "t2", "t3"]
    assert result.stats.env_calls == 4 and result.stats.cancelled_calls == 0


async def test_the_watchdog_still_guards_a_session_without_a_timeout_of_its_own() -> None:
    session = QueueingSession(0.2, own_timeout_s=None, outcomes={"t0": 30.0})
    cfg = SearchConfig(tactic_timeout_s=0.3, max_expansions=1, num_candidates=1)
    result = await search(session, cfg, four_candidates())
    assert result.tree is not None
    errors = result.tree.errors(ROOT.key)
    assert [e["outcome"] for e in errors] == ["timeout"]
    assert "SearchConfig.tactic_timeout_s" in errors[0]["message"]
    assert result.stats.env_calls == 1  # the session was asked; the watchdog answered for it


async def test_env_calls_count_answers_and_cancelled_candidates_apart() -> None:
    # t1 proves the root at once; t0, t2 and t3 hang: they are cancelled when t1's proof ends
    # the expansion, and never answered (before: 4 env calls).
    unlocked = QueueingSession(0.0, own_timeout_s=5.0,
                               outcomes={"t0": 30.0, "t1": Proved(), "t2": 30.0, "t3": 30.0})
    unlocked.lock = _NoLock()  # type: ignore[assignment]
    cfg = SearchConfig(max_expansions=1, num_candidates=4, time_limit_s=60)
    result = await search(unlocked, cfg, four_candidates())
    assert result.proved and result.proof == ("t1",)
    assert result.stats.env_calls == 1
    assert result.stats.cancelled_calls == 3


async def test_a_call_the_time_limit_interrupts_is_counted_as_cancelled() -> None:
    session = QueueingSession(0.0, own_timeout_s=5.0, outcomes={"t0": 30.0})
    cfg = SearchConfig(max_expansions=5, num_candidates=1, time_limit_s=0.3)
    result = await search(session, cfg, four_candidates())
    assert result.status == "budget" and result.tree is not None
    errors = result.tree.errors(ROOT.key)
    assert [e["outcome"] for e in errors] == ["timeout"]
    assert "time limit" in errors[0]["message"]
    assert result.stats.env_calls == 0 and result.stats.cancelled_calls == 1


class _NoLock:
    """A lock that never blocks: every tactic runs at once."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


async def test_a_recording_wrapper_keeps_the_sessions_own_timeout(tmp_path: Path) -> None:
    # RecordingEnvironment wraps each session; when the wrapper hid the session's own
    # timeout, the search's watchdog came back and made queued tactics timeouts again.
    from prover.backends.replay import RecordingEnvironment

    session = QueueingSession(0.2, own_timeout_s=5.0)
    env = RecordingEnvironment(OneSession(session), tmp_path / "trace.jsonl")
    cfg = SearchConfig(tactic_timeout_s=0.3, max_expansions=1, num_candidates=4)
    try:
        result = await BestFirstSearch(env, FixedTacticGenerator(four_candidates()),
                                       config=cfg).search(Theorem("t"))
    finally:
        await env.close()
    assert result.tree is not None and result.tree.errors(ROOT.key) == []
    assert session.ran == ["t0", "t1", "t2", "t3"] and result.stats.cancelled_calls == 0
