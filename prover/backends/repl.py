"""Lean REPL backend: proof search through leanprover-community/repl, driven by lean-interact.

Current provers (DeepSeek-Prover, Kimina, Goedel) talk to the REPL, which works on every recent
Lean and Mathlib, where LeanDojo 4.x stops at v4.12 (LeanDojo#211). ``lean_interact`` is
imported on first use, never by ``import prover``.

A theorem is ``header`` + ``formal_statement`` (its locator, as :func:`prover.theorems.
load_theorems` builds it). The header command runs once per REPL process and its environment
is reused for every theorem on that process; the statement is sent with ``sorry`` as its proof,
and that sorry's proof state is the root. Tactics run in tactic mode
(``{"tactic": ..., "proofState": n}``), and each answer becomes an outcome::

    LeanError ("Unknown proof state.", "Lean error: ...")       TacticError
    any error-severity message (even with a new proofState)     TacticError
    a new sorry, or no goals and proofStatus != "Completed"     TacticError (never a proof)
    no goals and proofStatus == "Completed"                     Proved
    goals                                                       StateReached
    no answer within tactic_timeout_s (lean-interact kills it)  TacticTimeout; restart
    the process died (ConnectionAbortedError, ...)              TacticError; restart, at most
                                                                max_restarts per session, then
                                                                EnvironmentCrashError (OOM named)

Sessions lease a process from a pool of ``num_processes`` (a process is not shared while a
session holds it) and drive it from that process's own thread. States carry their tactic path
in ``handle``; after a restart, the theorem is opened again and states are rebuilt lazily by
replaying their paths. ``verify`` compiles ``header + statement + proof`` as one command in a
fresh environment and accepts only an answer with no error and no sorry.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import shutil
import textwrap
import threading
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from prover.backends.worker import ThreadWorker
from prover.env import SessionBase
from prover.errors import ConfigError, EnvironmentCrashError, EnvironmentInitError, ProverError
from prover.types import (
    Outcome,
    ProofState,
    Proved,
    StateReached,
    TacticError,
    TacticTimeout,
    Theorem,
)

logger = logging.getLogger(__name__)

TacticPath = tuple[str, ...]
"""The tactics from the root to a state: the ``handle`` of every state a session hands out."""

_SETUP_ADVICE = (
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
        raise EnvironmentInitError(
            f"lean_interact cannot be imported ({exc}): `pip install lean-interact`") from exc


class LeanServerFactory:
    """Starts lean-interact ``LeanServer`` processes (the default :data:`ServerFactory`).

    One ``LeanREPLConfig`` is made on first use and shared: making it clones and builds the
    REPL. Give ``repl_config`` to use a config of your own; otherwise ``project_dir`` (a Lake
    project, e.g. one depending on Mathlib) or ``lean_version`` (plain Lean, no Mathlib) and
    ``memory_limit_mb`` (a hard limit per process) shape it.
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
            raise EnvironmentInitError(f"`lake` is not on PATH: {_SETUP_ADVICE}")
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
            raise EnvironmentInitError(f"the Lean REPL could not be set up ({type(exc).__name__}: "
                                       f"{exc}): {_SETUP_ADVICE}") from exc

    def __call__(self) -> Any:
        config = self.config()
        li = importlib.import_module("lean_interact")
        try:
            return li.LeanServer(config)
        except Exception as exc:
            raise EnvironmentInitError(f"the Lean REPL did not start ({type(exc).__name__}: "
                                       f"{exc}): {_SETUP_ADVICE}") from exc


def statement_with_sorry(statement: str) -> str:
    """The statement with ``sorry`` as its proof (``:= by`` added when missing)."""
    return _opening(statement) + " sorry"


def statement_with_proof(statement: str, tactics: Sequence[str]) -> str:
    """The statement followed by the tactic proof, one tactic per (indented) line."""
    body = "\n".join(textwrap.indent(tactic, "  ") for tactic in tactics)
    return _opening(statement) + "\n" + body + "\n"


