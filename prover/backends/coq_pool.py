"""A bounded pool of ``coqidetop`` processes; idle ones keep their documents for reuse.

The pool also decides what a failed start means: a process that cannot start with the
theorem's flags but starts with the backend's own is the theorem's problem
(:class:`~prover.errors.EnvironmentInitError`); one that cannot start with the backend's own
flags either means the backend is unusable (:class:`~prover.errors.BackendUnavailableError`,
permanent, with the reason and how to fix it). A process killed while it starts is a passing
crash (:class:`~prover.backends.coq_process.CoqDied`): the session retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from prover.backends.coq_config import CoqConfig
from prover.backends.coq_process import INSTALL_HINT, CoqProcess, CoqStartError
from prover.backends.lease_pool import LeasePool
from prover.errors import BackendUnavailableError, EnvironmentInitError


class CoqPool:
    """At most ``config.max_processes`` processes (one per open session); see the module
    docstring. ``started`` counts the processes started for new sessions, ``restarted``
    those started to replace a dead one."""

    def __init__(self, config: CoqConfig) -> None:
        self.config = config
        self._loop: asyncio.AbstractEventLoop | None = None
        self._leases: LeasePool[CoqProcess] = LeasePool(config.max_processes,
                                                        name="CoqEnvironment")
        self._backend_ok = False  # a process started with the backend's own flags
        self.started = 0
        self.restarted = 0

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            for proc in self._leases.reset():  # processes of an earlier loop cannot be used
                proc.kill()
            self._loop = loop

    async def acquire(self, args: tuple[str, ...], sentences: Sequence[str]
                      ) -> CoqProcess | None:
        """Take a lease; hand back the idle process (same flags) whose document shares the
        longest prefix with ``sentences``, or ``None`` (the caller then :meth:`spawn`s)."""
        self._bind()
        wanted = self._args(args)

        def best_match(idle: Sequence[CoqProcess]) -> int | None:
            usable = [i for i, p in enumerate(idle) if p.alive and p.args == wanted]
            if not usable:
                return None
            return max(usable, key=lambda i: idle[i].common_prefix(sentences))

        proc = await self._leases.acquire(best_match)
        if proc is not None:
            return proc
        try:
            # One process per lease: make room by stopping one that this theorem cannot use.
            unusable = self._leases.take_idle(lambda idle: next(
                (i for i, p in enumerate(idle) if not p.alive or p.args != wanted), None))
            if unusable is not None:
                await unusable.close()
        except BaseException:
            self._leases.release(None)
            raise
        return None

    def _args(self, args: tuple[str, ...]) -> tuple[str, ...]:
        return (*self.config.args, *args)

    async def spawn(self, args: tuple[str, ...], *, restart: bool = False) -> CoqProcess:
        """Start a process with the backend's flags plus ``args`` (see the module docstring
        for what a failure raises)."""
        proc = CoqProcess(self.config.executable, self._args(args))
        try:
            await proc.start()
        except CoqStartError as exc:
            if args and await self._backend_works():
                raise EnvironmentInitError(f"coqidetop does not start with this theorem's "
                                           f"flags {' '.join(args)}: {exc}") from exc
            raise BackendUnavailableError(
                f"{exc}. The Coq backend cannot start: check that `{self.config.executable} "
                f"-main-channel stdfds` runs here, and the flags (CoqConfig.args); or "
                f"{INSTALL_HINT}") from exc
        self._backend_ok = True
        if restart:
            self.restarted += 1
        else:
            self.started += 1
        return proc

    async def _backend_works(self) -> bool:
        """Whether a process starts with the backend's own flags (checked once)."""
        if not self._backend_ok:
            probe = CoqProcess(self.config.executable, self.config.args)
            try:
                await probe.start()
            except EnvironmentInitError:
                return False
            finally:
                await probe.close()
            self._backend_ok = True
        return True

    async def release(self, proc: CoqProcess | None) -> None:
        """Park ``proc`` for reuse, or close it (dead, or the pool is closed), and end its
        lease."""
        park = proc is not None and proc.alive and not self._leases.closed
        self._leases.release(proc, park=park)
        if proc is not None and not park:
            await proc.close()

    async def close(self) -> None:
        # Sessions still open when the environment closes kill their process on release
        # instead of parking it where nothing would ever close it.
        for proc in self._leases.close():
            await proc.close()


__all__ = ["CoqPool"]
