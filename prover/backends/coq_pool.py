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
from prover.errors import BackendUnavailableError, EnvironmentInitError


class CoqPool:
    """At most ``config.max_processes`` processes (one per open session); see the module
    docstring. ``started`` counts the processes started for new sessions, ``restarted``
    those started to replace a dead one."""

    def __init__(self, config: CoqConfig) -> None:
        self.config = config
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        self._idle: list[CoqProcess] = []
        self._closed = False
        self._backend_ok = False  # a process started with the backend's own flags
        self.started = 0
        self.restarted = 0

    def _bind(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._slots is None:
            for proc in self._idle:  # processes of an earlier event loop cannot be used
                proc.kill()
            self._idle = []
            self._loop = loop
            self._slots = asyncio.Semaphore(self.config.max_processes)
        return self._slots

    async def acquire(self, args: tuple[str, ...], sentences: Sequence[str]
                      ) -> CoqProcess | None:
        """Take a slot; hand back the idle process (same flags) whose document shares the
        longest prefix with ``sentences``, or ``None`` (the caller then :meth:`spawn`s)."""
        slots = self._bind()
        await slots.acquire()
        try:
            usable = [p for p in self._idle if p.alive and p.args == self._args(args)]
            if usable:
                best = max(usable, key=lambda p: p.common_prefix(sentences))
                self._idle.remove(best)
                return best
            for proc in [p for p in self._idle if not p.alive or p.args != self._args(args)][:1]:
                self._idle.remove(proc)  # make room: one process per slot
                await proc.close()
            return None
        except BaseException:
            slots.release()
            raise

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
        """Park ``proc`` for reuse, or close it (dead, or the pool is closed), and free its
        slot."""
        try:
            if proc is not None and proc.alive and not self._closed:
                self._idle.append(proc)
            elif proc is not None:
                await proc.close()
        finally:
            if self._slots is not None:
                self._slots.release()

    async def close(self) -> None:
        # Sessions still open when the environment closes kill their process on release
        # instead of parking it where nothing would ever close it.
        self._closed = True
        idle, self._idle = self._idle, []
        for proc in idle:
            await proc.close()


__all__ = ["CoqPool"]