def _opening(statement: str) -> str:
    text = statement.rstrip()
    if text.endswith(":="):
        return text + " by"
    if text.endswith(" by") or text.endswith("\nby") or text == "by":
        return text
    return text + " := by"


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, MemoryError) or "out of memory" in text.lower():
        return ("the Lean REPL ran out of memory (OOM): raise memory_limit_mb or run fewer "
                "processes at once")
    text = text if len(text) <= 600 else text[:600] + " ..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Unrebuildable(Exception):
    """Replaying a state's path on a restarted REPL did not give that state back."""


class _ReplProcess:
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

    def header_env(self, header: str) -> int | None:
        """The environment made by ``header`` on this process (run once per process)."""
        if not header.strip():
            return None
        if header not in self.envs:
            li = import_lean_interact()
            response = self.server.run(li.Command(cmd=header), timeout=self.command_timeout_s)
            if isinstance(response, li.LeanError):
                raise EnvironmentInitError(f"the REPL rejected the header: {response.message}")
            errors = _errors(response)
            if errors:
                raise EnvironmentInitError(f"the header does not compile: {errors[0]}")
            self.envs[header] = response.env
        return self.envs[header]

    def kill_now(self) -> None:
        """Called from the event loop thread: kill the OS process under a running call.

        Only the process is killed (by pid, through psutil, which lean-interact depends on);
        the ``LeanServer`` object is left to the worker thread, which sees the broken pipe.
        """
        # lean-interact offers no public pid; its Popen is ``_proc``.
        pid = getattr(getattr(self.server, "_proc", None), "pid", None)
        if not isinstance(pid, int):
            return
        import psutil

        try:
            process = psutil.Process(pid)
            for child in process.children(recursive=True):
                child.kill()
            process.kill()
        except psutil.NoSuchProcess:
            pass


def _errors(response: Any) -> list[str]:
    return [m.data for m in getattr(response, "messages", ()) if m.severity == "error"]


class _Pool:
    """Leases processes to sessions, first come first served; a process has one holder."""

    def __init__(self, processes: list[_ReplProcess]) -> None:
        self.processes = processes
        self._idle = list(reversed(processes))
        self._waiters: deque[asyncio.Future[_ReplProcess]] = deque()

    async def acquire(self) -> _ReplProcess:
        if self._idle:
            return self._idle.pop()
        waiter: asyncio.Future[_ReplProcess] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(waiter.result())
            raise

    def release(self, process: _ReplProcess) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(process)
                return
        self._idle.append(process)


def _positive(name: str, value: Any, *, integer: bool = False, optional: bool = False) -> None:
    if optional and value is None:
        return
    number = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not number or not value > 0:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"LeanReplEnvironment.{name} must be {kind} > 0"
                          f"{' or None' if optional else ''}, got {value!r}")


