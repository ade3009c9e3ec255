"""The Lean REPL's processes: how they start (lean-interact), the pool that leases them to
sessions, and how their answers and failures are read.

A heartbeat limit already bounds every tactic in the REPL's tactic mode, whatever the header
sets: the REPL builds each proof state's ``Core.Context`` through ``ContextInfo.runMetaM``,
which leaves ``maxHeartbeats`` at Lean's default (200000) rather than the header's
``set_option maxHeartbeats 0`` (leanprover-community/repl#69; the fix, PR #105, is not merged,
nor in lean-interact's fork), and ``CoreM.toIO`` restarts the count for each proof step. A tactic
that reaches it comes back as ``Lean error:\\n(deterministic) timeout ...``: read by
:func:`heartbeat_timeout`, it is a :class:`~prover.types.TacticTimeout` that keeps the process.
``set_option maxHeartbeats N in tac`` cannot move that bound (the tactic ``set_option`` goes
through ``withOptions``, which does not update ``Core.Context.maxHeartbeats``), so what Lean
does not stop (kernel reduction, compiled code, a loop that never checks) is stopped by the
wall-clock ``tactic_timeout_s``: lean-interact kills the process and it is restarted.
"""

from __future__ import annotations

import importlib
import logging
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from prover.backends.lease_pool import LeasePool
from prover.backends.worker import ThreadWorker
from prover.errors import (
    BackendUnavailableError,
    ConfigError,
    EnvironmentInitError,
    ProverError,
)

logger = logging.getLogger(__name__)

SETUP_ADVICE = (
    "install Lean with elan (https://github.com/leanprover/elan) so that `lake` is on PATH; the "
    "first use clones lean-interact's REPL and builds it with lake (this needs git and the "
    "network once); for Mathlib theorems pass project_dir, a Lake project that depends on "
    "Mathlib, after running `lake exe cache get && lake build` in it")


class ReplServer(Protocol):
    """What a session needs of a REPL process: lean-interact's ``LeanServer`` has both methods.

    ``run`` answers a ``Command`` with ``CommandResponse | LeanError`` and a ``ProofStep`` with
    ``ProofStepResponse | LeanError``; it raises ``TimeoutError`` after ``timeout`` seconds
    (having killed the process) and ``ConnectionAbortedError`` / ``ChildProcessError`` when
    the process is gone.
    """

    def run(self, request: Any, *, timeout: float | None = None) -> Any: ...

    def kill(self) -> None: ...


ServerFactory = Callable[[], ReplServer]
"""Starts one REPL process; called on the thread that will drive it. Tests pass a scripted
stand-in answering with lean-interact's own response models."""


def import_lean_interact() -> Any:
    """``lean_interact.interface`` (the request and response models), imported on first use."""
    try:
        return importlib.import_module("lean_interact.interface")
    except ImportError as exc:
        raise BackendUnavailableError(
            f"lean_interact cannot be imported ({exc}): it comes with the 'lean' extra, "
            f"pip install 'seg-prover[lean]'") from exc


class LeanServerFactory:
    """Starts lean-interact ``LeanServer`` processes (the default :data:`ServerFactory`).

    One ``LeanREPLConfig`` is made on first use and shared: making it clones and builds the
    REPL. Give ``repl_config`` to use a config of your own; otherwise ``project_dir`` (a Lake
    project, e.g. one depending on Mathlib) or ``lean_version`` (plain Lean, no Mathlib) and
    ``memory_limit_mb`` (a hard limit per process) shape it. A missing ``lake``, a REPL that
    cannot be built or a process that cannot start raise
    :class:`~prover.errors.BackendUnavailableError`: no theorem can be opened then.
    """

    def __init__(self, project_dir: str | Path | None = None, *, lean_version: str | None = None,
                 repl_config: Any = None, memory_limit_mb: int | None = None) -> None:
        if project_dir is not None and lean_version is not None:
            raise ConfigError("give project_dir or lean_version, not both: the project's "
                              "lean-toolchain fixes the Lean version")
        self.project_dir = Path(project_dir) if project_dir is not None else None
        self.lean_version = lean_version
        self.memory_limit_mb = memory_limit_mb
        self._config = repl_config
        self._lock = threading.Lock()

    def config(self) -> Any:
        """The shared ``LeanREPLConfig``, made (cloning and building the REPL) on first call."""
        with self._lock:
            if self._config is None:
                self._config = self._make_config()
            return self._config

    def _make_config(self) -> Any:
        if shutil.which("lake") is None:
            raise BackendUnavailableError(f"`lake` is not on PATH: {SETUP_ADVICE}")
        if self.project_dir is not None and not self.project_dir.is_dir():
            raise EnvironmentInitError(f"project_dir {self.project_dir} is not a directory")
        try:
            li = importlib.import_module("lean_interact")
            project = None
            if self.project_dir is not None:
                project = li.LocalProject(directory=str(self.project_dir), auto_build=False)
            return li.LeanREPLConfig(project=project, lean_version=self.lean_version,
                                     memory_hard_limit_mb=self.memory_limit_mb)
        except ProverError:
            raise
        except Exception as exc:
            raise BackendUnavailableError(
                f"the Lean REPL could not be set up ({type(exc).__name__}: {exc}): "
                f"{SETUP_ADVICE}") from exc

    def __call__(self) -> Any:
        config = self.config()
        li = importlib.import_module("lean_interact")
        try:
            return li.LeanServer(config)
        except Exception as exc:
            raise BackendUnavailableError(
                f"the Lean REPL did not start ({type(exc).__name__}: {exc}): "
                f"{SETUP_ADVICE}") from exc


