"""One dedicated thread per synchronous prover process.

LeanDojo's ``Dojo`` and lean-interact's ``LeanServer`` are blocking objects: a ``Dojo`` is
entered, driven and exited by one thread, and neither may see two requests at once. A
:class:`ThreadWorker` owns one thread; every call to its process goes through
:meth:`ThreadWorker.call`, so calls run one at a time, in order, off the event loop.

Cancellation (the search wraps ``apply`` in ``asyncio.wait_for``): a call still queued is
dropped and never runs. A call already running cannot be stopped from Python, so the worker
calls the owner's ``interrupt`` callback (which kills the prover process) and, if it killed
something, remembers it did; the running call then fails fast, and the owner sees
:meth:`consume_interrupt` return True and restarts the process before its next use. A later call
never starts before the interrupted one has returned, so calls never interleave.

A call may mark a stretch of its work :meth:`ThreadWorker.shielded` (restarting a process and
replaying states into it): a cancellation arriving then does not kill the process, since the
next call would only have to redo that work, and a restart slower than the caller's timeout
would otherwise be killed and redone forever. The call sees :meth:`ThreadWorker.cancelled`
when the stretch ends and skips the rest (the tactic nobody waits for). Closing the owner
(:meth:`ThreadWorker.interrupt_running`) kills through the shield.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

logger = logging.getLogger(__name__)


class WorkerClosedError(RuntimeError):
    """A call was submitted to a worker after :meth:`ThreadWorker.shutdown`."""


class ThreadWorker:
    """Runs blocking calls on one thread; see the module docstring for cancellation.

    ``interrupt`` is called from the event loop thread, with the worker's lock held, only while
    a cancelled call is running; it must only kill the process (never touch Python objects the
    running call uses) and return whether it killed one (``False``: there was none to kill, so
    the process need not be restarted; ``None`` counts as killed).
    """

    def __init__(self, name: str, interrupt: Callable[[], bool | None]) -> None:
        self.name = name
        self._interrupt = interrupt
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._running: int | None = None
        self._abandoned: set[int] = set()
        self._interrupted = False
        self._shielded = False
        self._running_cancelled = False
        self._shut = False

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` on the worker thread and return its result (or raise its exception)."""
        if self._shut:
            raise WorkerClosedError(f"worker {self.name} is shut down")
        job = next(self._ids)

        def run() -> T:
            with self._lock:
                if job in self._abandoned:  # cancelled between dequeue and start
                    self._abandoned.discard(job)
                    raise asyncio.CancelledError
                if self._shut:  # queued before shutdown, reached after: never runs
                    raise WorkerClosedError(f"worker {self.name} is shut down")
                self._running = job
                self._running_cancelled = False
                self._shielded = False
            try:
                return fn()
            finally:
                with self._lock:
                    self._running = None

        future = self._executor.submit(run)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            self._abandon(job)
            raise

    def _abandon(self, job: int) -> None:
        with self._lock:
            if self._running == job:
                self._running_cancelled = True
                if not self._shielded:
                    self._kill_locked()
            else:
                self._abandoned.add(job)

    def _kill_locked(self) -> None:
        try:
            killed = self._interrupt()
        except Exception:  # a failed kill must not hide the cancellation: restart to be safe
            logger.exception("%s: interrupting the running call failed", self.name)
            killed = True
        if killed is not False:
            self._interrupted = True

    def interrupt_running(self) -> bool:
        """Kill the process under the running call, shield or not (used on close); True if a
        call was running."""
        with self._lock:
            if self._running is None:
                return False
            self._running_cancelled = True
            self._kill_locked()
            return True

    @contextmanager
    def shielded(self) -> Iterator[None]:
        """Within this block (on the worker thread), a cancellation of the running call leaves
        the process alive; check :meth:`cancelled` after it."""
        with self._lock:
            self._shielded = True
        try:
            yield
        finally:
            with self._lock:
                self._shielded = False

    def cancelled(self) -> bool:
        """True if the running call's caller has given up on it (call from the worker thread)."""
        with self._lock:
            return self._running_cancelled

    def consume_interrupt(self) -> bool:
        """True once after each interrupt: the process was killed and must be restarted.

        Call it from the worker thread only.
        """
        with self._lock:
            was, self._interrupted = self._interrupted, False
            return was

    def shutdown(self) -> None:
        """Stop accepting calls; calls still queued fail with WorkerClosedError (cancelling
        their futures would raise CancelledError in callers nobody cancelled), then the thread
        ends."""
        with self._lock:
            self._shut = True
        self._executor.shutdown(wait=False)


__all__ = ["ThreadWorker", "WorkerClosedError"]
