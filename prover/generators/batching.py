"""Micro-batching: one model call for the ``propose`` calls of many concurrent searches.

A GPU is saturated only by batches, while one search asks for one state at a time. The
:class:`MicroBatcher` queues ``propose`` calls, waits up to ``max_wait_ms`` after the oldest
one (or until ``max_batch`` states wait), and decodes them with one blocking
``generate(states, k)`` call in a worker thread, never on the event loop. While a batch
decodes, new calls queue up and form the next batch, so under load batches fill without waiting.

It does not wait for company that cannot come: the batcher counts its callers (the most calls
in flight at once over the last second) and starts a batch at once when every one of them is
waiting or decoding. A search alone is thus never delayed by ``max_wait_ms``, and W searches in
lock-step go as soon as the W-th asks. ``max_concurrent_batches`` > 1 lets batches overlap, for
models served by a backend that runs several calls at once (several GPUs, a server).

``k`` is a parameter of the whole model call (``num_beams = k``), so calls are grouped by ``k``:
a batch holds the oldest waiting call and the calls that asked for the same ``k``; the others
wait for a later batch (in arrival order). Searches with one :class:`~prover.config.SearchConfig`
share one ``k``; rollouts that ask for fewer candidates form batches of their own.

One batcher serves every search in a process: build it once, pass it to every
:class:`~prover.search.BestFirstSearch`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from prover.errors import ConfigError, GeneratorError
from prover.types import Candidate, ProofState

log = logging.getLogger(__name__)


@runtime_checkable
class BatchGenerator(Protocol):
    """A generator that decodes many states at once, blocking (e.g.
    :class:`~prover.generators.hf.HFTacticGenerator`). Returns one candidate list per state."""

    def generate(self, states: Sequence[ProofState], k: int) -> list[list[Candidate]]: ...


@dataclass
class _Request:
    state: ProofState
    k: int
    future: asyncio.Future[list[Candidate]]
    arrived: float = field(default_factory=time.monotonic)


class MicroBatcher:
    """A :class:`~prover.generators.base.TacticGenerator` that batches calls to a
    :class:`BatchGenerator`.

    - ``max_batch``: most states per model call.
    - ``max_wait_ms``: how long the oldest waiting call may wait for company before its batch
      starts anyway (only when the model is idle and some caller is still busy elsewhere).
    - ``max_concurrent_batches``: model calls that may run at once (1: a single GPU).

    A failure of the model call reaches every caller of that batch as a
    :class:`~prover.errors.GeneratorError`; later batches are unaffected. A caller that is
    cancelled (e.g. by a search's time limit) is dropped from its batch if the batch has not
    started. ``batch_sizes`` counts the batches run by size; ``early_dispatches`` the batches
    started before ``max_wait_ms`` because every caller was waiting.
    """

    def __init__(self, generator: BatchGenerator, *, max_batch: int = 32,
                 max_wait_ms: float = 5.0, max_concurrent_batches: int = 1) -> None:
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ConfigError(f"MicroBatcher.max_batch must be an integer >= 1, got {max_batch!r}")
        if not max_wait_ms >= 0:
            raise ConfigError(f"MicroBatcher.max_wait_ms must be >= 0, got {max_wait_ms!r}")
        if isinstance(max_concurrent_batches, bool) or not isinstance(
                max_concurrent_batches, int) or max_concurrent_batches < 1:
            raise ConfigError(f"MicroBatcher.max_concurrent_batches must be an integer >= 1, "
                              f"got {max_concurrent_batches!r}")
        self.generator = generator
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_concurrent_batches = max_concurrent_batches
        self.batch_sizes: collections.Counter[int] = collections.Counter()
        self.early_dispatches = 0
        self._in_flight = 0  # propose calls not yet answered (waiting or decoding)
        self._decoding = 0  # of those, in a batch that runs now
        # The callers there are: the most calls in flight at once in this window of
        # _CALLER_WINDOW_S and in the last one.
        self._peak = self._last_peak = 0
        self._window_start = 0.0
        self._decodes: set[asyncio.Task[None]] = set()
        self._slots: asyncio.Semaphore | None = None
        self._pending: collections.deque[_Request] = collections.deque()
        self._arrival: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # One thread: model calls run one after another, off the event loop.
        self._executor = ThreadPoolExecutor(max_workers=max_concurrent_batches,
                                            thread_name_prefix="micro-batcher")

    async def propose(self, state: ProofState, k: int) -> list[Candidate]:
        """Candidates for ``state``, decoded in a batch with other waiting calls."""
        if k < 1:
            return []
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A new event loop (e.g. a second asyncio.run): state bound to the old one is dead.
            self._loop, self._arrival, self._worker = loop, asyncio.Event(), None
            self._slots = asyncio.Semaphore(self.max_concurrent_batches)
            self._pending.clear()
            self._in_flight = self._decoding = self._peak = self._last_peak = 0
            self._decodes.clear()
        assert self._arrival is not None
        request = _Request(state, k, loop.create_future())
        self._count_caller(request.arrived)
        self._pending.append(request)
        self._arrival.set()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._run())
        try:
            return await request.future
        finally:
            self._in_flight -= 1

    # A caller that stopped asking (its search ended) stops counting after this long.
    _CALLER_WINDOW_S = 1.0

    def _count_caller(self, now: float) -> None:
        # The peak of this window and the last: a new window must not forget the callers that
        # are busy applying tactics at the moment it starts.
        self._in_flight += 1
        if now - self._window_start > self._CALLER_WINDOW_S:
            self._window_start, self._last_peak, self._peak = now, self._peak, 0
        self._peak = max(self._peak, self._in_flight)

    def _everyone_waits(self) -> bool:
        """Whether no other call can arrive: every known caller is waiting or decoding."""
        waiting = sum(not r.future.done() for r in self._pending)
        return waiting + self._decoding >= max(self._peak, self._last_peak)

    async def _run(self) -> None:
        """Form and start batches while calls wait (at most ``max_concurrent_batches`` decode
        at once); exits when the queue is empty."""
        assert self._slots is not None
        try:
            while self._pending:
                await self._slots.acquire()
                batch: list[_Request] = []
                try:
                    await self._gather()
                    batch = self._take()
                finally:
                    if not batch:
                        self._slots.release()
                if batch:
                    self._decoding += len(batch)
                    task = asyncio.get_running_loop().create_task(self._decode_then_free(batch))
                    self._decodes.add(task)
                    task.add_done_callback(self._decodes.discard)
        except BaseException as exc:
            # Never leave a caller waiting on a future nobody will complete.
            for request in self._pending:
                if not request.future.done():
                    request.future.set_exception(
                        GeneratorError(f"micro-batcher stopped: {exc!r}"))
            self._pending.clear()
            raise

    async def _gather(self) -> None:
        """Wait until ``max_batch`` calls with the oldest call's ``k`` wait, or its deadline."""
        assert self._arrival is not None
        oldest = self._pending[0]
        deadline = oldest.arrived + self.max_wait_s
        while sum(r.k == oldest.k for r in self._pending) < self.max_batch:
            if self._everyone_waits():
                if time.monotonic() < deadline:
                    self.early_dispatches += 1
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._arrival.clear()
            try:
                await asyncio.wait_for(self._arrival.wait(), remaining)
            except asyncio.TimeoutError:
                return

    def _take(self) -> list[_Request]:
        """Remove and return the next batch: the oldest live call and live calls with its k."""
        while self._pending and self._pending[0].future.done():
            self._pending.popleft()  # cancelled while waiting
        if not self._pending:
            return []
        k = self._pending[0].k
        batch: list[_Request] = []
        rest: collections.deque[_Request] = collections.deque()
        for request in self._pending:
            if request.future.done():
                continue
            if request.k == k and len(batch) < self.max_batch:
                batch.append(request)
            else:
                rest.append(request)
        self._pending = rest
        return batch

    async def _decode_then_free(self, batch: list[_Request]) -> None:
        assert self._slots is not None
        try:
            await self._decode(batch)
        finally:
            self._decoding -= len(batch)
            self._slots.release()

    async def _decode(self, batch: list[_Request]) -> None:
        states = [request.state for request in batch]
        k = batch[0].k
        loop = asyncio.get_running_loop()
        self.batch_sizes[len(batch)] += 1
        began = time.monotonic()
        try:
            results = await loop.run_in_executor(self._executor, self.generator.generate,
                                                 states, k)
            if len(results) != len(batch):
                raise GeneratorError(f"{type(self.generator).__name__}.generate returned "
                                     f"{len(results)} lists for {len(batch)} states")
        except Exception as exc:
            message = (str(exc) if isinstance(exc, GeneratorError) else
                       f"{type(self.generator).__name__}.generate failed on a batch of "
                       f"{len(batch)} states: {exc!r}")
            log.warning("generator batch of %d states failed: %s", len(batch), message)
            for request in batch:
                if not request.future.done():
                    # One exception object per caller: each raise extends its traceback.
                    error = GeneratorError(message)
                    error.__cause__ = exc
                    request.future.set_exception(error)
            return
        log.debug("batch of %d states (k=%d) in %.3f s", len(batch), k,
                  time.monotonic() - began)
        for request, candidates in zip(batch, results):
            if not request.future.done():
                request.future.set_result(candidates)

    def close(self) -> None:
        """Stop the worker thread (after the model call in progress, if any)."""
        self._executor.shutdown(wait=False)

    def __repr__(self) -> str:
        return (f"MicroBatcher({self.generator!r}, max_batch={self.max_batch}, "
                f"max_wait_ms={self.max_wait_s * 1000:g}, "
                f"max_concurrent_batches={self.max_concurrent_batches})")


__all__ = ["BatchGenerator", "MicroBatcher"]
