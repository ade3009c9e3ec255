"""The lease rules both process pools (Coq, Lean REPL) rely on."""

from __future__ import annotations

import asyncio

import pytest

from prover.backends.lease_pool import LeasePool
from prover.errors import EnvironmentInitError


async def test_no_more_than_capacity_leases_and_waiters_are_served_oldest_first() -> None:
    pool: LeasePool[str] = LeasePool(2, ["a", "b"])
    first, second = await pool.acquire(), await pool.acquire()
    assert {first, second} == {"a", "b"} and pool.leased == 2
    order: list[str] = []

    async def wait(tag: str) -> None:
        item = await pool.acquire()
        order.append(f"{tag}:{item}")

    waiters = [asyncio.create_task(wait(tag)) for tag in ("w1", "w2", "w3")]
    await asyncio.sleep(0)
    assert order == [] and pool.leased == 2
    pool.release(first)
    await asyncio.sleep(0)
    pool.release(second)
    await asyncio.sleep(0)
    assert order == [f"w1:{first}", f"w2:{second}"] and pool.leased == 2
    pool.release(None, park=False)
    await asyncio.gather(*waiters)
    assert order[-1] == "w3:None"  # nothing idle left: the caller starts its own


async def test_a_waiter_cancelled_as_it_is_handed_a_lease_passes_it_on() -> None:
    pool: LeasePool[str] = LeasePool(1, ["p"])
    held = await pool.acquire()
    doomed = asyncio.create_task(pool.acquire())
    patient = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0)
    pool.release(held)  # hands the lease to `doomed` ...
    doomed.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert await asyncio.wait_for(patient, 1) == "p"
    assert pool.leased == 1


async def test_a_cancelled_waiter_does_not_hold_a_place_in_the_queue() -> None:
    pool: LeasePool[str] = LeasePool(1, ["p"])
    held = await pool.acquire()
    gone = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    pool.release(held)
    assert pool.leased == 0
    assert await asyncio.wait_for(pool.acquire(), 1) == "p"


async def test_close_fails_every_waiter_and_later_acquire_and_returns_idle_items() -> None:
    pool: LeasePool[str] = LeasePool(1, ["p", "q"], name="TestEnvironment")
    held = await pool.acquire()
    waiter = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0)
    assert pool.close() == ["p"]
    with pytest.raises(EnvironmentInitError, match="TestEnvironment was closed while waiting"):
        await waiter
    with pytest.raises(EnvironmentInitError, match="TestEnvironment is closed"):
        await pool.acquire()
    pool.release(held)  # a lease ending after close parks nothing
    assert pool.idle == () and pool.leased == 0


async def test_choose_picks_the_idle_item_and_none_leaves_them_parked() -> None:
    pool: LeasePool[str] = LeasePool(3, ["short", "longest", "mid"])
    assert await pool.acquire(lambda idle: max(range(len(idle)), key=lambda i: len(idle[i]))
                              ) == "longest"
    assert await pool.acquire(lambda idle: None) is None
    assert pool.idle == ("short", "mid") and pool.leased == 2
    assert pool.take_idle(lambda idle: idle.index("mid")) == "mid"
    assert pool.idle == ("short",) and pool.leased == 2


async def test_an_error_in_choose_ends_the_lease() -> None:
    pool: LeasePool[str] = LeasePool(1, ["p"])

    def broken(idle: object) -> int:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await pool.acquire(broken)
    assert pool.leased == 0
    assert await pool.acquire() == "p"


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        LeasePool(0)
