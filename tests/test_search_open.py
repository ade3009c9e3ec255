"""The search's own time: opening a session (waiting for a prover process included) is apart,
bounded by ``open_timeout_s``; a backend that cannot start propagates; a crashed verify is no
rejection."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import pytest
from helpers import TraceBuilder, generator

from prover import BestFirstSearch, SearchConfig, Theorem
from prover.cli import config_from_args
from prover.env import Session, SessionBase
from prover.errors import (
    BackendUnavailableError,
    ConfigError,
    EnvironmentCrashError,
)
from prover.types import Outcome, ProofState
from seg_prover.cli import build_parser


class _Wrapped(SessionBase):
    """A session that hangs on the tactic ``hang`` and calls ``on_close`` when closed."""

    def __init__(self, inner: Session, on_close: Any = None, verify: Any = None) -> None:
        self.inner = inner
        self.on_close = on_close
        self._verify = verify
        self.closed = False

    @property
    def root(self) -> ProofState:
        return self.inner.root

    async def apply(self, state: ProofState, tactic: str) -> Outcome:
        if tactic == "hang":
            await asyncio.Event().wait()
        return await self.inner.apply(state, tactic)

    async def verify(self, tactics: Sequence[str]) -> bool:
        if self._verify is not None:
            return bool(await self._verify(tactics))
        return await self.inner.verify(tactics)

    async def close(self) -> None:
        self.closed = True
        await self.inner.close()
        if self.on_close is not None:
            self.on_close()


class Pooled:
    """A backend with a pool of ``size`` prover processes: ``open`` waits for a free one, as
    CoqEnvironment and LeanReplEnvironment do."""

    def __init__(self, inner: Any, size: int = 1) -> None:
        self.inner = inner
        self.slots = asyncio.Semaphore(size)

    async def open(self, theorem: Theorem) -> Session:
        await self.slots.acquire()
        return _Wrapped(await self.inner.open(theorem), self.slots.release)

    async def close(self) -> None:
        await self.inner.close()


def _two_theorems() -> tuple[Any, Any]:
    slow = TraceBuilder("slow", root="s").edge("s", "hang", "error")
    quick = TraceBuilder("quick", root="q").edge("q", "finish", "proved")
    env = TraceBuilder("x")
    env.records = slow.records + quick.records
    gen = generator({"s": [("hang", -0.1)], "q": [("finish", -0.1)]})
    return env.env(), gen


async def test_waiting_for_a_prover_process_is_not_the_searchs_time() -> None:
    # The README's quick start: asyncio.gather over the theorems of one environment whose
    # pool has one process. Before, the clock started before env.open: "quick" waited for
    # "slow" (busy until its deadline) and ended `budget` with 0 expansions.
    replay, gen = _two_theorems()
    search = BestFirstSearch(Pooled(replay), gen, config=SearchConfig(time_limit_s=1.0))
    slow, quick = await asyncio.gather(search.search(Theorem("slow")),
                                       search.search(Theorem("quick")))
    assert slow.status == "budget"
    assert quick.status == "proved" and quick.proof == ("finish",)
    assert quick.stats.expansions == 1
    # quick's open began before slow's search and ended after it: it holds the wait
    assert quick.stats.open_s >= slow.stats.wall_s
    assert slow.to_dict()["stats"]["open_s"] == slow.stats.open_s


class _NeverOpens:
    def __init__(self) -> None:
        self.cancelled = False

    async def open(self, theorem: Theorem) -> Session:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        pass


async def test_an_open_is_bounded_by_open_timeout_s() -> None:
    env = _NeverOpens()
    _, gen = _two_theorems()
    config = SearchConfig(open_timeout_s=0.05, time_limit_s=100)
    result = await BestFirstSearch(env, gen, config=config).search(Theorem("quick"))
    assert result.status == "error"
    assert "OpenTimeout" in (result.message or "") and "0.05 s" in (result.message or "")
    assert "open_timeout_s" in (result.message or "")
    assert result.stats.open_s >= 0.05 and result.stats.expansions == 0
    assert env.cancelled  # the open was called off, so the environment could clean up


class _LateSession:
    """An open that finishes even when cancelled: the session must still be closed."""

    def __init__(self, replay: Any) -> None:
        self.replay = replay
        self.started = asyncio.Event()
        self.closed = asyncio.Event()

    async def open(self, theorem: Theorem) -> Session:
        self.started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass  # a backend that finishes what it started
        return _Wrapped(await self.replay.open(theorem), self.closed.set)

    async def close(self) -> None:
        pass


async def test_a_session_opened_after_its_search_was_cancelled_is_closed() -> None:
    replay, gen = _two_theorems()
    env = _LateSession(replay)
    task = asyncio.ensure_future(BestFirstSearch(env, gen).search(Theorem("quick")))
    await env.started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(env.closed.wait(), timeout=10)


async def test_a_backend_that_cannot_start_is_not_a_result() -> None:
    class Missing:
        async def open(self, theorem: Theorem) -> Session:
            raise BackendUnavailableError("coqidetop.opt not found on PATH")

        async def close(self) -> None:
            pass

    _, gen = _two_theorems()
    # Before: an `error` result like any passing failure, and the benchmark went on.
    with pytest.raises(BackendUnavailableError, match="not found on PATH"):
        await BestFirstSearch(Missing(), gen).search(Theorem("quick"))


async def test_a_crashed_verify_is_not_a_rejected_proof() -> None:
    replay, gen = _two_theorems()

    async def crash(tactics: object) -> bool:
        raise EnvironmentCrashError("coqidetop died (SIGKILL) while checking the proof")

    class Env:
        async def open(self, theorem: Theorem) -> Session:
            return _Wrapped(await replay.open(theorem), verify=crash)

        async def close(self) -> None:
            pass

    result = await BestFirstSearch(Env(), gen).search(Theorem("quick"))
    assert result.status == "error" and result.proof == ("finish",)
    message = result.message or ""
    assert "rejected" not in message
    assert message.startswith("verify crashed (the proof was not judged): "
                              "EnvironmentCrashError: coqidetop died (SIGKILL)")
    assert result.stats.verified is None  # not judged; a rejection is False


@pytest.mark.parametrize("value", [0, -1, math.nan, "5", True])
def test_open_timeout_s_is_validated(value: Any) -> None:
    with pytest.raises(ConfigError, match="open_timeout_s"):
        SearchConfig(open_timeout_s=value)


def test_open_timeout_flag() -> None:
    args = build_parser().parse_args(["search", "trace.jsonl", "tactics.txt",
                                      "--open-timeout", "42", "--tactic-timeout", "3"])
    config = config_from_args(args)
    assert config.open_timeout_s == 42 and config.tactic_timeout_s == 3
    assert SearchConfig().open_timeout_s == 600.0 and SearchConfig(open_timeout_s=None)
