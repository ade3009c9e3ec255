"""Spreading a benchmark over a Ray cluster.

One actor per slot runs its own event loop, environment and generator, with up to
``concurrency`` searches in flight (Ray's async actors). The driver hands out work items,
receives each finished row and is the only writer of ``results.jsonl``, so the resume rules of
the local runner hold unchanged. An item whose actor dies (process crash, node loss, OOM kill) is
retried on a fresh actor up to ``max_retries`` times, then recorded as ``error``.

Workers rebuild the components from the :class:`~benchmarks.config.BenchConfig`: files named in
it (the suite's trace, a ``fixed:`` tactic file, a ``file.py:name`` heuristic) must exist at the
same path on every node, and modules named ``package.module:name`` must be importable there
(install them, or pass Ray a ``runtime_env``).

Ray is imported only here, and this module only when ``--ray`` is given.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.attempts import (
    AttemptRunner,
    Components,
    RowSink,
    WorkItem,
    build_components,
    error_row,
)
from benchmarks.config import BenchConfig
from benchmarks.suites import Suite
from prover.errors import BackendUnavailableError, ProverError
from prover.types import Theorem

log = logging.getLogger(__name__)


class BenchWorker:
    """The body of a Ray actor: lazily builds its components, then runs attempts."""

    def __init__(self, config: BenchConfig | Mapping[str, Any], trace: str | None) -> None:
        self._config = (config if isinstance(config, BenchConfig)
                        else BenchConfig.from_dict(config))
        self._trace = trace
        self._runner: AttemptRunner | None = None
        self._components: Components | None = None
        self._building: asyncio.Lock | None = None
        self.name = f"ray:{socket.gethostname()}:{os.getpid()}"

    async def setup(self) -> str:
        """Build the environment, generator and heuristic (once); returns the worker's name."""
        if self._building is None:
            self._building = asyncio.Lock()
        async with self._building:
            if self._runner is None:
                self._components = await build_components(self._config, trace=self._trace)
                self._runner = AttemptRunner(self._config, self._components, worker=self.name)
        return self.name

    async def run(self, theorem: Theorem, attempt: int) -> dict[str, Any]:
        """One attempt's result row (as :meth:`AttemptRunner.run`)."""
        await self.setup()
        assert self._runner is not None
        return await self._runner.run(theorem, attempt)

    async def close(self) -> None:
        if self._components is not None:
            await self._components.close()
            self._components = None


@dataclass
class _Slot:
    handle: Any
    inflight: int = 0
    alive: bool = True


def run_on_ray(config: BenchConfig, suite: Suite, items: Sequence[WorkItem], sink: RowSink, *,
               address: str | None = None, actors: int | None = None, concurrency: int = 1,
               max_retries: int = 2, actor_options: Mapping[str, Any] | None = None,
               ready: Callable[[], None] | None = None) -> None:
    """Run ``items`` on Ray actors and ``sink`` every row on the driver (see the module doc).

    Uses the Ray instance already initialised in this process if there is one (and leaves it
    running), else ``ray.init(address)`` (``None``: a local instance) and shuts it down after.
    ``actors`` defaults to the cluster's CPU count divided by the CPUs each actor asks for.
    ``ready`` is called once the first workers have built their components (the runner
    stores the run's config then). A worker's BackendUnavailableError stops the run.
    """
    from prover.extras import require

    ray = require("ray", extra="ray")
    started = False
    if not ray.is_initialized():
        # a local instance needs no dashboard; a cluster's own settings are left alone
        if address is None:
            ray.init(include_dashboard=False)
        else:
            ray.init(address=address)
        started = True
    elif address is not None:
        log.warning("Ray is already initialised in this process; ignoring address %r", address)
    options = {"num_cpus": 1, **dict(actor_options or {})}
    if actors is None:
        cpus = float(ray.cluster_resources().get("CPU", 1))
        actors = max(1, int(cpus // max(float(options["num_cpus"]), 1e-9)))
    actors = max(1, min(actors, len(items)))
    remote_cls = ray.remote(BenchWorker).options(max_concurrency=concurrency, **options)
    # Specs travel as JSON; a config holding objects (the library API) travels pickled.
    config_data: BenchConfig | dict[str, Any] = (
        config.to_dict() if isinstance(config.generator, str) and isinstance(config.heuristic, str)
        else config)
    slots: list[_Slot] = []

    def spawn() -> _Slot:
        slot = _Slot(remote_cls.remote(config_data, suite.trace))
        slots.append(slot)
        return slot

    try:
        first = [spawn() for _ in range(actors)]
        try:
            names = ray.get([slot.handle.setup.remote() for slot in first])
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            raise (cause if isinstance(cause, ProverError) else exc) from None
        log.info("Ray workers ready: %s", ", ".join(names))
        if ready is not None:
            ready()
        _schedule(ray, config, items, sink, slots, spawn, concurrency, max_retries)
    finally:
        for slot in slots:
            if slot.alive:
                try:
                    ray.get(slot.handle.close.remote(), timeout=30)
                except Exception:  # a worker that cannot close cleanly is killed below
                    log.debug("closing a Ray worker failed", exc_info=True)
            ray.kill(slot.handle, no_restart=True)
        if started:
            ray.shutdown()


def _schedule(ray: Any, config: BenchConfig, items: Sequence[WorkItem], sink: RowSink,
              slots: list[_Slot], spawn: Any, concurrency: int, max_retries: int) -> None:
    queue: deque[tuple[Theorem, int, int]] = deque((t, a, 0) for t, a in items)
    inflight: dict[Any, tuple[_Slot, Theorem, int, int]] = {}
    while queue or inflight:
        for slot in [s for s in slots if s.alive]:
            while queue and slot.inflight < concurrency:
                theorem, attempt, tries = queue.popleft()
                inflight[slot.handle.run.remote(theorem, attempt)] = (slot, theorem, attempt, tries)
                slot.inflight += 1
        done, _ = ray.wait(list(inflight), num_returns=1)
        for ref in done:
            slot, theorem, attempt, tries = inflight.pop(ref)
            slot.inflight -= 1
            try:
                sink(ray.get(ref))
            except ray.exceptions.RayTaskError as exc:
                if isinstance(getattr(exc, "cause", None), BackendUnavailableError):
                    raise exc.cause from None  # permanent: the run stops, no row
                # The actor is alive but the call raised (e.g. its setup failed): not retried.
                sink(error_row(theorem.name, attempt, config, f"Ray worker error: {exc}",
                               worker="ray"))
            except ray.exceptions.RayError as exc:
                if slot.alive:
                    slot.alive = False
                    log.warning("Ray worker died while running %s (attempt %d): %s; starting "
                                "a new one", theorem.name, attempt, type(exc).__name__)
                    spawn()
                if tries < max_retries:
                    queue.appendleft((theorem, attempt, tries + 1))
                else:
                    sink(error_row(theorem.name, attempt, config,
                                   f"Ray worker died on all {tries + 1} tries: "
                                   f"{type(exc).__name__}: {str(exc)[:500]}", worker="ray"))


__all__ = ["BenchWorker", "run_on_ray"]
