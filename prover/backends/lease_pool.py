"""Leases of prover processes to sessions: at most ``capacity`` at a time, first come first
served, idle processes parked for the next lease.

Both process-backed environments (Coq's ``coqidetop`` pool, the Lean REPL pool) need the
same three guarantees, which are easy to get subtly wrong: a waiter cancelled at the moment
it is handed a lease gives the lease back (or the pool shrinks for good); closing the pool
fails every waiter at once (an ``open`` must not hang on a closed environment); and a lease
is handed to the oldest waiter, so a burst of opens cannot starve an early one. What a
backend keeps for itself is the policy: which idle process suits a theorem, and how a
process is started or stopped.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Generic, TypeVar

from prover.errors import EnvironmentInitError

T = TypeVar("T")


def _most_recent(idle: Sequence[T]) -> int | None:
    return len(idle) - 1 if idle else None


class LeasePool(Generic[T]):
    """At most ``capacity`` leases at once; see the module docstring.

    :meth:`acquire` waits for a lease and hands back an idle item chosen by ``choose`` (or
    ``None``: the caller then starts one of its own). :meth:`release` ends a lease, parking
    the item for reuse unless told otherwise. ``name`` appears in the error a waiter gets
    when the pool closes.
    """

    def __init__(self, capacity: int, idle: Iterable[T] = (), *, name: str = "pool") -> None:
        if capacity < 1:
            raise ValueError(f"{name}: capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.name = name
        self._idle: list[T] = list(idle)
        self._leased = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    @property
    def idle(self) -> tuple[T, ...]:
        """The parked items, oldest first."""
        return tuple(self._idle)

    @property
    def leased(self) -> int:
        """How many leases are held now."""
        return self._leased

    @property
    def closed(self) -> bool:
        return self._closed

    async def acquire(self, choose: Callable[[Sequence[T]], int | None] = _most_recent
                      ) -> T | None:
        """Wait for a lease; return the idle item at the index ``choose`` picks (removed from
        the idle list), or ``None`` when it picks none. Raises
        :class:`~prover.errors.EnvironmentInitError` once the pool is closed."""
        await self._wait_for_lease()
        try:
            index = choose(self._idle)
        except BaseException:
            self._end_lease()
            raise
        return None if index is None else self._idle.pop(index)

    async def _wait_for_lease(self) -> None:
        if self._closed:
            raise EnvironmentInitError(f"the {self.name} is closed")
        if self._leased < self.capacity and not self._waiters:
            self._leased += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._end_lease()  # handed a lease while being cancelled: pass it on
            else:
                self._forget(waiter)
            raise

    def _forget(self, waiter: asyncio.Future[None]) -> None:
        try:
            self._waiters.remove(waiter)
        except ValueError:
            pass

    def take_idle(self, choose: Callable[[Sequence[T]], int | None]) -> T | None:
        """Remove and return the idle item ``choose`` picks, without a lease (to close it)."""
        index = choose(self._idle)
        return None if index is None else self._idle.pop(index)

    def release(self, item: T | None, *, park: bool = True) -> None:
        """End a lease. ``item`` is parked for reuse when ``park`` and the pool is open;
        otherwise the caller stops it."""
        if item is not None and park and not self._closed:
            self._idle.append(item)
        self._end_lease()

    def _end_lease(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the lease passes on: the count stays
                return
        self._leased -= 1

    def close(self) -> list[T]:
        """Fail every waiter (and every later :meth:`acquire`); return the idle items, which
        the caller stops. Items leased now come back through :meth:`release` unparked."""
        self._closed = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(EnvironmentInitError(
                    f"the {self.name} was closed while waiting for a process"))
        idle, self._idle = self._idle, []
        return idle

    def reset(self) -> list[T]:
        """Forget every lease and waiter (their event loop is gone); return the idle items,
        which the caller stops. Used when the pool is reused from a new event loop."""
        self._waiters.clear()
        self._leased = 0
        idle, self._idle = self._idle, []
        return idle


__all__ = ["LeasePool"]