class LeanReplEnvironment:
    """Opens REPL sessions on a pool of Lean REPL processes (see the module docstring).

    - ``project_dir`` / ``lean_version`` / ``repl_config`` / ``memory_limit_mb``: how the
      default :class:`LeanServerFactory` starts processes (``memory_limit_mb`` is a hard limit
      per process; ``None``: none).
    - ``num_processes``: REPL processes, so sessions open at once; others wait for one.
    - ``tactic_timeout_s``: limit per tactic (the process is killed and restarted after it).
    - ``command_timeout_s``: limit for the header, the statement and ``verify``.
    - ``max_restarts``: crash recoveries a session may make before EnvironmentCrashError.
    - ``theorems_per_process``: restart a process after this many theorems, since the REPL
      keeps every proof state it made (``None``: never).
    - ``server_factory``: a :data:`ServerFactory` to use instead of the default.
    """

    def __init__(self, project_dir: str | Path | None = None, *, lean_version: str | None = None,
                 repl_config: Any = None, num_processes: int = 1, tactic_timeout_s: float = 60.0,
                 command_timeout_s: float = 600.0, memory_limit_mb: int | None = None,
                 max_restarts: int = 5, theorems_per_process: int | None = 16,
                 server_factory: ServerFactory | None = None) -> None:
        _positive("num_processes", num_processes, integer=True)
        _positive("tactic_timeout_s", tactic_timeout_s)
        _positive("command_timeout_s", command_timeout_s)
        _positive("memory_limit_mb", memory_limit_mb, integer=True, optional=True)
        _positive("theorems_per_process", theorems_per_process, integer=True, optional=True)
        if isinstance(max_restarts, bool) or not isinstance(max_restarts, int) \
                or max_restarts < 0:
            raise ConfigError(f"LeanReplEnvironment.max_restarts must be an integer >= 0, "
                              f"got {max_restarts!r}")
        self.tactic_timeout_s = float(tactic_timeout_s)
        self.command_timeout_s = float(command_timeout_s)
        self.max_restarts = max_restarts
        self.theorems_per_process = theorems_per_process
        self.server_factory: ServerFactory = server_factory or LeanServerFactory(
            project_dir, lean_version=lean_version, repl_config=repl_config,
            memory_limit_mb=memory_limit_mb)
        self._pool = _Pool([_ReplProcess(i, self.server_factory, self.command_timeout_s)
                            for i in range(num_processes)])
        self._sessions: set[LeanReplSession] = set()
        self._closed = False

    @property
    def process_starts(self) -> int:
        """How many REPL processes were started so far (restarts included)."""
        return sum(p.starts for p in self._pool.processes)

    async def open(self, theorem: Theorem) -> LeanReplSession:
        if self._closed:
            raise EnvironmentInitError("the LeanReplEnvironment is closed")
        statement = theorem.locator.get("formal_statement") or theorem.statement
        if not isinstance(statement, str) or not statement.strip():
            raise EnvironmentInitError(f"theorem {theorem.name!r} has no formal statement")
        header = theorem.locator.get("header", "")
        if not isinstance(header, str):
            raise EnvironmentInitError(f"theorem {theorem.name!r}: its header is not a string")
        process = await self._pool.acquire()
        session = LeanReplSession(self, process, theorem, header, statement)
        try:
            await session.start()
        except BaseException:
            await session.close()
            raise
        self._sessions.add(session)
        return session

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for session in list(self._sessions):
            await session.close()
        for process in self._pool.processes:
            process.worker.interrupt_running()
            try:
                await process.worker.call(process.discard)
            finally:
                process.worker.shutdown()

    def _released(self, session: LeanReplSession, process: _ReplProcess) -> None:
        self._sessions.discard(session)
        self._pool.release(process)


