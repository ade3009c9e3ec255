"""One dedicated thread per synchronous prover process.

LeanDojo's ``Dojo`` and lean-interact's ``LeanServer`` are blocking objects: a ``Dojo`` is
entered, driven and exited by one thread, and neither may see two requests at once. A
:class:`ThreadWorker` owns one thread; every call to its process goes through
:meth:`ThreadWorker.call`, so calls run one at a time, in order, off the event loop.

Cancellation (the search wraps ``apply`` in ``asyncio.wait_for``): a call still queued is
dropped and never runs. A call already running cannot be stopped from Python, so the worker
calls the owner's ``interrupt`` callback (which kills the prover process) and remembers it did;
the running call then fails fast, and the owner sees :meth:`consume_interrupt` return True and
restarts the process before its next use. A later call never starts before the interrupted one
has returned, so calls never interleave.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

logger = logging.getLogger(__name__)


class WorkerClosedError(RuntimeError):
    """A call was submitted to a worker after :meth:`ThreadWorker.shutdown`."""


class ThreadWorker:
    """Runs blocking calls on one thread; see the module docstring for cancellation.

    ``interrupt`` is called from the event loop thread, with the worker's lock held, only while
    a cancelled call is running; it must only kill the process (never touch Python objects the
    running call uses).
    """

    def __init__(self, name: str, interrupt: Callable[[], None]) -> None:
        self.name = name
        self._interrupt = interrupt
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._running: int | None = None
        self._abandoned: set[int] = set()
        self._interrupted = False
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
                self._running = job
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
                self._interrupted = True
                try:
                    self._interrupt()
                except Exception:  # a failed kill must not hide the cancellation
                    logger.exception("%s: interrupting the running call failed", self.name)
            else:
                self._abandoned.add(job)

    def interrupt_running(self) -> bool:
        """Kill the process under the running call, if any (used on close); True if one ran."""
        with self._lock:
            if self._running is None:
                return False
            self._interrupted = True
            try:
                self._interrupt()
            except Exception:
                logger.exception("%s: interrupting the running call failed", self.name)
            return True

    def consume_interrupt(self) -> bool:
        """True once after each interrupt: the process was killed and must be restarted.

        Call it from the worker thread only.
        """
        with self._lock:
            was, self._interrupted = self._interrupted, False
            return was

    def shutdown(self) -> None:
        """Stop accepting calls; the thread ends when the calls already queued have run."""
        self._shut = True
        self._executor.shutdown(wait=False, cancel_futures=True)


__all__ = ["ThreadWorker", "WorkerClosedError"]
