"""A search's time limit: one timer per run that cancels the environment and generator calls in
flight when it fires, turned back into ``TimeoutError`` for the caller.

One timer per run, not one per call: a timer per call was a fifth of the engine's function calls
per tactic, and the cancelled timers it left in the event loop's heap made every other timer (the
environment's own) dearer too. (``asyncio.wait_for``, before that, also made a task per call:
twice the cost again.) Telling the deadline's cancel apart from anyone else's needs
``Task.uncancel`` (Python 3.11); 3.10 falls back to a timer per call.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class Deadline:
    """The limit ``at`` (a ``time.monotonic()`` value); ``on_expire`` runs when it passes."""

    def __init__(self, at: float, on_expire: Callable[[], None]) -> None:
        self.at = at
        self.expired = False  # set by the timer (see `arm`)
        self._on_expire = on_expire
        self._calls: set[asyncio.Task[object]] = set()  # tasks awaiting a call
        self._interrupted: set[asyncio.Task[object]] = set()  # of those, cancelled by `expire`

    def remaining(self) -> float:
        return 0.0 if self.expired else self.at - time.monotonic()

    def passed(self) -> bool:
        return self.expired or time.monotonic() >= self.at

    def arm(self) -> asyncio.TimerHandle:
        """Start the timer; the caller cancels the handle when the run ends."""
        return asyncio.get_running_loop().call_later(max(self.remaining(), 0.0), self.expire)

    def expire(self) -> None:
        """Cancel the calls in flight (:meth:`call` turns that into ``TimeoutError``)."""
        self.expired = True
        self._on_expire()
        for task in list(self._calls):
            if task.cancel():
                self._interrupted.add(task)

    async def call(self, awaitable: Awaitable[T], timeout: float | None = None) -> T:
        """Await ``awaitable``; ``TimeoutError`` after ``timeout`` seconds or at the deadline."""
        if sys.version_info < (3, 11):  # no Task.uncancel: a timer per call
            return await _wait_for(awaitable, min(timeout or math.inf, self.remaining()))
        task = asyncio.current_task()
        assert task is not None
        cancels = task.cancelling()
        self._calls.add(task)
        try:
            if timeout is None:
                return await awaitable
            async with asyncio.timeout(timeout):
                return await awaitable
        except asyncio.CancelledError:
            # Ours only if the deadline cancelled this task and nobody else did meanwhile.
            if task in self._interrupted:
                self._interrupted.discard(task)
                if task.uncancel() <= cancels:
                    raise asyncio.TimeoutError from None
            raise
        finally:
            self._calls.discard(task)
            if task in self._interrupted:
                # The call swallowed the deadline's cancel and answered (or raised something
                # else): take that cancel back, or it would stay counted on the caller's task,
                # whose own asyncio.timeout would then raise CancelledError, not TimeoutError.
                self._interrupted.discard(task)
                task.uncancel()


async def _wait_for(awaitable: Awaitable[T], timeout: float) -> T:
    """``asyncio.wait_for`` for Python 3.10, whose own returns the result, swallowing the
    cancellation, when the caller is cancelled just as the call completes."""
    task = asyncio.ensure_future(awaitable)
    try:
        await asyncio.wait((task,), timeout=timeout)
    finally:  # timed out, or cancelled from outside: end the call before going on
        if not task.done():
            task.cancel()
            await asyncio.wait((task,))
    if task.cancelled():
        raise asyncio.TimeoutError
    return task.result()


__all__ = ["Deadline"]
