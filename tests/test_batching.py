"""MicroBatcher: shared batches, one result per caller, typed errors, no hangs."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest
from helpers import TraceBuilder
from tiny_models import tiny_causal

from prover import BestFirstSearch, ReplayEnvironment, SearchConfig
from prover.errors import ConfigError, GeneratorError
from prover.generators.batching import BatchGenerator, MicroBatcher
from prover.generators.decoding import DecodingConfig
from prover.generators.hf import HFTacticGenerator
from prover.types import Candidate, ProofState


class EchoModel:
    """A blocking batch generator that names each state in its tactics and records its calls."""

    def __init__(self, delay_s: float = 0.01, tactics: Sequence[str] = (),
                 fail: bool = False) -> None:
        self.delay_s = delay_s
        self.tactics = list(tactics)
        self.fail = fail
        self.calls: list[tuple[int, int]] = []
        self.threads: set[int] = set()

    def generate(self, states: Sequence[ProofState], k: int) -> list[list[Candidate]]:
        self.calls.append((len(states), k))
        self.threads.add(threading.get_ident())
        time.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("model exploded")
        if self.tactics:
            return [[Candidate(t, -float(i)) for i, t in enumerate(self.tactics[:k])]
                    for _ in states]
        return [[Candidate(f"{s.key}#{i}", -float(i)) for i in range(k)] for s in states]


def state(name: str) -> ProofState:
    return ProofState((f"⊢ {name}",))


def test_echo_model_is_a_batch_generator() -> None:
    assert isinstance(EchoModel(), BatchGenerator)


async def test_concurrent_calls_share_batches_and_get_their_own_candidates() -> None:
    model = EchoModel(delay_s=0.02)
    batcher = MicroBatcher(model, max_batch=8, max_wait_ms=20)
    names = [f"s{i}" for i in range(20)]
    results = await asyncio.gather(*(batcher.propose(state(n), 3) for n in names))
    for name, candidates in zip(names, results):
        assert [c.tactic for c in candidates] == [f"⊢ {name}#{i}" for i in range(3)]
    assert sum(size * count for size, count in batcher.batch_sizes.items()) == 20
    assert max(batcher.batch_sizes) == 8 and len(model.calls) <= 4
    assert threading.get_ident() not in model.threads  # never on the event loop's thread


async def test_calls_are_grouped_by_k() -> None:
    model = EchoModel()
    batcher = MicroBatcher(model, max_batch=16, max_wait_ms=20)
    ks = [2, 5, 2, 5, 2, 1]
    results = await asyncio.gather(*(batcher.propose(state(f"s{i}"), k)
                                     for i, k in enumerate(ks)))
    assert [len(r) for r in results] == ks
    assert sorted(model.calls) == [(1, 1), (2, 5), (3, 2)]


async def test_the_event_loop_stays_free_while_the_model_runs() -> None:
    model = EchoModel(delay_s=0.3)
    batcher = MicroBatcher(model, max_wait_ms=0)
    task = asyncio.ensure_future(batcher.propose(state("a"), 1))
    ticks = 0
    began = time.monotonic()
    while not task.done():
        await asyncio.sleep(0.01)
        ticks += 1
    assert time.monotonic() - began >= 0.25 and ticks >= 10
    assert len(task.result()) == 1


async def test_a_model_error_reaches_every_caller_of_the_batch() -> None:
    model = EchoModel(fail=True)
    batcher = MicroBatcher(model, max_batch=4, max_wait_ms=20)
    calls = [batcher.propose(state(f"s{i}"), 2) for i in range(4)]
    results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 5)
    assert all(isinstance(r, GeneratorError) for r in results)
    assert len({id(r) for r in results}) == 4  # one exception object per caller
    assert all("model exploded" in str(r) and isinstance(r.__cause__, RuntimeError)
               for r in results)
    # The batcher still works after a failed batch.
    model.fail = False
    assert len(await asyncio.wait_for(batcher.propose(state("ok"), 2), 5)) == 2


async def test_a_wrong_number_of_results_is_a_generator_error() -> None:
    class Short(EchoModel):
        def generate(self, states: Sequence[ProofState], k: int) -> list[list[Candidate]]:
            return super().generate(states, k)[:-1]

    batcher = MicroBatcher(Short(), max_batch=2, max_wait_ms=50)
    results = await asyncio.wait_for(asyncio.gather(
        batcher.propose(state("a"), 1), batcher.propose(state("b"), 1),
        return_exceptions=True), 5)
    assert all(isinstance(r, GeneratorError) and "1 lists for 2 states" in str(r)
               for r in results)


async def test_a_cancelled_caller_is_dropped_and_others_are_served() -> None:
    model = EchoModel(delay_s=0.05)
    batcher = MicroBatcher(model, max_batch=8, max_wait_ms=30)
    first = asyncio.ensure_future(batcher.propose(state("busy"), 1))
    await asyncio.sleep(0.04)  # the first batch is now decoding
    doomed = asyncio.ensure_future(batcher.propose(state("doomed"), 1))
    kept = asyncio.ensure_future(batcher.propose(state("kept"), 1))
    await asyncio.sleep(0)
    doomed.cancel()
    assert [c.tactic for c in await asyncio.wait_for(kept, 5)] == ["⊢ kept#0"]
    await first
    assert sorted(model.calls) == [(1, 1), (1, 1)]


def test_a_batcher_survives_a_new_event_loop() -> None:
    batcher = MicroBatcher(EchoModel(), max_wait_ms=1)
    for _ in range(2):
        assert len(asyncio.run(batcher.propose(state("a"), 2))) == 2
    batcher.close()


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        MicroBatcher(EchoModel(), max_batch=0)
    with pytest.raises(ConfigError):
        MicroBatcher(EchoModel(), max_wait_ms=-1)


def chain_env(theorems: int) -> ReplayEnvironment:
    """Theorems ``t0..`` each proved by ``a; b; c`` (other tactics fail)."""
    records = []
    for i in range(theorems):
        builder = TraceBuilder(f"t{i}", root=f"r{i}")
        builder.edge(f"r{i}", "a", f"m{i}").edge(f"m{i}", "b", f"n{i}").edge(f"n{i}", "c",
                                                                            "proved")
        records.extend(builder.records)
    return ReplayEnvironment(records)


async def test_concurrent_searches_share_one_batcher() -> None:
    env = chain_env(8)
    model = EchoModel(delay_s=0.01, tactics=["a", "b", "c"])
    batcher = MicroBatcher(model, max_batch=32, max_wait_ms=10)
    search = BestFirstSearch(env, batcher, config=SearchConfig(num_candidates=3,
                                                               time_limit_s=30))
    results = await asyncio.gather(*(search.search(t) for t in env.theorems()))
    assert all(r.proved for r in results)
    assert [list(r.proof or ()) for r in results] == [["a", "b", "c"]] * 8
    assert max(batcher.batch_sizes) > 1
    assert sum(size * n for size, n in batcher.batch_sizes.items()) == sum(
        r.stats.generator_calls for r in results)


async def test_concurrent_searches_batch_a_real_model() -> None:
    env = chain_env(6)
    model, tokenizer = tiny_causal("gpt2", eos_bias=1.0)
    generator = HFTacticGenerator(model, tokenizer,
                                  decoding=DecodingConfig(max_new_tokens=6))
    batcher = MicroBatcher(generator, max_batch=16, max_wait_ms=20)
    search = BestFirstSearch(env, batcher, config=SearchConfig(num_candidates=2,
                                                               time_limit_s=60))
    results = await asyncio.wait_for(
        asyncio.gather(*(search.search(t) for t in env.theorems())), 60)
    # Random weights propose nonsense: every search fails, but each asked for its root state.
    assert [r.status for r in results] == ["failed"] * 6
    assert max(batcher.batch_sizes) > 1


async def test_a_failing_model_fails_searches_with_a_typed_error_not_a_hang() -> None:
    env = chain_env(3)
    batcher = MicroBatcher(EchoModel(fail=True), max_wait_ms=5)
    search = BestFirstSearch(env, batcher, config=SearchConfig(time_limit_s=30))
    results = await asyncio.wait_for(
        asyncio.gather(*(search.search(t) for t in env.theorems())), 10)
    assert [r.status for r in results] == ["error"] * 3
    assert all(r.message and r.message.startswith("GeneratorError") for r in results)


async def test_a_lone_caller_is_not_kept_waiting_for_company() -> None:
    # max_wait_ms is huge: a batcher that waited for company would take 2 s per call.
    model = EchoModel(delay_s=0.0)
    batcher = MicroBatcher(model, max_batch=8, max_wait_ms=2000)
    began = time.monotonic()
    for i in range(5):  # one caller asking again and again, as one search does
        await batcher.propose(state(f"s{i}"), 2)
    assert time.monotonic() - began < 1.0
    assert model.calls == [(1, 2)] * 5 and batcher.early_dispatches == 5


async def test_callers_in_lock_step_are_batched_without_waiting_the_full_time() -> None:
    model = EchoModel(delay_s=0.0)
    batcher = MicroBatcher(model, max_batch=8, max_wait_ms=2000)

    async def caller(name: str) -> None:
        for step in range(3):
            await batcher.propose(state(f"{name}.{step}"), 2)
            await asyncio.sleep(0.01)  # applies its tactics

    began = time.monotonic()
    await asyncio.gather(*(caller(f"c{i}") for i in range(4)))
    # Once all four have asked, nobody else can: every batch holds all four, none waits 2 s.
    assert time.monotonic() - began < 1.5
    assert [size for size, _ in model.calls] == [4, 4, 4]


async def test_a_busy_caller_is_waited_for_up_to_max_wait() -> None:
    model = EchoModel(delay_s=0.0)
    batcher = MicroBatcher(model, max_batch=8, max_wait_ms=150)

    async def late() -> None:
        await batcher.propose(state("late0"), 2)
        await asyncio.sleep(0.05)  # busy elsewhere, then asks again
        await batcher.propose(state("late1"), 2)

    async def early() -> None:
        await batcher.propose(state("early0"), 2)
        await batcher.propose(state("early1"), 2)  # waits: `late` will ask within 150 ms

    await asyncio.gather(early(), late())
    assert [size for size, _ in model.calls] == [2, 2]


async def test_batches_overlap_up_to_max_concurrent_batches() -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    class Slow(EchoModel):
        def generate(self, states: Sequence[ProofState], k: int) -> list[list[Candidate]]:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            try:
                return super().generate(states, k)
            finally:
                with lock:
                    running -= 1

    batcher = MicroBatcher(Slow(delay_s=0.1), max_batch=1, max_wait_ms=0,
                           max_concurrent_batches=3)
    results = await asyncio.gather(*(batcher.propose(state(f"s{i}"), 1) for i in range(6)))
    assert len(results) == 6 and most == 3
    serial = MicroBatcher(Slow(delay_s=0.02), max_batch=1, max_wait_ms=0)
    most = 0
    await asyncio.gather(*(serial.propose(state(f"t{i}"), 1) for i in range(4)))
    assert most == 1
    with pytest.raises(ConfigError, match="max_concurrent_batches"):
        MicroBatcher(EchoModel(), max_concurrent_batches=0)
