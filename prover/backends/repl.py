"""Lean REPL backend: proof search through leanprover-community/repl, driven by lean-interact.

Current provers (DeepSeek-Prover, Kimina, Goedel) talk to the REPL, which works on every recent
Lean and Mathlib, where LeanDojo 4.x stops at v4.12 (LeanDojo#211). ``lean_interact`` is
imported on first use, never by ``import prover``.

A theorem is ``header`` + ``formal_statement`` (its locator, as :func:`prover.theorems.
load_theorems` builds it). The header command runs once per REPL process and its environment
is reused for every theorem on that process; the statement is sent with ``sorry`` as its proof
(a ``sorry`` it already ends with is not doubled), and that sorry's proof state is the root.
Tactics run in tactic mode (``{"tactic": ..., "proofState": n}``), and each answer becomes an
outcome::

    LeanError ("Unknown proof state.", "Lean error: ...")       TacticError
    "Lean error: (deterministic) timeout ... heartbeats"        TacticTimeout; the process is
                                                                kept (see below)
    any error-severity message (even with a new proofState)     TacticError
    a new sorry, or no goals and proofStatus != "Completed"     TacticError (never a proof)
    no goals, "Completed", and the claim check passes           Proved
    no goals, "Completed", the claim check fails                TacticError; the search goes on
    goals                                                       StateReached
    no answer within tactic_timeout_s (lean-interact kills it)  TacticTimeout; restart
    the process died (ConnectionAbortedError, ...), or forgot   TacticError; restart, at most
    its states ("Unknown proof state.": a server that restarts  max_restarts per session, then
    itself, as AutoLeanServer does)                             EnvironmentCrashError (OOM named)

The claim check (:mod:`prover.backends.lean.repl_checks`): the REPL's "Completed" looks at no
axioms, so the tactic path is compiled as the whole theorem in the header's environment and
``#print axioms NAME`` must name only ``allowed_axioms`` (:data:`STANDARD_AXIOMS` by default;
``None``: unchecked). ``verify`` compiles ``header + statement + proof`` in a fresh environment
and checks the same. Lean's own heartbeat limit bounds every tactic at no cost (see
:mod:`prover.backends.lean.repl_process`); ``tactic_timeout_s`` kills what it does not stop.

Sessions lease a process from a pool of ``num_processes`` (a process is not shared while a
session holds it) and drive it from that process's own thread. States carry their tactic path
in ``handle``; after a restart, the theorem is opened again and states are rebuilt lazily by
replaying their paths.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from prover.backends.lean.axioms import STANDARD_AXIOMS, AxiomPolicy, axiom_policy, parse_axioms
from prover.backends.lean.repl_checks import claim_problem, verify_problem
from prover.backends.lean.repl_process import (
    LeanServerFactory,
    LostStates,
    Pool,
    ReplProcess,
    ReplServer,
    ServerFactory,
    describe,
    errors,
    heartbeat_timeout,
    import_lean_interact,
    lost_states,
    positive,
)
from prover.backends.lean.source import (
    declared_theorem_name,
    proof_escape,
    statement_with_proof,
    statement_with_sorry,
    with_header,
)
from prover.backends.lean_layout import split_lean_tactics
from prover.backends.tactic_paths import (
    LEADS_ELSEWHERE,
    TacticPath,
    Unrebuildable,
    path_of,
    rebuild_with_restarts,
)
from prover.backends.worker import WorkerClosedError
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

T = TypeVar("T")


class LeanReplEnvironment:
    """Opens REPL sessions on a pool of Lean REPL processes (see the module docstring).

    - ``project_dir`` / ``lean_version`` / ``repl_config`` / ``memory_limit_mb``: how the
      default :class:`LeanServerFactory` starts processes (``memory_limit_mb`` is a hard limit
      per process; ``None``: none).
    - ``num_processes``: REPL processes, so sessions open at once; others wait for one.
    - ``tactic_timeout_s``: wall-clock limit per tactic, from when it starts running on its
      process (the process is killed and restarted after it); Lean's own heartbeat limit
      usually stops a slow tactic first, at no cost (see the module docstring).
    - ``command_timeout_s``: limit for the header, the statement, the claim check and
      ``verify``.
    - ``max_restarts``: crash recoveries a session may make before EnvironmentCrashError.
    - ``theorems_per_process``: restart a process after this many theorems, since the REPL
      keeps every proof state it made (``None``: never).
    - ``server_factory``: a :data:`ServerFactory` to use instead of the default.
    - ``allowed_axioms``: the axioms a proof may depend on (``#print axioms``), checked when a
      step claims a proof and in ``verify``; by default :data:`STANDARD_AXIOMS`. To count
      ``native_decide`` proofs, add ``"Lean.ofReduceBool"`` (and ``"Lean.trustCompiler"`` on
      recent Lean); ``None`` accepts the REPL's "Completed" unchecked. ``sorryAx`` is never
      allowed.
    """

    def __init__(self, project_dir: str | Path | None = None, *, lean_version: str | None = None,
                 repl_config: Any = None, num_processes: int = 1, tactic_timeout_s: float = 60.0,
                 command_timeout_s: float = 600.0, memory_limit_mb: int | None = None,
                 max_restarts: int = 5, theorems_per_process: int | None = 16,
                 server_factory: ServerFactory | None = None,
                 allowed_axioms: Iterable[str] | None = STANDARD_AXIOMS) -> None:
        owner = "LeanReplEnvironment"
        positive(owner, "num_processes", num_processes, integer=True)
        positive(owner, "tactic_timeout_s", tactic_timeout_s)
        positive(owner, "command_timeout_s", command_timeout_s)
        positive(owner, "memory_limit_mb", memory_limit_mb, integer=True, optional=True)
        positive(owner, "theorems_per_process", theorems_per_process, integer=True,
                 optional=True)
        if isinstance(max_restarts, bool) or not isinstance(max_restarts, int) \
                or max_restarts < 0:
            raise ConfigError(f"LeanReplEnvironment.max_restarts must be an integer >= 0, "
                              f"got {max_restarts!r}")
        self.allowed_axioms: AxiomPolicy = axiom_policy(allowed_axioms, "LeanReplEnvironment")
        self.tactic_timeout_s = float(tactic_timeout_s)
        self.command_timeout_s = float(command_timeout_s)
        self.max_restarts = max_restarts
        self.theorems_per_process = theorems_per_process
        self.server_factory: ServerFactory = server_factory or LeanServerFactory(
            project_dir, lean_version=lean_version, repl_config=repl_config,
            memory_limit_mb=memory_limit_mb)
        self._pool = Pool([ReplProcess(i, self.server_factory, self.command_timeout_s)
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
        if self._closed:  # closed while this open waited for the process
            self._pool.release(process)
            raise EnvironmentInitError("the LeanReplEnvironment is closed")
        session = LeanReplSession(self, process, theorem, header, statement)
        try:
            await session.start()
            if self._closed:  # closed while the theorem was being opened
                raise EnvironmentInitError("the LeanReplEnvironment was closed while "
                                           f"{theorem.name} was being opened")
        except BaseException:
            await session.close()
            raise
        self._sessions.add(session)
        return session

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.close()  # opens waiting for a process fail now instead of waiting forever
        for session in list(self._sessions):
            await session.close()
        for process in self._pool.processes:
            process.worker.interrupt_running()
            try:
                await process.worker.call(process.discard)
            finally:
                process.worker.shutdown()

    def _released(self, session: LeanReplSession, process: ReplProcess) -> None:
        self._sessions.discard(session)
        self._pool.release(process)


class LeanReplSession(SessionBase):
    """One theorem on one leased REPL process.

    ``restarts``, ``crashes`` and ``timeouts`` count what happened to the process during this
    session; ``heartbeat_timeouts`` counts tactics Lean stopped itself (no restart). The private
    state is touched only by the process's worker thread.
    """

    def __init__(self, env: LeanReplEnvironment, process: ReplProcess, theorem: Theorem,
                 header: str, statement: str) -> None:
        self.theorem = theorem
        self.restarts = 0
        self.crashes = 0
        self.timeouts = 0
        self.heartbeat_timeouts = 0
        self._env = env
        self._process = process
        self._header = header
        self._statement = statement
        self._ids: dict[TacticPath, tuple[int, str]] = {}  # path -> (REPL proofState, key)
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
        try:
            self._root = await self._process.worker.call(self._start_sync)
        except WorkerClosedError as exc:
            raise EnvironmentInitError(f"the LeanReplEnvironment was closed while "
                                       f"{self.theorem.name} was being opened") from exc

    async def apply(self, state: ProofState, tactic: str) -> Outcome:
        path = path_of(state, "REPL")
        self._check_open()
        return await self._call(lambda: self._apply_sync(path, state.key, tactic))

    def split_tactics(self, text: str) -> list[str]:
        return split_lean_tactics(text)

    async def verify(self, tactics: Sequence[str]) -> bool:
        """Compile header + statement + proof as one command; True if no error and no sorry,
        and ``#print axioms`` then names only ``allowed_axioms`` (see the module docstring)."""
        self._check_open()
        proof = list(tactics)
        return await self._call(lambda: self._verify_sync(proof))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        worker = self._process.worker
        worker.interrupt_running()
        try:
            await worker.call(self._release_sync)
        except WorkerClosedError:  # the environment closed the process already
            pass
        finally:
            self._env._released(self, self._process)

    async def _call(self, fn: Callable[[], T]) -> T:
        try:
            return await self._process.worker.call(fn)
        except WorkerClosedError as exc:  # the environment was closed under this session
            raise EnvironmentCrashError(f"the REPL session of {self.theorem.name} is closed "
                                        "(its environment was closed)") from exc

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
                                       f"{describe(exc)}") from exc
        return ProofState((goal,), handle=())

    def _open_theorem(self) -> str:
        """Open the statement on the current process; returns the root goal."""
        li, process = self._li, self._process
        name = self.theorem.name
        process.ensure_started()
        for attempt in range(2):
            env = process.header_env(self._header, name)
            response = process.server.run(li.Command(cmd=statement_with_sorry(self._statement),
                                                     env=env), timeout=process.command_timeout_s)
            if attempt == 0 and env is not None and lost_states(response, li):
                process.envs.pop(self._header, None)  # the server restarted itself: run it again
                continue
            break
        if isinstance(response, li.LeanError):
            raise EnvironmentInitError(f"the REPL rejected the statement of {name}: "
                                       f"{response.message}")
        problems = errors(response)
        if problems:
            raise EnvironmentInitError(f"the statement of {name} does not elaborate: "
                                       f"{problems[0]}")
        sorries = [s for s in response.sorries if s.proof_state is not None]
        if len(sorries) != 1:
            raise EnvironmentInitError(f"the statement of {name} must leave exactly one goal "
                                       f"(its `sorry`), found {len(sorries)}")
        goal: str = sorries[0].goal
        self._ids = {(): (sorries[0].proof_state, ProofState((goal,)).key)}
        self._generation = process.generation
        return goal

    def _apply_sync(self, path: TacticPath, key: str, tactic: str) -> Outcome:
        self._check_open()
        if not tactic.strip():
            return TacticError("empty tactic")
        worker = self._process.worker
        if worker.consume_interrupt():
            self._process.discard()
        # A restart (the header's imports, then the replay) may outlast the caller's timeout:
        # a cancellation then lets it finish rather than killing it to start it over.
        with worker.shielded():
            base = self._state_for(path, key)
        if not isinstance(base, int):
            return base
        if worker.cancelled():
            return _ABANDONED
        try:
            response = self._process.server.run(
                self._li.ProofStep(proof_state=base, tactic=tactic),
                timeout=self._env.tactic_timeout_s)
        except Exception as exc:
            return self._failed(exc, f"on tactic {tactic!r}")
        if lost_states(response, self._li):
            return self._failed(LostStates(response.message), f"on tactic {tactic!r}")
        if heartbeat_timeout(response, self._li):
            self.heartbeat_timeouts += 1
            return TacticTimeout(f"Lean stopped the tactic at its heartbeat limit (the process "
                                 f"is kept): {response.message}")
        outcome = self._outcome(response, (*path, tactic))
        if isinstance(outcome, Proved):
            return self._claimed((*path, tactic))
        return outcome

    def _claimed(self, path: TacticPath) -> Outcome:
        """Proved if the proof ``path`` claims passes the claim check (module docstring), else
        the TacticError that says why."""
        process = self._process
        try:
            problem = claim_problem(self._run_command, self._li,
                                    process.header_env(self._header, self.theorem.name),
                                    self._statement, path, self._env.allowed_axioms)
        except ProverError:
            raise
        except Exception as exc:
            return self._failed(exc, "while checking the proof's axioms")
        if problem is None:
            return Proved()
        logger.info("%s: a step claims a proof that does not count: %s", self.theorem.name,
                    problem)
        return TacticError(f"the REPL reports the proof complete, but it does not count: "
                           f"{problem}")

    def _run_command(self, request: Any) -> Any:
        return self._process.server.run(request, timeout=self._process.command_timeout_s)

    def _outcome(self, response: Any, path: TacticPath) -> Outcome:
        li = self._li
        if isinstance(response, li.LeanError):
            return TacticError(response.message or "the REPL answered with an empty error")
        problems = errors(response)
        if problems:  # even with a new proofState and no goals (the REPL's invalid_tactic test)
            return TacticError("\n".join(problems))
        if response.sorries:
            return TacticError("the tactic left a `sorry`: not a proof")
        if not response.goals:
            if response.proof_status == "Completed":
                return Proved()
            return TacticError(f"no goals remain but the REPL does not accept the proof: "
                               f"{response.proof_status}")
        state = ProofState(tuple(response.goals), handle=path)
        self._ids[path] = (response.proof_state, state.key)
        return StateReached(state)

    def _state_for(self, path: TacticPath, key: str) -> int | Outcome:
        """The current REPL state for ``path`` (restarting and replaying as needed), or the
        Outcome to report when that is impossible."""
        return rebuild_with_restarts(
            lambda: self._rebuild(path, key),
            lambda exc: self._failed(exc, f"while restarting the REPL and replaying {len(path)} "
                                          "tactics", replaying=True),
            _CANCELLED, self.theorem.name, logger)

    def _rebuild(self, path: TacticPath, key: str) -> int:
        process = self._process
        if process.server is None or process.generation != self._generation:
            goal = self._open_theorem()
            self.restarts += 1
            logger.info("%s: REPL restarted (%d so far)", self.theorem.name, self.restarts)
            if self._root is not None and (goal,) != self._root.goals:
                raise EnvironmentCrashError(
                    f"the restarted REPL opens {self.theorem.name} at another goal")
        known = len(path)
        while path[:known] not in self._ids:
            known -= 1
        for index in range(known, len(path)):
            response = process.server.run(
                self._li.ProofStep(proof_state=self._ids[path[:index]][0], tactic=path[index]),
                timeout=self._env.tactic_timeout_s)
            if lost_states(response, self._li):
                raise LostStates(response.message)
            outcome = self._outcome(response, path[:index + 1])
            if not isinstance(outcome, StateReached):
                raise Unrebuildable(
                    f"replaying tactic {index + 1} of {len(path)} ({path[index]!r}) after a "
                    f"restart gave {outcome}, not the state the search holds")
        proof_state, reached = self._ids[path]
        if reached != key:
            raise Unrebuildable(LEADS_ELSEWHERE)
        return proof_state

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
                f"(max_restarts={self._env.max_restarts}); last {context}: {describe(exc)}"
            ) from exc
        logger.warning("%s: REPL crashed %s (%s); restarting", self.theorem.name, context,
                       describe(exc))
        return TacticError(f"the Lean REPL crashed {context}: {describe(exc)}; the process "
                           "will be restarted")

    def _verify_sync(self, tactics: list[str]) -> bool:
        process, name = self._process, self.theorem.name
        if process.worker.consume_interrupt():
            process.discard()
        try:
            process.ensure_started()
            problem = verify_problem(self._run_command, self._li, self._header, self._statement,
                                     tactics, self._env.allowed_axioms)
        except ProverError:
            raise
        except Exception as exc:
            process.worker.consume_interrupt()
            process.discard()
            raise EnvironmentCrashError(f"the Lean REPL failed while verifying the proof of "
                                        f"{name}: {describe(exc)}") from exc
        if problem is not None:
            logger.warning("%s: verify refused the proof: %s", name, problem)
            return False
        return True

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
_ABANDONED = TacticTimeout("cancelled while the REPL process was being restarted; the tactic "
                           "was not run")


__all__ = ["STANDARD_AXIOMS", "LeanReplEnvironment", "LeanReplSession", "LeanServerFactory",
           "ReplServer", "ServerFactory", "TacticPath", "declared_theorem_name",
           "import_lean_interact", "parse_axioms", "proof_escape", "statement_with_proof",
           "statement_with_sorry", "with_header"]