def positive(owner: str, name: str, value: Any, *, integer: bool = False,
             optional: bool = False) -> None:
    """Raise ConfigError unless ``owner.name`` is a number (an integer) > 0, or None when
    ``optional``."""
    if optional and value is None:
        return
    number = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not number or not value > 0:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{owner}.{name} must be {kind} > 0"
                          f"{' or None' if optional else ''}, got {value!r}")


class LostStates(Exception):
    """The REPL answered "Unknown proof state.": the process no longer holds the states this
    session made there (a server that restarted itself), so it is restarted and they are
    replayed, as after a crash."""


def lost_states(response: Any, li: Any) -> bool:
    """Whether ``response`` says the process forgot this session's states or environments."""
    return isinstance(response, li.LeanError) and response.message.startswith(
        ("Unknown proof state", "Unknown environment"))


_HEARTBEATS = "(deterministic) timeout"


def heartbeat_timeout(response: Any, li: Any) -> bool:
    """Whether ``response`` is Lean stopping a tactic at its heartbeat limit (the process is
    alive and in step; see the module docstring)."""
    return isinstance(response, li.LeanError) and _HEARTBEATS in response.message \
        and "maximum number of heartbeats" in response.message


def errors(response: Any) -> list[str]:
    """The texts of the error-severity messages of a response."""
    return [m.data for m in getattr(response, "messages", ()) if m.severity == "error"]


_OOM_SIGNS = ("out of memory", "std::bad_alloc", "cannot allocate memory")


def describe(exc: BaseException) -> str:
    """What went wrong, for messages (an out-of-memory death named as such)."""
    text = str(exc)
    if isinstance(exc, MemoryError) or any(sign in text.lower() for sign in _OOM_SIGNS):
        return ("the Lean REPL ran out of memory (OOM): raise memory_limit_mb or run fewer "
                "processes at once")
    if isinstance(exc, LostStates):
        return f"the REPL process no longer holds this session's proof states ({text})"
    text = text if len(text) <= 600 else text[:600] + " ..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ReplProcess:
    """One REPL process of the pool and the thread that drives it.

    ``server``, ``generation`` (bumped on every start) and ``envs`` (header -> env id) are
    touched only by the worker thread.
    """

    def __init__(self, index: int, factory: ServerFactory, command_timeout_s: float) -> None:
        self.index = index
        self.factory = factory
        self.command_timeout_s = command_timeout_s
        self.worker = ThreadWorker(f"lean-repl-{index}", self.kill_now)
        self.server: Any = None
        self.generation = 0
        self.envs: dict[str, int] = {}
        self.theorems_served = 0
        self.starts = 0

    def ensure_started(self) -> None:
        if self.server is None:
            self.server = self.factory()
            self.generation += 1
            self.starts += 1
            self.envs = {}

    def discard(self) -> None:
        server, self.server, self.envs = self.server, None, {}
        if server is not None:
            try:
                server.kill()
            except Exception:  # already gone
                logger.debug("killing REPL process %d failed", self.index, exc_info=True)

    def header_env(self, header: str, name: str = "") -> int | None:
        """The environment made by ``header`` on this process (run once per process)."""
        if not header.strip():
            return None
        if header not in self.envs:
            li = import_lean_interact()
            response = self.server.run(li.Command(cmd=header), timeout=self.command_timeout_s)
            where = f" (opening {name})" if name else ""
            if isinstance(response, li.LeanError):
                raise EnvironmentInitError(f"the REPL rejected the header{where}: "
                                           f"{response.message}")
            problems = errors(response)
            if problems:
                raise EnvironmentInitError(f"the header does not compile{where}: {problems[0]}")
            self.envs[header] = response.env
        return self.envs[header]

    def kill_now(self) -> bool:
        """Called from the event loop thread: kill the OS process under a running call; False
        if there was none.

        Only the process is killed (by pid, through psutil, which lean-interact depends on);
        the ``LeanServer`` object is left to the worker thread, which sees the broken pipe.
        """
        # lean-interact offers no public pid; its Popen is ``_proc``.
        pid = getattr(getattr(self.server, "_proc", None), "pid", None)
        if not isinstance(pid, int):
            return False
        import psutil

        try:
            process = psutil.Process(pid)
            for child in process.children(recursive=True):
                child.kill()
            process.kill()
        except psutil.NoSuchProcess:
            pass
        return True


class Pool:
    """Leases the environment's REPL processes to sessions, first come first served; a
    process has one holder (the rules are :class:`~prover.backends.lease_pool.LeasePool`'s)."""

    def __init__(self, processes: list[ReplProcess]) -> None:
        self.processes = processes
        self._leases: LeasePool[ReplProcess] = LeasePool(
            max(1, len(processes)), reversed(processes), name="LeanReplEnvironment")

    def close(self) -> None:
        """Fail every waiter (and later acquire): no process will be leased again."""
        self._leases.close()

    async def acquire(self) -> ReplProcess:
        process = await self._leases.acquire()
        if process is None:  # cannot happen: every lease has its own process
            raise EnvironmentInitError("the LeanReplEnvironment has no process to lease")
        return process

    def release(self, process: ReplProcess) -> None:
        # Parked even after close: the environment discards every process itself.
        self._leases.release(process)


__all__ = ["SETUP_ADVICE", "LeanServerFactory", "LostStates", "Pool", "ReplProcess",
           "ReplServer", "ServerFactory", "describe", "errors", "heartbeat_timeout",
           "import_lean_interact", "lost_states", "positive"]
