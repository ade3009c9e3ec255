"""LeanDojo backend: proof search over ``lean_dojo.Dojo`` in a repository LeanDojo has traced.

``lean_dojo`` is imported on first use, never by ``import prover``: its import runs
``git --version``, removes the host program's loguru sinks, creates ``CACHE_DIR`` and imports ray.
LeanDojo 4.x cannot run tactics in repositories on Lean >= v4.12 (LeanDojo#211): the default
factory refuses them before tracing (:mod:`prover.backends.lean.dojo_support`); use
:class:`~prover.backends.repl.LeanReplEnvironment`, or an older copy of the problems, for those.

What LeanDojo answers, and what a session makes of it::

    TacticState               StateReached (goals split as LeanDojo splits them, key = pp);
                              one with no ``⊢`` is a TacticError, never a proved state
    ProofFinished             Proved, if the claim check passes; else TacticError and the
                              search goes on
    LeanError, ProofGivenUp   TacticError (a given-up proof is never a proof)
    AssertionError, Lean      TacticError: LeanDojo could not parse the state Lean printed
    still alive               (TacticState asserts its goal count); the Dojo is kept
    DojoTacticTimeoutError    TacticTimeout; the Dojo is killed and restarted (LeanDojo#218)
    DojoCrashError, other     TacticError; restart, at most ``max_restarts`` times per
                              session, then EnvironmentCrashError with the cause (OOM named)
    DojoInitError, failed     EnvironmentInitError whose message says what to do
    tracing at open

Each session's Dojo lives on its own thread (:class:`~prover.backends.worker.ThreadWorker`):
LeanDojo is synchronous, and a Dojo is driven by the thread that entered it. Every
:class:`~prover.types.ProofState` a session hands out carries its tactic path from the root in
``handle``; after a restart the states the search still holds are rebuilt lazily, the first
time each is used, by replaying its path from the longest prefix already rebuilt.

The claim check (:mod:`prover.backends.lean.dojo_claims`): LeanDojo's ``ProofFinished`` looks at
no axioms, so the proof is compiled again in a command-mode Dojo at the theorem's line (started
at the first claim, kept for the session) and ``#print axioms`` must name only
``allowed_axioms`` (:data:`~prover.backends.lean.axioms.STANDARD_AXIOMS` by default; ``None``:
unchecked). ``verify`` replays the proof in a fresh Dojo. Tactics are bounded by ``timeout_s``
only: the file LeanDojo generates sets ``maxHeartbeats 0`` around the theorem, and a
tactic-level ``set_option maxHeartbeats`` does not change the limit Lean checks (see
:mod:`prover.backends.lean.repl_process`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

from prover.backends.lean.axioms import STANDARD_AXIOMS, AxiomPolicy, axiom_policy
from prover.backends.lean.dojo_claims import ClaimChecker
from prover.backends.lean.dojo_support import (
    CommandDojoFactory,
    DojoFactory,
    LeanDojoFactory,
    describe,
    import_lean_dojo,
    init_error,
    leandojo_locator,
    normalize_pp,
    quiet_exit,
    split_goals,
)
from prover.backends.lean_layout import split_lean_tactics
from prover.backends.tactic_paths import (
    LEADS_ELSEWHERE,
    TacticPath,
    Unrebuildable,
    path_of,
    rebuild_with_restarts,
)
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



_CANCELLED = TacticTimeout("cancelled while Lean was running it; the Dojo was killed and will "
                           "be restarted")
_ABANDONED = TacticTimeout("cancelled while the Dojo was being restarted; the tactic was not run")


class LeanDojoEnvironment:
    """Opens one LeanDojo session per theorem (see the module docstring).

    - ``timeout_s``: LeanDojo's ``Dojo(timeout=...)``, which bounds each read from Lean,
      loading the file up to the theorem included (600 s, LeanDojo's default).
    - ``tactic_timeout_s``: the bound on each tactic once the Dojo is up (the timeout of the
      Dojo's pexpect process, which its reads use); ``None``: ``timeout_s``.
    - ``max_restarts``: crash recoveries a session may make before it raises
      EnvironmentCrashError. Restarts after timeouts are not counted: they are expected.
    - ``additional_imports``, ``build_deps``: passed to ``Dojo`` by the default factory.
    - ``dojo_factory``: a :data:`DojoFactory` to use instead of :class:`LeanDojoFactory`.
    - ``allowed_axioms``: the axioms a claimed proof may depend on (module docstring);
      ``None``: not checked.
    - ``command_factory``: the :data:`CommandDojoFactory` of the claim check; by default the
      default factory's :meth:`LeanDojoFactory.command_dojo` (with another ``dojo_factory``
      and no ``command_factory``, a claim cannot be checked and is refused).
    """

    def __init__(self, *, timeout_s: int = 600, tactic_timeout_s: float | None = None,
                 max_restarts: int = 5, additional_imports: Sequence[str] = (),
                 build_deps: bool = True, dojo_factory: DojoFactory | None = None,
                 allowed_axioms: Iterable[str] | None = STANDARD_AXIOMS,
                 command_factory: CommandDojoFactory | None = None) -> None:
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, int) or timeout_s < 1:
            raise ConfigError(f"LeanDojoEnvironment.timeout_s must be an integer >= 1 "
                              f"(LeanDojo takes whole seconds), got {timeout_s!r}")
        if isinstance(max_restarts, bool) or not isinstance(max_restarts, int) \
                or max_restarts < 0:
            raise ConfigError(f"LeanDojoEnvironment.max_restarts must be an integer >= 0, "
                              f"got {max_restarts!r}")
        if tactic_timeout_s is not None and (isinstance(tactic_timeout_s, bool) or not
                                             isinstance(tactic_timeout_s, (int, float))
                                             or not tactic_timeout_s > 0):
            raise ConfigError(f"LeanDojoEnvironment.tactic_timeout_s must be a number > 0 or "
                              f"None, got {tactic_timeout_s!r}")
        self.timeout_s = timeout_s
        self.tactic_timeout_s = tactic_timeout_s
        self.max_restarts = max_restarts
        self.allowed_axioms: AxiomPolicy = axiom_policy(allowed_axioms, "LeanDojoEnvironment")
        default = LeanDojoFactory(additional_imports, build_deps)
        self.dojo_factory: DojoFactory = dojo_factory or default
        self.command_factory: CommandDojoFactory | None = command_factory or (
            default.command_dojo if dojo_factory is None else None)
        # Dojo.__enter__ and LeanGitRepo chdir the whole process: one at a time.
        self._init_lock = threading.Lock()
        self._sessions: set[LeanDojoSession] = set()

    async def open(self, theorem: Theorem) -> LeanDojoSession:
        session = LeanDojoSession(theorem, self.dojo_factory, timeout_s=self.timeout_s,
                                  max_restarts=self.max_restarts, init_lock=self._init_lock,
                                  on_close=self._sessions.discard,
                                  tactic_timeout_s=self.tactic_timeout_s,
                                  allowed_axioms=self.allowed_axioms,
                                  command_factory=self.command_factory)
        try:
            await session.start()
        except BaseException:
            await session.close()
            raise
        self._sessions.add(session)
        return session

    async def close(self) -> None:
        for session in list(self._sessions):
            await session.close()


class LeanDojoSession(SessionBase):
    """One theorem in one Dojo, driven from the session's own thread.

    ``restarts``, ``crashes`` and ``timeouts`` count what happened to the Dojo so far.
    Every attribute below the public counters is touched only by the worker thread.
    """

    def __init__(self, theorem: Theorem, factory: DojoFactory, *, timeout_s: int,
                 max_restarts: int, init_lock: threading.Lock,
                 on_close: Callable[[LeanDojoSession], None] | None = None,
                 tactic_timeout_s: float | None = None,
                 allowed_axioms: AxiomPolicy = STANDARD_AXIOMS,
                 command_factory: CommandDojoFactory | None = None) -> None:
        self.theorem = theorem
        self.restarts = 0
        self.crashes = 0
        self.timeouts = 0
        self._factory = factory
        self._timeout_s = timeout_s
        self._tactic_timeout_s = tactic_timeout_s
        self._allowed = allowed_axioms
        self._checker = (ClaimChecker(command_factory, theorem, timeout_s, init_lock)
                         if command_factory is not None else None)
        self._max_restarts = max_restarts
        self._init_lock = init_lock
        self._on_close = on_close
        self._worker = ThreadWorker(f"dojo-{theorem.name}"[:48], self._kill_process)
        self._ld: Any = None
        self._cm: Any = None
        self._dojo: Any = None
        self._entering: Any = None  # the Dojo inside __enter__, so that close can kill it
        self._states: dict[TacticPath, Any] = {}
        self._root: ProofState | None = None
        self._closed = False

    @property
    def root(self) -> ProofState:
        if self._root is None:
            raise RuntimeError("the session has not been started")
        return self._root

    # ---- the protocol ---------------------------------------------------------------------
    async def start(self) -> None:
        """Enter the Dojo (tracing the repository first if LeanDojo has not traced it)."""
        self._root = await self._worker.call(self._start_sync)

    async def apply(self, state: ProofState, tactic: str) -> Outcome:
        path = path_of(state, "LeanDojo")
        if self._closed:
            raise EnvironmentCrashError(f"the LeanDojo session of {self.theorem.name} is closed")
        return await self._worker.call(lambda: self._apply_sync(path, state.key, tactic))

    def split_tactics(self, text: str) -> list[str]:
        return split_lean_tactics(text)

    async def verify(self, tactics: Sequence[str]) -> bool:
        """Replay ``tactics`` from the start in a fresh Dojo; True only if they end the proof."""
        if self._closed:
            raise EnvironmentCrashError(f"the LeanDojo session of {self.theorem.name} is closed")
        proof = list(tactics)
        return await self._worker.call(lambda: self._verify_sync(proof))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._worker.interrupt_running()
        try:
            await self._worker.call(self._discard)
        finally:
            self._worker.shutdown()
            if self._on_close is not None:
                self._on_close(self)

    # ---- on the worker thread -------------------------------------------------------------
    def _start_sync(self) -> ProofState:
        self._ld = import_lean_dojo()
        try:
            init = self._enter()
        except ProverError:
            raise
        except Exception as exc:
            raise init_error(self.theorem, exc) from exc
        root = self._as_state(init, ())
        if not root.goals:
            self._discard()
            raise EnvironmentInitError(
                f"LeanDojo's initial state of {self.theorem.name} has no goal: {init.pp!r}")
        return root

    def _enter(self) -> Any:
        with self._init_lock:
            cm = self._factory(self.theorem, self._timeout_s)
            self._entering = cm
            try:
                dojo, init = cm.__enter__()
            except BaseException:
                quiet_exit(cm)
                raise
            finally:
                self._entering = None
        if not isinstance(init, self._ld.TacticState):
            quiet_exit(cm)
            raise EnvironmentInitError(
                f"LeanDojo gave a {type(init).__name__} as the initial state of "
                f"{self.theorem.name}, not a TacticState: the entry must be a theorem")
        self._cm, self._dojo, self._states = cm, dojo, {(): init}
        self._bound_tactics(dojo)
        return init

    def _bound_tactics(self, dojo: Any) -> None:
        """Bound each later read by ``tactic_timeout_s``: Dojo reads with pexpect's ``expect``
        and no timeout of its own, so the process's ``timeout`` (``timeout_s``, which also
        bounded loading the file) applies."""
        proc: Any = getattr(dojo, "proc", None)
        if self._tactic_timeout_s is not None and hasattr(proc, "timeout"):
            proc.timeout = self._tactic_timeout_s

    def _discard(self) -> None:
        cm, self._cm, self._dojo, self._states = self._cm, None, None, {}
        if cm is not None:
            quiet_exit(cm)
        if self._checker is not None:
            self._checker.close()

    def _kill_process(self) -> bool:
        """Called from the event loop thread: kill the Lean process under a running call
        (that of a Dojo being entered too). False if there was none to kill (LeanDojo tracing,
        or nothing started yet): the running call then goes on and the Dojo stays usable."""
        dojo = self._dojo if self._dojo is not None else self._entering
        checker = self._checker.dojo if self._checker is not None else None
        pids = [pid for d in (dojo, checker)
                if isinstance(pid := getattr(getattr(d, "proc", None), "pid", None), int)]
        if not pids or self._ld is None:
            return False
        from lean_dojo.interaction.dojo import kill_descendants

        for pid in pids:
            kill_descendants(pid)
        return True

    def _dojo_alive(self) -> bool:
        """Whether the Dojo's Lean process still runs (True when it cannot be told)."""
        isalive = getattr(getattr(self._dojo, "proc", None), "isalive", None)
        if not callable(isalive):
            return True
        try:
            return bool(isalive())
        except Exception:
            return False

    def _apply_sync(self, path: TacticPath, key: str, tactic: str) -> Outcome:
        if self._closed:
            raise EnvironmentCrashError(f"the LeanDojo session of {self.theorem.name} is closed")
        if self._worker.consume_interrupt():
            self._discard()
        # A restart (loading the file up to the theorem) may outlast the caller's timeout:
        # a cancellation then lets it finish rather than killing it to start it over.
        with self._worker.shielded():
            base = self._state_for(path, key)
        if not isinstance(base, self._ld.TacticState):
            return cast(Outcome, base)
        if self._worker.cancelled():
            return _ABANDONED
        try:
            result = self._dojo.run_tac(base, tactic)
        except AssertionError as exc:
            if self._dojo_alive():
                # TacticState asserts that its goals (pieces with one ⊢) are as many as the ⊢
                # (a hypothesis whose type prints a ⊢, say). Lean answered and the Dojo is in
                # step: only this state cannot be represented.
                logger.warning("%s: LeanDojo could not parse the state after %r: %s",
                               self.theorem.name, tactic, exc)
                return TacticError(f"LeanDojo could not parse the state Lean printed after "
                                   f"this tactic (AssertionError: {exc}); the state is skipped")
            return self._failed(exc, f"on tactic {tactic!r}")
        except Exception as exc:
            return self._failed(exc, f"on tactic {tactic!r}")
        outcome = self._outcome(result, (*path, tactic))
        if isinstance(outcome, Proved) and self._allowed is not None:
            return self._claimed((*path, tactic), outcome, self._allowed)
        return outcome

    def _claimed(self, path: TacticPath, proved: Proved, allowed: frozenset[str]) -> Outcome:
        """``proved`` if the proof ``path`` passes the claim check (module docstring), else the
        TacticError that says why; the search goes on either way."""
        if self._checker is None:
            return TacticError("the proof's axioms cannot be checked: this LeanDojoEnvironment "
                               "has no command_factory (allowed_axioms=None accepts proofs "
                               "unchecked)")
        try:
            problem = self._checker.problem(self._ld, path, allowed)
        except ProverError:
            raise
        except Exception as exc:
            logger.warning("%s: the claim check failed: %s", self.theorem.name, describe(exc))
            return TacticError(f"the proof's axioms could not be checked ({describe(exc)}): "
                               "not counted")
        if problem is None:
            return proved
        logger.info("%s: a step claims a proof that does not count: %s", self.theorem.name,
                    problem)
        return TacticError(f"LeanDojo reports the proof finished, but it does not count: "
                           f"{problem}")

    def _state_for(self, path: TacticPath, key: str) -> Any:
        """The current Dojo state for ``path`` (restarting and replaying as needed), or the
        Outcome to report when that is impossible."""
        return rebuild_with_restarts(
            lambda: self._rebuild(path, key),
            lambda exc: self._failed(exc, f"while restarting the Dojo and replaying {len(path)} "
                                          "tactics", replaying=True),
            _CANCELLED, self.theorem.name, logger)

    def _rebuild(self, path: TacticPath, key: str) -> Any:
        if self._dojo is None:
            init = self._enter()
            self.restarts += 1
            logger.info("%s: Dojo restarted (%d so far)", self.theorem.name, self.restarts)
            if self._root is not None and normalize_pp(init.pp) != self._root.key:
                raise EnvironmentCrashError(
                    f"the restarted Dojo of {self.theorem.name} starts from another state")
        state = self._states.get(path)
        if state is None:
            known = len(path)
            while path[:known] not in self._states:
                known -= 1
            state = self._states[path[:known]]
            for index in range(known, len(path)):
                result = self._dojo.run_tac(state, path[index])
                if not isinstance(result, self._ld.TacticState):
                    raise Unrebuildable(
                        f"replaying tactic {index + 1} of {len(path)} ({path[index]!r}) after a "
                        f"restart gave {type(result).__name__}, not the state the search holds")
                state = self._states[path[:index + 1]] = result
        if normalize_pp(state.pp) != key:
            raise Unrebuildable(LEADS_ELSEWHERE)
        return state

    def _failed(self, exc: Exception, context: str, *, replaying: bool = False) -> Outcome:
        """Discard the Dojo after ``exc`` and say what the caller reports.

        Crashes are counted against ``max_restarts``; so is any failure while replaying (a path
        that times out on every replay must not restart the Dojo forever).
        """
        interrupted = self._worker.consume_interrupt()
        proc = getattr(self._dojo, "proc", None)
        self._discard()
        if interrupted:
            return _CANCELLED
        if isinstance(exc, self._ld.DojoTacticTimeoutError) and not replaying:
            self.timeouts += 1
            limit = self._tactic_timeout_s or self._timeout_s
            return TacticTimeout(f"no answer from Lean within {limit:g} s; the Dojo "
                                 "will be restarted (LeanDojo#218)")
        self.crashes += 1
        what = describe(exc, proc)
        if self.crashes > self._max_restarts:
            raise EnvironmentCrashError(
                f"LeanDojo crashed {self.crashes} times on {self.theorem.name} "
                f"(max_restarts={self._max_restarts}); last {context}: {what}"
            ) from exc
        logger.warning("%s: Dojo crashed %s (%s); restarting", self.theorem.name, context, what)
        return TacticError(f"Lean crashed {context}: {what}; the Dojo will be restarted")

    def _outcome(self, result: Any, path: TacticPath) -> Outcome:
        ld = self._ld
        if isinstance(result, ld.TacticState):
            state = self._as_state(result, path)
            if not state.goals:  # a state with no goal must never pass for a proof (0 goals)
                return TacticError(f"LeanDojo answered a state with no goal but not "
                                   f"ProofFinished: {result.pp[:200]!r}")
            self._states[path] = result
            return StateReached(state)
        if isinstance(result, ld.ProofFinished):
            return Proved(result.message or "")
        if isinstance(result, ld.LeanError):
            return TacticError(result.error)
        if isinstance(result, ld.ProofGivenUp):
            return TacticError("LeanDojo reports the proof was given up (it contains `sorry`): "
                               "not a proof")
        raise EnvironmentCrashError(f"LeanDojo answered {result!r}, which is not a tactic result")

    @staticmethod
    def _as_state(state: Any, path: TacticPath) -> ProofState:
        pp = normalize_pp(state.pp)
        return ProofState(split_goals(pp), key=pp, handle=path)

    def _verify_sync(self, tactics: list[str]) -> bool:
        self._worker.consume_interrupt()
        self._discard()  # the search is over: free its Lean process before starting another
        try:
            init = self._enter()
        except ProverError:
            raise
        except Exception as exc:
            self._discard()
            raise EnvironmentCrashError(f"could not start a fresh Dojo to verify the proof of "
                                        f"{self.theorem.name}: {describe(exc)}") from exc
        try:
            state = init
            for index, tactic in enumerate(tactics):
                result = self._dojo.run_tac(state, tactic)
                if isinstance(result, self._ld.ProofFinished):
                    return index == len(tactics) - 1
                if not isinstance(result, self._ld.TacticState):
                    logger.warning("%s: verify rejected tactic %d %r: %r", self.theorem.name,
                                   index + 1, tactic, result)
                    return False
                state = result
            return False
        except Exception as exc:
            raise EnvironmentCrashError(f"LeanDojo failed while verifying the proof of "
                                        f"{self.theorem.name}: {describe(exc)}") from exc
        finally:
            self._discard()


__all__ = [
    "DojoFactory",
    "LeanDojoEnvironment",
    "LeanDojoFactory",
    "LeanDojoSession",
    "TacticPath",
    "import_lean_dojo",
    "leandojo_locator",
    "normalize_pp",
    "split_goals",
]
