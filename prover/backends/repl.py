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
    the process died (ConnectionAbortedError, ...), or forgot   TacticError; restart, at most
    its states ("Unknown proof state.": a server that restarts  max_restarts per session, then
    itself, as AutoLeanServer does)                             EnvironmentCrashError (OOM named)

Sessions lease a process from a pool of ``num_processes`` (a process is not shared while a
session holds it) and drive it from that process's own thread. States carry their tactic path
in ``handle``; after a restart, the theorem is opened again and states are rebuilt lazily by
replaying their paths. ``verify`` compiles ``header + statement + proof`` as one command in a
fresh environment and accepts only an answer with no error and no sorry; a proof whose text
holds ``sorry``/``admit`` or a command keyword (``theorem``, ``axiom``, ``end``, ``#exit``,
``elab_rules``, ..., which would end the ``by`` block and go on at the top level) is refused
before it is sent. It then runs ``#print axioms NAME`` in the environment that command made and
accepts only a theorem whose axioms are all in ``allowed_axioms`` (by default Lean's standard
three, :data:`STANDARD_AXIOMS`): ``native_decide`` (``Lean.ofReduceBool``), ``sorryAx`` or an
axiom the proof smuggled in are refused. ``NAME`` is read from the formal statement (its last
``theorem``/``lemma``, see :func:`declared_theorem_name`); a statement whose name cannot be read
(an ``example``, say), or an answer that cannot be read, fails verification: never accepted
unchecked.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import re
import shutil
import textwrap
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from prover.backends.lean_layout import split_lean_tactics
from prover.backends.tactic_paths import (
    LEADS_ELSEWHERE,
    TacticPath,
    Unrebuildable,
    path_of,
    rebuild_with_restarts,
)
from prover.backends.worker import ThreadWorker, WorkerClosedError
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


STANDARD_AXIOMS: frozenset[str] = frozenset({"propext", "Classical.choice", "Quot.sound"})
"""The axioms ``verify`` accepts by default: Lean's own, on which Mathlib's classical proofs
rest. ``native_decide`` adds ``Lean.ofReduceBool`` (and, on recent Lean, ``Lean.trustCompiler``),
which trusts the compiler rather than the kernel; ``sorry`` is ``sorryAx``."""

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


def with_header(header: str, text: str) -> str:
    """``header`` then ``text``, on a line of its own even when the header has no final
    newline (``import Mathlib`` + ``theorem ...`` must not become ``import Mathlibtheorem``)."""
    if header and not header.endswith("\n"):
        header += "\n"
    return header + text


# Tokens that end a `by` block and start a top-level command, or give up on the proof. A proof
# found in tactic mode never holds them (the REPL parses each tactic to its end).
# The metaprogramming commands (elab_rules, macro_rules, run_cmd, attribute, ...) are here too:
# after the theorem they could rewrite how the `#print axioms` that verify runs next answers.
_PROOF_ESCAPES = re.compile(
    r"(?<![\w.'«@#])(#exit|#eval|theorem|lemma|def|example|abbrev|axiom|axioms|instance|opaque|"
    r"structure|class|inductive|namespace|section|end|mutual|import|elab|elab_rules|macro|"
    r"macro_rules|syntax|run_cmd|run_elab|run_meta|initialize|builtin_initialize|attribute|"
    r"sorry|admit)(?![\w'!?»])")


_CHAR_LITERAL = re.compile(r"'(?:\\.|[^\\'\n])'")


