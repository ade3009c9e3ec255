"""LeanDojo backend: proof search over ``lean_dojo.Dojo`` in a repository LeanDojo has traced.

``lean_dojo`` is imported on first use, never by ``import prover``: its import runs
``git --version``, removes the host program's loguru sinks, creates ``CACHE_DIR`` and imports ray.
LeanDojo 4.x cannot run tactics in repositories on Lean >= v4.12 (LeanDojo#211): use
:class:`~prover.backends.repl.LeanReplEnvironment` for those.

What LeanDojo answers, and what a session makes of it::

    TacticState               StateReached (goals split as LeanDojo splits them, key = pp);
                              one with no ``⊢`` is a TacticError, never a proved state
    ProofFinished             Proved
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
"""

from __future__ import annotations

import importlib
import logging
import re
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

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
from prover.theorems import LEANDOJO_FIELDS
from prover.traces import split_lean_goals
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


DojoFactory = Callable[[Theorem, int], AbstractContextManager[Any]]
"""Makes the Dojo of a theorem; called with the theorem and ``timeout_s``, on the session's
thread. It returns a context manager whose ``__enter__`` gives ``(dojo, initial TacticState)``
and whose ``__exit__`` kills the Lean process, as ``lean_dojo.Dojo`` does; ``dojo.run_tac`` must
answer with lean_dojo's result classes and raise its exceptions. :class:`LeanDojoFactory` makes
real Dojos; tests pass a scripted stand-in."""


_GOALS_HEADER = re.compile(r"\d+ goals?\n")


def normalize_pp(pp: str) -> str:
    """The state text without a leading ``N goals`` line (``Dojo._post_process`` strips it
    from what Lean prints; a TacticState made elsewhere may still carry it)."""
    match = _GOALS_HEADER.match(pp)
    return pp[match.end():] if match else pp


def split_goals(pp: str) -> tuple[str, ...]:
    """The goals of a pretty-printed state by LeanDojo's own rule (``parse_goals``), one per
    ``⊢``: :func:`prover.traces.split_lean_goals`, shared with the trace converters."""
    return split_lean_goals(normalize_pp(pp))


def import_lean_dojo() -> Any:
    """Import ``lean_dojo``, turning its import-time failures into EnvironmentInitError."""
    try:
        return importlib.import_module("lean_dojo")
    except ImportError as exc:
        raise EnvironmentInitError(
            f"lean_dojo cannot be imported ({exc}): install it with `pip install lean-dojo`"
        ) from exc
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        raise EnvironmentInitError(
            f"importing lean_dojo failed ({exc}): it runs `git --version`, so git >= 2.25 must "
            "be on PATH") from exc
    except AssertionError as exc:
        raise EnvironmentInitError(
            f"lean_dojo refused to start ({exc or 'assertion failed'}): TACTIC_MEMORY_LIMIT must "
            "look like '32g' and git must be >= 2.25") from exc


def leandojo_locator(theorem: Theorem) -> dict[str, str]:
    """The theorem's ``leandojo`` locator (url, commit, file_path, full_name), validated."""
    raw = theorem.locator.get("leandojo")
    if not isinstance(raw, Mapping):
        raise EnvironmentInitError(
            f"theorem {theorem.name!r} has no 'leandojo' locator: load it with "
            "prover.theorems.load_theorems from a JSONL whose records carry "
            "leandojo = {url, commit, file_path, full_name}")
    locator: dict[str, str] = {}
    for name in LEANDOJO_FIELDS:
        value = raw.get(name)
        if not isinstance(value, str) or not value:
            raise EnvironmentInitError(
                f"theorem {theorem.name!r}: locator field 'leandojo.{name}' is missing or empty")
        locator[name] = value
    return locator