class LeanReplSession(SessionBase):
    """One theorem on one leased REPL process.

    ``restarts``, ``crashes`` and ``timeouts`` count what happened to the process during this
    session. The private state is touched only by the process's worker thread.
    """

    def __init__(self, env: LeanReplEnvironment, process: _ReplProcess, theorem: Theorem,
                 header: str, statement: str) -> None:
        self.theorem = theorem
        self.restarts = 0
        self.crashes = 0
        self.timeouts = 0
        self._env = env
        self._process = process
        self._header = header
        self._statement = statement
        self._ids: dict[TacticPath, int] = {}
        self._generation = -1
        self._root: ProofState | None = None
        self._closed = False
        self._li: Any = None

    @property
    def root(self) -> ProofState:
        if self._root is None:
            raise RuntimeError("the session has not been started")
        return self._root

    # ---- the protocol ---------------------------------------------------------------------
    async def start(self) -> None:
        """Start the process if needed, run the header once, and open the theorem."""
        self._root = await self._process.worker.call(self._start_sync)

    async def apply(self, state: ProofState, tactic: str) -> Outcome:
        path = _path_of(state)
        self._check_open()
        return await self._process.worker.call(lambda: self._apply_sync(path, state.key, tactic))

    async def verify(self, tactics: Sequence[str]) -> bool:
        """Compile header + statement + proof as one command; True if no error and no sorry."""
        self._check_open()
        proof = list(tactics)
        return await self._process.worker.call(lambda: self._verify_sync(proof))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        worker = self._process.worker
        worker.interrupt_running()
        try:
            await worker.call(self._release_sync)
        finally:
            self._env._released(self, self._process)

    def _check_open(self) -> None:
        if self._closed:
            raise EnvironmentCrashError(f"the REPL session of {self.theorem.name} is closed")

    # ---- on the process's thread ----------------------------------------------------------
    def _start_sync(self) -> ProofState:
        self._li = import_lean_interact()
        if self._process.worker.consume_interrupt():
            self._process.discard()
        try:
            goal = self._open_theorem()
        except ProverError:
            raise
        except Exception as exc:
            self._process.discard()
            raise EnvironmentInitError(f"the Lean REPL could not open {self.theorem.name}: "
                                       f"{_describe(exc)}") from exc
        return ProofState((goal,), handle=())

    def _open_theorem(self) -> str:
        """Open the statement on the current process; returns the root goal."""
        li, process = self._li, self._process
        process.ensure_started()
        env = process.header_env(self._header)
        response = process.server.run(li.Command(cmd=statement_with_sorry(self._statement),
                                                 env=env), timeout=process.command_timeout_s)
        name = self.theorem.name
        if isinstance(response, li.LeanError):
            raise EnvironmentInitError(f"the REPL rejected the statement of {name}: "
                                       f"{response.message}")
        errors = _errors(response)
        if errors:
            raise EnvironmentInitError(f"the statement of {name} does not elaborate: "
                                       f"{errors[0]}")
        sorries = [s for s in response.sorries if s.proof_state is not None]
        if len(sorries) != 1:
            raise EnvironmentInitError(f"the statement of {name} must leave exactly one goal "
                                       f"(its `sorry`), found {len(sorries)}")
        self._ids = {(): sorries[0].proof_state}
        self._generation = process.generation
        goal: str = sorries[0].goal
        return goal

    def _apply_sync(self, path: TacticPath, key: str, tactic: str) -> Outcome:
        self._check_open()
        if not tactic.strip():
            return TacticError("empty tactic")
        if self._process.worker.consume_interrupt():
            self._process.discard()
        base = self._state_for(path, key)
        if not isinstance(base, int):
            return base
        try:
            response = self._process.server.run(
                self._li.ProofStep(proof_state=base, tactic=tactic),
                timeout=self._env.tactic_timeout_s)
        except Exception as exc:
            return self._failed(exc, f"on tactic {tactic!r}")
        return self._outcome(response, (*path, tactic))

    def _outcome(self, response: Any, path: TacticPath) -> Outcome:
        li = self._li
        if isinstance(response, li.LeanError):
            return TacticError(response.message or "the REPL answered with an empty error")
        errors = _errors(response)
        if errors:  # even with a new proofState and no goals (the REPL's invalid_tactic test)
            return TacticError("\n".join(errors))
        if response.sorries:
            return TacticError("the tactic left a `sorry`: not a proof")
        if not response.goals:
            if response.proof_status == "Completed":
                return Proved()
            return TacticError(f"no goals remain but the REPL does not accept the proof: "
                               f"{response.proof_status}")
        self._ids[path] = response.proof_state
        return StateReached(ProofState(tuple(response.goals), handle=path))

    def _state_for(self, path: TacticPath, key: str) -> int | Outcome:
        while True:
            try:
                return self._rebuild(path, key)
            except _Unrebuildable as exc:
                logger.warning("%s: %s", self.theorem.name, exc)
                return TacticError(str(exc))
            except ProverError:
                raise
            except Exception as exc:
                outcome = self._failed(exc, f"while restarting the REPL and replaying "
                                            f"{len(path)} tactics", replaying=True)
                if outcome is _CANCELLED:
                    return outcome

    def _rebuild(self, path: TacticPath, key: str) -> int:
        process = self._process
        if process.server is None or process.generation != self._generation:
            goal = self._open_theorem()
            self.restarts += 1
            logger.info("%s: REPL restarted (%d so far)", self.theorem.name, self.restarts)
            if self._root is not None and (goal,) != self._root.goals:
                raise EnvironmentCrashError(
                    f"the restarted REPL opens {self.theorem.name} at another goal")
        found = self._ids.get(path)
        if found is not None:
            return found
        known = len(path)
        while path[:known] not in self._ids:
            known -= 1
        outcome: Outcome | None = None
        for index in range(known, len(path)):
            response = process.server.run(
                self._li.ProofStep(proof_state=self._ids[path[:index]], tactic=path[index]),
                timeout=self._env.tactic_timeout_s)
            outcome = self._outcome(response, path[:index + 1])
            if not isinstance(outcome, StateReached):
                raise _Unrebuildable(
                    f"replaying tactic {index + 1} of {len(path)} ({path[index]!r}) after a "
                    f"restart gave {outcome}, not the state the search holds")
        if not isinstance(outcome, StateReached) or outcome.state.key != key:
            raise _Unrebuildable("replaying the path after a restart reached a different state")
        return self._ids[path]

    def _failed(self, exc: Exception, context: str, *, replaying: bool = False) -> Outcome:
        """Discard the process after ``exc`` and say what the caller reports (see leandojo)."""
        interrupted = self._process.worker.consume_interrupt()
        self._process.discard()
        if interrupted:
            return _CANCELLED
        if isinstance(exc, TimeoutError) and not replaying:
            self.timeouts += 1
            return TacticTimeout(f"no answer from the REPL within {self._env.tactic_timeout_s:g}"
                                 " s; the process will be restarted")
        self.crashes += 1
        if self.crashes > self._env.max_restarts:
            raise EnvironmentCrashError(
                f"the Lean REPL crashed {self.crashes} times on {self.theorem.name} "
                f"(max_restarts={self._env.max_restarts}); last {context}: {_describe(exc)}"
            ) from exc
        logger.warning("%s: REPL crashed %s (%s); restarting", self.theorem.name, context,
                       _describe(exc))
        return TacticError(f"the Lean REPL crashed {context}: {_describe(exc)}; the process "
                           "will be restarted")

    def _verify_sync(self, tactics: list[str]) -> bool:
        li, process = self._li, self._process
        if process.worker.consume_interrupt():
            process.discard()
        code = self._header + statement_with_proof(self._statement, tactics)
        try:
            process.ensure_started()
            response = process.server.run(li.Command(cmd=code),
                                          timeout=process.command_timeout_s)
        except ProverError:
            raise
        except Exception as exc:
            process.worker.consume_interrupt()
            process.discard()
            raise EnvironmentCrashError(f"the Lean REPL failed while verifying the proof of "
                                        f"{self.theorem.name}: {_describe(exc)}") from exc
        if isinstance(response, li.LeanError):
            logger.warning("%s: verify: %s", self.theorem.name, response.message)
            return False
        accepted = bool(response.lean_code_is_valid(allow_sorry=False)) and not response.sorries
        if not accepted:
            logger.warning("%s: verify rejected the proof: %s", self.theorem.name,
                           [m.data for m in response.messages])
        return accepted

    def _release_sync(self) -> None:
        process = self._process
        if process.worker.consume_interrupt():
            process.discard()
        process.theorems_served += 1
        limit = self._env.theorems_per_process
        if limit is not None and process.theorems_served >= limit:
            process.discard()  # the REPL never frees proof states: start afresh
            process.theorems_served = 0


_CANCELLED = TacticTimeout("cancelled while Lean was running it; the REPL process was killed "
                           "and will be restarted")


def _path_of(state: ProofState) -> TacticPath:
    path = state.handle
    if not isinstance(path, tuple) or not all(isinstance(t, str) for t in path):
        raise ValueError(f"state {state.key[:80]!r} was not handed out by a REPL session "
                         f"(its handle is {type(path).__name__}, not a tactic path)")
    return path


__all__ = [
    "LeanReplEnvironment",
    "LeanReplSession",
    "LeanServerFactory",
    "ReplServer",
    "ServerFactory",
    "TacticPath",
    "import_lean_interact",
    "statement_with_proof",
    "statement_with_sorry",
]