def _without_comments_and_strings(text: str) -> str:
    """``text`` with Lean comments (``--`` lines, nested ``/- -/``) and string literals blanked,
    so that a keyword inside them is not taken for code."""
    out: list[str] = []
    i, depth, n = 0, 0, len(text)
    while i < n:
        if depth:
            if text.startswith("/-", i):
                depth, i = depth + 1, i + 2
            elif text.startswith("-/", i):
                depth, i = depth - 1, i + 2
            else:
                i += 1
            continue
        if text.startswith("/-", i):
            depth, i = 1, i + 2
            out.append(" ")
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text[i] == "'" and (char := _CHAR_LITERAL.match(text, i)) is not None \
                and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] in "_'!?.")):
            i = char.end()  # a char literal such as '"' (a quote after a name is h', not this)
            out.append("' '")
        elif text[i] == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            out.append('""')
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def proof_escape(tactics: Sequence[str]) -> str | None:
    """The first token in ``tactics`` that would make the compiled text more than this
    theorem's tactic proof (a command keyword) or give up on it (``sorry``/``admit``), or
    ``None``. Comments and strings are ignored."""
    for tactic in tactics:
        match = _PROOF_ESCAPES.search(_without_comments_and_strings(tactic))
        if match is not None:
            return match.group(1)
    return None


# A Lean name: dot-separated atoms, each «quoted» or an identifier (a letter or _ first).
_NAME_ATOM = r"(?:«[^»\n]+»|[^\W\d][\w'!?]*)"
_DECLARED_NAME = re.compile(
    rf"(?<![\w.'«@#])(?:theorem|lemma)\s+({_NAME_ATOM}(?:\.{_NAME_ATOM})*)"
    r"(?:\.\{[^{}]*\})?(?=[\s(\[{⦃:]|$)")


def declared_theorem_name(statement: str) -> str | None:
    """The name of the theorem that ``statement`` ends with, as written (``foo``,
    ``Nat.foo``, ``«my thm»``; universe parameters dropped), or ``None`` when no
    ``theorem``/``lemma`` with a readable name is found (an ``example``, say).

    The proof completes the statement's last declaration, so the last ``theorem``/``lemma``
    outside comments and strings is the one; modifiers, attributes and ``open ... in`` before it
    do not matter.
    """
    matches = list(_DECLARED_NAME.finditer(_without_comments_and_strings(statement)))
    return matches[-1].group(1) if matches else None


_DEPENDS = re.compile(r"'(?P<name>.+)' depends on axioms: \[(?P<axioms>.*)\]", re.DOTALL)
_NO_AXIOMS = re.compile(r"'(?P<name>.+)' does not depend on any axioms", re.DOTALL)


def parse_axioms(text: str) -> tuple[str, frozenset[str]] | None:
    """The constant and its axioms from the text of ``#print axioms``'s info message
    (``'foo' depends on axioms: [propext, Quot.sound]``, possibly wrapped over lines, or
    ``'foo' does not depend on any axioms``), or ``None`` if the text is neither."""
    text = text.strip()
    if (match := _NO_AXIOMS.fullmatch(text)) is not None:
        return match.group("name"), frozenset()
    if (match := _DEPENDS.fullmatch(text)) is not None:
        axioms = frozenset(a.strip() for a in match.group("axioms").split(","))
        return match.group("name"), axioms
    return None


def _names_match(printed: str, written: str) -> bool:
    """``#print axioms`` prints the full name: the written one, possibly under the namespace
    the header opened (or a private prefix)."""
    written = written.removeprefix("_root_.")
    return printed == written or printed.endswith("." + written)


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


_OOM_SIGNS = ("out of memory", "std::bad_alloc", "cannot allocate memory")


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, MemoryError) or any(sign in text.lower() for sign in _OOM_SIGNS):
        return ("the Lean REPL ran out of memory (OOM): raise memory_limit_mb or run fewer "
                "processes at once")
    if isinstance(exc, _LostStates):
        return f"the REPL process no longer holds this session's proof states ({text})"
    text = text if len(text) <= 600 else text[:600] + " ..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _LostStates(Exception):
    """The REPL answered "Unknown proof state.": the process no longer holds the states this
    session made there (a server that restarted itself), so it is restarted and they are
    replayed, as after a crash."""