class LeanDojoFactory:
    """Makes real ``lean_dojo.Dojo`` objects (the default :data:`DojoFactory`).

    One ``LeanGitRepo`` is kept per (url, commit): making one queries GitHub, whose
    unauthenticated rate limit is 60 requests an hour (set ``GITHUB_ACCESS_TOKEN`` for more).
    """

    def __init__(self, additional_imports: Sequence[str] = (), build_deps: bool = True) -> None:
        self.additional_imports = list(additional_imports)
        self.build_deps = build_deps
        self._repos: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def __call__(self, theorem: Theorem, timeout_s: int) -> Any:
        locator = leandojo_locator(theorem)
        ld = import_lean_dojo()
        key = (locator["url"], locator["commit"])
        with self._lock:
            repo = self._repos.get(key)
            if repo is None:
                repo = self._repos[key] = ld.LeanGitRepo(*key)
        entry = ld.Theorem(repo, Path(locator["file_path"]), locator["full_name"])
        return ld.Dojo(entry, timeout=timeout_s, additional_imports=self.additional_imports,
                       build_deps=self.build_deps)


def _init_advice(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, subprocess.CalledProcessError):
        return (f"a build step failed while LeanDojo traced the repository (`{exc.cmd}` exited "
                f"with {exc.returncode}): check that the repository builds with `lake build` at "
                "that commit (run `lake exe cache get` first in Mathlib projects), that its Lean "
                "version is below v4.12 (LeanDojo#211), and that CACHE_DIR has room; set "
                "DISABLE_REMOTE_CACHE=1 to trace locally instead of downloading a traced copy")
    if "ast.json" in text:
        return ("the repository has not been traced (or was traced by another LeanDojo "
                "version): trace it once with lean_dojo.trace(LeanGitRepo(url, commit)) and keep "
                "CACHE_DIR pointing at that cache (LeanDojo#228)")
    if "Lean4Repl" in text:
        return ("the traced copy in CACHE_DIR was made by an older LeanDojo: delete it and "
                "trace the repository again")
    if "Failed to locate the theorem" in text:
        return "check the theorem's leandojo.full_name and leandojo.file_path"
    if "Timeout during initialization" in text:
        return "raise timeout_s: it also bounds loading the file up to the theorem"
    if "Unexpected EOF" in text:
        return ("Lean exited while loading the file: check that the repository builds, that its "
                "Lean version is below v4.12 (LeanDojo#211), and TACTIC_MEMORY_LIMIT")
    if "prelude" in text:
        return "LeanDojo cannot run tactics in files of the Lean prelude"
    return ("check the repository URL and commit, the network (LeanDojo queries GitHub: set "
            "GITHUB_ACCESS_TOKEN against its rate limit), CACHE_DIR, and that the repository "
            "has been traced")


def _init_error(theorem: Theorem, exc: BaseException) -> EnvironmentInitError:
    where = theorem.name
    locator = theorem.locator.get("leandojo")
    if isinstance(locator, Mapping):
        where += (f" ({locator.get('url')}@{str(locator.get('commit'))[:12]} "
                  f"{locator.get('file_path')})")
    return EnvironmentInitError(f"LeanDojo could not open {where}: {type(exc).__name__}: "
                                f"{exc}. What to do: {_init_advice(exc)}")


_OOM_ADVICE = "raise TACTIC_MEMORY_LIMIT or run fewer Lean processes at once"


def _describe(exc: BaseException, proc: Any = None) -> str:
    """What went wrong, for messages; ``proc`` is the Dojo's pexpect process, if known."""
    if getattr(exc, "is_out_of_memory", False):
        return f"Lean ran out of memory (OOM): {_OOM_ADVICE}"
    # A Lean killed by a signal has no exit status, and Dojo._check_alive then fails its
    # `assert exit_code is not None`: say what happened instead of "AssertionError".
    signal = getattr(proc, "signalstatus", None)
    if isinstance(signal, int):
        likely = (f" (SIGKILL: most likely out of memory: {_OOM_ADVICE})" if signal == 9
                  else "")
        return f"Lean was killed by signal {signal}{likely}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _quiet_exit(cm: Any) -> None:
    try:
        cm.__exit__(None, None, None)
    except Exception:  # the process may already be gone; nothing more to release
        logger.debug("closing a Dojo failed", exc_info=True)


_CANCELLED = TacticTimeout("cancelled while Lean was running it; the Dojo was killed and will "
                           "be restarted")
_ABANDONED = TacticTimeout("cancelled while the Dojo was being restarted; the tactic was not run")


class LeanDojoEnvironment:
    """Opens one LeanDojo session per theorem (see the module docstring).

    - ``timeout_s``: LeanDojo's ``Dojo(timeout=...)``, which bounds each read from Lean,
      loading the file up to the theorem included (600 s, LeanDojo's default).
    - ``max_restarts``: crash recoveries a session may make before it raises
      EnvironmentCrashError. Restarts after timeouts are not counted: they are expected.
    - ``additional_imports``, ``build_deps``: passed to ``Dojo`` by the default factory.
    - ``dojo_factory``: a :data:`DojoFactory` to use instead of :class:`LeanDojoFactory`.
    """

    def __init__(self, *, timeout_s: int = 600, max_restarts: int = 5,
                 additional_imports: Sequence[str] = (), build_deps: bool = True,
                 dojo_factory: DojoFactory | None = None) -> None:
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, int) or timeout_s < 1:
            raise ConfigError(f"LeanDojoEnvironment.timeout_s must be an integer >= 1 "
                              f"(LeanDojo takes whole seconds), got {timeout_s!r}")
        if isinstance(max_restarts, bool) or not isinstance(max_restarts, int) \
                or max_restarts < 0:
            raise ConfigError(f"LeanDojoEnvironment.max_restarts must be an integer >= 0, "
                              f"got {max_restarts!r}")
        self.timeout_s = timeout_s
        self.max_restarts = max_restarts
        self.dojo_factory: DojoFactory = dojo_factory or LeanDojoFactory(additional_imports,
                                                                         build_deps)
        # Dojo.__enter__ and LeanGitRepo chdir the whole process: one at a time.
        self._init_lock = threading.Lock()
        self._sessions: set[LeanDojoSession] = set()

    async def open(self, theorem: Theorem) -> LeanDojoSession:
        session = LeanDojoSession(theorem, self.dojo_factory, timeout_s=self.timeout_s,
                                  max_restarts=self.max_restarts, init_lock=self._init_lock,
                                  on_close=self._sessions.discard)
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
                 on_close: Callable[[LeanDojoSession], None] | None = None) -> None:
        self.theorem = theorem
        self.restarts = 0
        self.crashes = 0
        self.timeouts = 0
        self._factory = factory
        self._timeout_s = timeout_s
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
            raise _init_error(self.theorem, exc) from exc
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
                _quiet_exit(cm)
                raise
            finally:
                self._entering = None
        if not isinstance(init, self._ld.TacticState):
            _quiet_exit(cm)
            raise EnvironmentInitError(
                f"LeanDojo gave a {type(init).__name__} as the initial state of "
                f"{self.theorem.name}, not a TacticState: the entry must be a theorem")
        self._cm, self._dojo, self._states = cm, dojo, {(): init}
        return init

    def _discard(self) -> None:
        cm, self._cm, self._dojo, self._states = self._cm, None, None, {}
        if cm is not None:
            _quiet_exit(cm)

    def _kill_process(self) -> bool:
        """Called from the event loop thread: kill the Lean process under a running call
        (that of a Dojo being entered too). False if there was none to kill (LeanDojo tracing,
        or nothing started yet): the running call then goes on and the Dojo stays usable."""
        dojo = self._dojo if self._dojo is not None else self._entering
        pid = getattr(getattr(dojo, "proc", None), "pid", None)
        if not isinstance(pid, int) or self._ld is None:
            return False
        from lean_dojo.interaction.dojo import kill_descendants

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
            return base
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
        return self._outcome(result, (*path, tactic))

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
            return TacticTimeout(f"no answer from Lean within {self._timeout_s} s; the Dojo "
                                 "will be restarted (LeanDojo#218)")
        self.crashes += 1
        what = _describe(exc, proc)
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
                                        f"{self.theorem.name}: {_describe(exc)}") from exc
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
                                        f"{self.theorem.name}: {_describe(exc)}") from exc
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