def _lost_states(response: Any, li: Any) -> bool:
    return isinstance(response, li.LeanError) and response.message.startswith(
        ("Unknown proof state", "Unknown environment"))


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
            errors = _errors(response)
            if errors:
                raise EnvironmentInitError(f"the header does not compile{where}: {errors[0]}")
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


def _errors(response: Any) -> list[str]:
    return [m.data for m in getattr(response, "messages", ()) if m.severity == "error"]


class _Pool:
    """Leases processes to sessions, first come first served; a process has one holder."""

    def __init__(self, processes: list[_ReplProcess]) -> None:
        self.processes = processes
        self._idle = list(reversed(processes))
        self._waiters: deque[asyncio.Future[_ReplProcess]] = deque()
        self._closed = False

    def close(self) -> None:
        """Fail every waiter (and later acquire): no process will be leased again."""
        self._closed = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(EnvironmentInitError(
                    "the LeanReplEnvironment was closed while waiting for a REPL process"))

    async def acquire(self) -> _ReplProcess:
        if self._closed:
            raise EnvironmentInitError("the LeanReplEnvironment is closed")
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
        while self._waiters and not self._closed:
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


def _axiom_names(value: Any) -> frozenset[str]:
    # a bare string would be taken for its characters
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError(f"LeanReplEnvironment.allowed_axioms must be a set of axiom names, "
                          f"got {value!r}")
    names = frozenset(value)
    bad = sorted(repr(n) for n in names if not isinstance(n, str) or not n.strip())
    if bad:
        raise ConfigError(f"LeanReplEnvironment.allowed_axioms holds non-names: {', '.join(bad)}")
    if "sorryAx" in names:
        raise ConfigError("LeanReplEnvironment.allowed_axioms must not hold sorryAx: a proof "
                          "that uses sorry is never a proof")
    return names


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
    - ``allowed_axioms``: the axioms a proof may depend on for ``verify`` to accept it
      (``#print axioms``); by default :data:`STANDARD_AXIOMS`. To count ``native_decide``
      proofs, add ``"Lean.ofReduceBool"`` (and ``"Lean.trustCompiler"`` on recent Lean).
      ``sorryAx`` is never allowed.
    """

    def __init__(self, project_dir: str | Path | None = None, *, lean_version: str | None = None,
                 repl_config: Any = None, num_processes: int = 1, tactic_timeout_s: float = 60.0,
                 command_timeout_s: float = 600.0, memory_limit_mb: int | None = None,
                 max_restarts: int = 5, theorems_per_process: int | None = 16,
                 server_factory: ServerFactory | None = None,
                 allowed_axioms: Iterable[str] = STANDARD_AXIOMS) -> None:
        _positive("num_processes", num_processes, integer=True)
        _positive("tactic_timeout_s", tactic_timeout_s)
        _positive("command_timeout_s", command_timeout_s)
        _positive("memory_limit_mb", memory_limit_mb, integer=True, optional=True)
        _positive("theorems_per_process", theorems_per_process, integer=True, optional=True)
        if isinstance(max_restarts, bool) or not isinstance(max_restarts, int) \
                or max_restarts < 0:
            raise ConfigError(f"LeanReplEnvironment.max_restarts must be an integer >= 0, "
                              f"got {max_restarts!r}")
        self.allowed_axioms: frozenset[str] = _axiom_names(allowed_axioms)
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
                                       f"{_describe(exc)}") from exc
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
            if attempt == 0 and env is not None and _lost_states(response, li):
                process.envs.pop(self._header, None)  # the server restarted itself: run it again
                continue
            break
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
        if _lost_states(response, self._li):
            return self._failed(_LostStates(response.message), f"on tactic {tactic!r}")
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
            if _lost_states(response, self._li):
                raise _LostStates(response.message)
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
                f"(max_restarts={self._env.max_restarts}); last {context}: {_describe(exc)}"
            ) from exc
        logger.warning("%s: REPL crashed %s (%s); restarting", self.theorem.name, context,
                       _describe(exc))
        return TacticError(f"the Lean REPL crashed {context}: {_describe(exc)}; the process "
                           "will be restarted")

    def _verify_sync(self, tactics: list[str]) -> bool:
        li, process, name = self._li, self._process, self.theorem.name
        if process.worker.consume_interrupt():
            process.discard()
        escape = proof_escape(tactics)
        if escape is not None:
            logger.warning("%s: verify refused the proof: it holds %r outside a comment, which "
                           "gives up on the proof or leaves it for the top level", name, escape)
            return False
        declared = declared_theorem_name(self._statement)
        if declared is None:
            # without a name there is no `#print axioms`: refuse rather than accept unchecked
            logger.warning("%s: verify refused the proof: the formal statement declares no "
                           "theorem or lemma whose name could be read, so its axioms cannot be "
                           "checked", name)
            return False
        code = with_header(self._header, statement_with_proof(self._statement, tactics))
        response = self._verify_request(li.Command(cmd=code))
        if isinstance(response, li.LeanError):
            logger.warning("%s: verify: %s", name, response.message)
            return False
        # lean_code_is_valid matches the sorry warning's exact text; any wording of it counts.
        sorry_warned = any("declaration uses" in m.data and "sorry" in m.data
                           for m in response.messages)
        accepted = (bool(response.lean_code_is_valid(allow_sorry=False))
                    and not response.sorries and not sorry_warned)
        if not accepted:
            logger.warning("%s: verify rejected the proof: %s", name,
                           [m.data for m in response.messages])
            return False
        # A command of its own, in the environment the proof made: messages the proof itself
        # printed (a logInfo in a tactic) cannot pass for its answer.
        answer = self._verify_request(li.Command(cmd=f"#print axioms {declared}",
                                                 env=response.env))
        problem = self._axioms_problem(answer, declared)
        if problem is not None:
            logger.warning("%s: verify rejected the proof: %s", name, problem)
            return False
        return True

    def _verify_request(self, request: Any) -> Any:
        process = self._process
        try:
            process.ensure_started()
            return process.server.run(request, timeout=process.command_timeout_s)
        except ProverError:
            raise
        except Exception as exc:
            process.worker.consume_interrupt()
            process.discard()
            raise EnvironmentCrashError(f"the Lean REPL failed while verifying the proof of "
                                        f"{self.theorem.name}: {_describe(exc)}") from exc

    def _axioms_problem(self, response: Any, declared: str) -> str | None:
        """Why the answer to ``#print axioms declared`` does not let the proof count, or
        ``None`` when it names only allowed axioms."""
        if isinstance(response, self._li.LeanError):
            return f"`#print axioms {declared}` failed: {response.message}"
        errors = _errors(response)
        if errors:
            return f"`#print axioms {declared}` failed: {errors[0]}"
        parsed = [p for m in response.messages if m.severity == "info"
                  and (p := parse_axioms(m.data)) is not None]
        if len(parsed) != 1:
            return (f"the answer to `#print axioms {declared}` could not be read (expected one "
                    f"\"depends on axioms\" message): {[m.data for m in response.messages]}")
        printed, axioms = parsed[0]
        if not _names_match(printed, declared):
            return f"`#print axioms {declared}` answered for another constant, {printed!r}"
        extra = axioms - self._env.allowed_axioms
        if extra:
            return (f"the proof depends on axioms beyond allowed_axioms: "
                    f"{', '.join(sorted(extra))} (allowed: "
                    f"{', '.join(sorted(self._env.allowed_axioms)) or 'none'})")
        return None

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


__all__ = [
    "STANDARD_AXIOMS",
    "LeanReplEnvironment",
    "LeanReplSession",
    "LeanServerFactory",
    "ReplServer",
    "ServerFactory",
    "TacticPath",
    "declared_theorem_name",
    "import_lean_interact",
    "parse_axioms",
    "proof_escape",
    "statement_with_proof",
    "statement_with_sorry",
    "with_header",
]
