"""Coq 8.16 as a proof environment, over ``coqidetop``'s XML protocol.

A :class:`CoqEnvironment` hands out one ``coqidetop`` process per session from a bounded pool;
a process keeps its document after the session ends, so the next theorem of the same file only
adds the sentences past the common prefix. A session's document is linear while the search is a
tree: every :class:`ProofState` carries its tactic path from the root in its handle, and
``apply`` rewinds to the nearest common ancestor (``Edit_at``) and re-adds the rest of the path
before the new tactic, so a state stays valid after the search moved elsewhere.

Safety: a candidate must be exactly one tactic sentence; vernacular (``Qed``, ``Admitted``,
``Axiom``, ``Require``, ``Set``, ...), ``admit``, ``give_up`` and the ``par:`` selector are
refused before they reach Coq (:func:`~prover.backends.coq_sources.check_tactic`), and so is a
state whose handle belongs to another session (of any environment) or whose path is not made of
such sentences. ``apply`` reports :class:`Proved` only when no goal is left (shelved goals
count), the proof passes the kernel (it is saved, then taken back) and ``Print Assumptions``
lists nothing unsafe (unguarded fixpoints, collapsed universes, ...). Each tactic runs under
``Timeout N``; a process that does not answer within ``N + grace_s`` is killed with its process
group (workers included), and a dead process is restarted and the session's states rebuilt by
replay (at most ``max_restarts`` times per session, then
:class:`~prover.errors.EnvironmentCrashError`). ``verify`` checks a proof in a fresh process:
it must close every goal, be saved under :data:`VERIFY_NAME` (so that ``Print Assumptions``
judges this very proof), and its assumptions must be safe and name no axiom that did not
already exist before the statement.

Theorem locators: ``{"file": path, "index": i}`` (a ``.v`` file and the index of the statement
sentence, see :mod:`prover.backends.coq_sources`), ``{"stdlib_file": "Arith/PeanoNat.v",
"index": i}`` (relative to ``$(coqc -where)/theories``), or ``{"prelude": "Require Import
Arith."}`` with the statement (one sentence, optionally followed by ``Proof.``) in
:attr:`Theorem.statement`. ``"coq_args"`` adds command-line flags (``-R dir Name``); a file
without them gets the load paths of the nearest ``_CoqProject`` above it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import re
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from prover.backends import coq_xml as xml
from prover.backends.coq_process import (
    CoqBadReply,
    CoqDied,
    CoqHung,
    CoqProcess,
    SentenceFailed,
)
from prover.backends.coq_sources import (
    Sentence,
    check_tactic,
    head_word,
    is_bullet_or_brace,
    split_sentences,
)
from prover.env import SessionBase
from prover.errors import ConfigError, EnvironmentCrashError, EnvironmentInitError
from prover.tactics import split_tactics
from prover.types import (
    Outcome,
    ProofState,
    Proved,
    StateReached,
    TacticError,
    TacticTimeout,
    Theorem,
)

log = logging.getLogger(__name__)

# Session ids are unique in the process, not per environment: a state of a session of one
# environment must not pass for a state of another environment's session with the same number.
_SESSION_IDS = itertools.count(1)


@dataclass(frozen=True)
class CoqConfig:
    """Settings of a :class:`CoqEnvironment`.

    - ``executable``: the ``coqidetop`` binary (``coqidetop.opt``).
    - ``args``: extra command-line flags for every process (``-R``/``-Q`` load paths).
    - ``tactic_timeout_s``: each tactic runs under ``Timeout ceil(tactic_timeout_s)`` (5 s).
    - ``grace_s``: a reply later than the Coq timeout plus this kills the process (5 s).
    - ``init_timeout_s``: bound on executing one batch of a file prefix (120 s).
    - ``max_processes``: processes alive at once, i.e. concurrent sessions (2).
    - ``max_restarts``: process restarts one session may need before it gives up (3).
    - ``batch``: sentences added before one ``Goal`` executes them when replaying (64).
    """

    executable: str = "coqidetop.opt"
    args: tuple[str, ...] = ()
    tactic_timeout_s: float = 5.0
    grace_s: float = 5.0
    init_timeout_s: float = 120.0
    max_processes: int = 2
    max_restarts: int = 3
    batch: int = 64

    def __post_init__(self) -> None:
        if isinstance(self.args, str) or not isinstance(self.args, tuple):
            raise ConfigError(f"CoqConfig.args must be a tuple of strings, got {self.args!r}")
        for name in ("tactic_timeout_s", "grace_s", "init_timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"CoqConfig.{name} must be a number > 0, got {value!r}")
        for name in ("max_processes", "batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"CoqConfig.{name} must be an integer >= 1, got {value!r}")
        if isinstance(self.max_restarts, bool) or not isinstance(self.max_restarts, int) \
                or self.max_restarts < 0:
            raise ConfigError(f"CoqConfig.max_restarts must be an integer >= 0, "
                              f"got {self.max_restarts!r}")

    @property
    def coq_timeout(self) -> int:
        """Whole seconds for Coq's ``Timeout`` (it takes an integer)."""
        return max(1, math.ceil(self.tactic_timeout_s))

    @property
    def reply_timeout_s(self) -> float:
        return self.coq_timeout + self.grace_s


@lru_cache(maxsize=1)
def coq_lib_dir() -> Path:
    """``$(coqc -where)``: where the standard library lives."""
    exe = shutil.which("coqc")
    if exe is None:
        raise EnvironmentInitError("coqc not found on PATH (install Coq: apt-get install -y coq)")
    out = subprocess.run([exe, "-where"], capture_output=True, text=True, check=True, timeout=30)
    return Path(out.stdout.strip())


def stdlib_theories() -> Path:
    """``$(coqc -where)/theories``: the sources of the standard library."""
    return coq_lib_dir() / "theories"


def coq_available(executable: str = "coqidetop.opt") -> bool:
    """Whether ``executable`` is on PATH."""
    return shutil.which(executable) is not None


# ---- documents -----------------------------------------------------------------------------


_IDENT_START = re.compile(r"[^\W\d][\w']*")
"""A Coq identifier at the start of a string (letters may be any Unicode letters)."""


@dataclass(frozen=True)
class CoqDocument:
    """What a session replays before its root state, and the flags it needs.

    ``sentences`` end with the statement (and its ``Proof`` opener when the file has one);
    ``statement_index`` is the statement's index in ``sentences``.
    """

    sentences: tuple[str, ...]
    statement_index: int
    args: tuple[str, ...] = ()

    @property
    def statement(self) -> str:
        return self.sentences[self.statement_index]

    @property
    def lemma_name(self) -> str:
        """The name ``Qed`` gives the proof (``Unnamed_thm`` for ``Goal``)."""
        s = re.sub(r"^(#\[[^\]]*\]\s*)+", "", self.statement)
        words = s.split()
        while words and words[0] in ("Local", "Global", "Polymorphic", "Monomorphic"):
            words = words[1:]
        if len(words) >= 2 and words[0] != "Goal":
            m = _IDENT_START.match(words[1])
            if m:
                return m.group(0)
        return "Unnamed_thm"


def _is_proof_opener(sentence: str) -> bool:
    """``Proof.``, ``Proof with tac.`` or ``Proof using x.`` (not ``Proof term.``)."""
    if head_word(sentence) != "Proof":
        return False
    words = sentence.rstrip(".").split()
    return len(words) == 1 or words[1] in ("with", "using")


def file_args(path: Path) -> tuple[str, ...]:
    """Flags to replay ``path`` under its own module name (``-topfile``), so that the file's
    references to its own qualified names resolve; files of the stdlib's ``Init`` are compiled
    without the prelude they define (``-noinit``)."""
    path = path.resolve()
    args: tuple[str, ...] = ("-topfile", str(path))
    with contextlib.suppress(EnvironmentInitError, OSError, subprocess.SubprocessError):
        if path.is_relative_to((stdlib_theories() / "Init").resolve()):
            args += ("-noinit",)
    return args


def project_args(path: Path) -> tuple[str, ...]:
    """The load-path flags (``-R``, ``-Q``, ``-I``, ``-arg``) of the nearest ``_CoqProject``
    above ``path``, with directories made absolute: a library's file names its own modules
    (``Require Import MyLib.Base``), which only resolve under the project's bindings."""
    for directory in path.resolve().parents:
        project = directory / "_CoqProject"
        if project.is_file():
            try:
                return _parse_coq_project(project.read_text(encoding="utf-8"), directory)
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                raise EnvironmentInitError(f"cannot read {project}: {exc}") from exc
    return ()


def _parse_coq_project(text: str, root: Path) -> tuple[str, ...]:
    words = shlex.split(text, comments=True)
    args: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("-R", "-Q") and i + 2 < len(words):
            args += [word, str((root / words[i + 1]).resolve()), words[i + 2]]
            i += 3
        elif word == "-I" and i + 1 < len(words):
            args += [word, str((root / words[i + 1]).resolve())]
            i += 2
        elif word == "-arg" and i + 1 < len(words):
            args += shlex.split(words[i + 1])
            i += 2
        else:  # file names and coq_makefile options
            i += 1
    return tuple(args)


def _file_sentences(path: Path) -> list[Sentence]:
    try:
        return split_sentences(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvironmentInitError(f"cannot read Coq file {path}: {exc}") from exc
    except ValueError as exc:  # an unterminated comment or string
        raise EnvironmentInitError(f"cannot split Coq file {path}: {exc}") from exc


def document_for(theorem: Theorem, cache: dict[Path, list[Sentence]] | None = None
                 ) -> CoqDocument:
    """The sentences to replay for ``theorem`` (see the module docstring for locators)."""
    loc = theorem.locator
    raw_args = loc.get("coq_args") or ()
    if isinstance(raw_args, str) or not isinstance(raw_args, (list, tuple)):
        raise EnvironmentInitError(f"{theorem.name}: 'coq_args' must be a list of flags, "
                                   f"got {raw_args!r}")
    args = tuple(str(a) for a in raw_args)
    if loc.get("file") or loc.get("stdlib_file"):
        path = (Path(loc["file"]) if loc.get("file")
                else stdlib_theories() / str(loc["stdlib_file"]))
        index = loc.get("index")
        if not isinstance(index, int) or isinstance(index, bool):
            raise EnvironmentInitError(f"{theorem.name}: locator needs an integer 'index'")
        if cache is not None and path in cache:
            sentences = cache[path]
        else:
            sentences = _file_sentences(path)
            if cache is not None:
                cache[path] = sentences
        if not 0 <= index < len(sentences):
            raise EnvironmentInitError(f"{theorem.name}: sentence {index} is outside {path} "
                                       f"({len(sentences)} sentences)")
        end = index + 1
        if end < len(sentences) and _is_proof_opener(sentences[end].text):
            end += 1
        if "coq_args" not in loc:
            args = project_args(path)
        return CoqDocument(tuple(s.text for s in sentences[:end]), index,
                           (*file_args(path), *args))
    if "prelude" in loc or theorem.statement:
        try:
            prelude = [s.text for s in split_sentences(str(loc.get("prelude", "")))]
            statement = [s.text for s in split_sentences(theorem.statement)]
        except ValueError as exc:
            raise EnvironmentInitError(f"{theorem.name}: {exc}") from exc
        if not statement:
            raise EnvironmentInitError(f"{theorem.name}: empty statement")
        # The statement is one sentence (and maybe its ``Proof`` opener): anything after it
        # would run as part of the document, e.g. ``Admitted.`` then a second statement.
        if len(statement) > 2 or (len(statement) == 2 and not _is_proof_opener(statement[1])):
            raise EnvironmentInitError(f"{theorem.name}: the statement must be one sentence "
                                       f"(optionally followed by Proof.), got "
                                       f"{len(statement)}: {theorem.statement[:200]!r}")
        if not statement[0].endswith("."):
            statement[0] += "."
        return CoqDocument(tuple(prelude + statement), len(prelude), args)
    raise EnvironmentInitError(f"{theorem.name}: a Coq theorem needs a locator with 'file', "
                               f"'stdlib_file' or 'prelude' (or a statement)")


# ---- states ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoqHandle:
    """What a state needs to be rebuilt: its session and the tactic path from the root.

    ``markers`` is the stack of open bullets/braces, innermost last (part of the state key).
    """

    owner: int
    path: tuple[str, ...]
    markers: tuple[str, ...] = ()


def _update_markers(markers: tuple[str, ...], sentence: str, levels: int) -> tuple[str, ...]:
    s = sentence.strip()
    if is_bullet_or_brace(s) and s != "}":
        mark = "{" if s.endswith("{") else s
        stack = list(markers)
        if mark != "{" and mark in stack:
            del stack[stack.index(mark) + 1:]
        else:
            stack.append(mark)
        markers = tuple(stack)
    elif s == "}":
        stack = list(markers)
        while stack and stack[-1] != "{":
            stack.pop()
        markers = tuple(stack[:-1])
    if len(markers) > levels:
        markers = markers[:levels]
    return markers + ("?",) * (levels - len(markers))


def make_state(goals: xml.Goals, owner: int, path: tuple[str, ...],
               markers: tuple[str, ...] = ()) -> ProofState:
    """The :class:`ProofState` for Coq goals: focused then background (then shelved when
    nothing else is left); the key adds the focus structure when there is one."""
    shown = goals.focused + goals.unfocused
    if not shown:
        shown = goals.shelved
    texts = tuple(g.render() for g in shown)
    pp = "\n\n".join(texts)
    levels = tuple((len(b), len(a)) for b, a in goals.background)
    key = pp
    if levels or goals.shelved:
        structure = ",".join(f"{b}+{a}" for b, a in levels)
        key = (f"{pp}\n\n(* focused {len(goals.focused)}; background {structure}; "
               f"bullets {' '.join(markers)}; shelved {len(goals.shelved)} *)")
    return ProofState(texts, key=key, handle=CoqHandle(owner, path, markers))


def _timed(sentence: str, seconds: int) -> str:
    """``Timeout seconds sentence``; bullets and braces cannot take a prefix and are instant."""
    if is_bullet_or_brace(sentence):
        return sentence
    return f"Timeout {seconds} {sentence}"


def _closing_braces(sentences: Sequence[str]) -> list[str]:
    """The ``}`` sentences that close the braces ``sentences`` leaves open."""
    depth = 0
    for sentence in sentences:
        if sentence.endswith("{") and is_bullet_or_brace(sentence):
            depth += 1
        elif sentence == "}":
            depth -= 1
    return ["}"] * max(depth, 0)


def _checked_path(path: Sequence[str]) -> bool:
    """Whether every sentence of a handle's path is a tactic :func:`check_tactic` returns
    unchanged (states the session made always are; a hand-made handle may not be)."""
    for sentence in path:
        try:
            if not isinstance(sentence, str) or check_tactic(sentence) != sentence:
                return False
        except ValueError:
            return False
    return True


# ---- pool --------------------------------------------------------------------------------------


class _Pool:
    """At most ``size`` processes; idle ones keep their documents for reuse."""

    def __init__(self, config: CoqConfig) -> None:
        self.config = config
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        self._idle: list[CoqProcess] = []
        self._closed = False
        self.started = 0

    def _bind(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._slots is None:
            for proc in self._idle:  # processes of an earlier event loop cannot be used
                proc.kill()
            self._idle = []
            self._loop = loop
            self._slots = asyncio.Semaphore(self.config.max_processes)
        return self._slots

    async def acquire(self, args: tuple[str, ...], sentences: Sequence[str]) -> CoqProcess:
        slots = self._bind()
        await slots.acquire()
        try:
            usable = [p for p in self._idle if p.alive and p.args == args]
            if usable:
                best = max(usable, key=lambda p: p.common_prefix(sentences))
                self._idle.remove(best)
                return best
            for proc in [p for p in self._idle if not p.alive or p.args != args][:1]:
                self._idle.remove(proc)
                await proc.close()
            return await self.start(args)
        except BaseException:
            slots.release()
            raise

    async def start(self, args: tuple[str, ...]) -> CoqProcess:
        proc = CoqProcess(self.config.executable, (*self.config.args, *args))
        await proc.start()
        self.started += 1
        return proc

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


# ---- environment and session ------------------------------------------------------------------


class CoqEnvironment:
    """Coq sessions over a pool of ``coqidetop`` processes (see the module docstring).

    Use one environment per event loop and ``await env.close()`` at the end.
    """

    def __init__(self, config: CoqConfig | None = None, **overrides: Any) -> None:
        if config is not None and overrides:
            raise ConfigError("pass either a CoqConfig or keyword overrides, not both")
        self.config = config or CoqConfig(**overrides)
        self._pool = _Pool(self.config)
        self._files: dict[Path, list[Sentence]] = {}

    @property
    def processes_started(self) -> int:
        """How many processes the pool has started (restarts by sessions not included)."""
        return self._pool.started

    def document(self, theorem: Theorem) -> CoqDocument:
        """The sentences a session on ``theorem`` replays (file sentences are cached)."""
        return document_for(theorem, self._files)

    async def open(self, theorem: Theorem) -> CoqSession:
        document = self.document(theorem)
        proc = await self._pool.acquire(document.args, document.sentences)
        session = CoqSession(self, theorem, document, proc, next(_SESSION_IDS))
        try:
            await session.start()
        except BaseException:
            await session.close()
            raise
        return session

    async def close(self) -> None:
        await self._pool.close()


class CoqSession(SessionBase):
    """One attempt at one theorem on one process (see the module docstring)."""

    def __init__(self, env: CoqEnvironment, theorem: Theorem, document: CoqDocument,
                 proc: CoqProcess, ident: int) -> None:
        self.env = env
        self.config = env.config
        self.theorem = theorem
        self.document = document
        self.restarts = 0
        self.kills = 0
        self.tactics_run = 0
        self._proc: CoqProcess | None = proc
        self._id = ident
        self._lock = asyncio.Lock()
        self._inflight: set[asyncio.Task[Outcome]] = set()
        self._root: ProofState | None = None
        self._closed = False
        self._released = False

    # ---- set-up ---------------------------------------------------------------------------
    async def start(self) -> None:
        goals = await self._load_base()
        if goals is None or (goals.open_count == 0 and not goals.shelved):
            raise EnvironmentInitError(f"{self.theorem.name}: the statement opened no proof "
                                       f"({self.document.statement[:200]!r})")
        self._root = make_state(goals, self._id, ())

    async def _load_base(self) -> xml.Goals | None:
        assert self._proc is not None
        try:
            goals, failed = await self._proc.sync(self.document.sentences,
                                                  self.config.init_timeout_s,
                                                  batch=self.config.batch)
        except EnvironmentCrashError as exc:
            raise EnvironmentInitError(f"{self.theorem.name}: replaying the file prefix "
                                       f"failed: {exc}") from exc
        if failed is not None:
            sentence = self.document.sentences[failed.index]
            raise EnvironmentInitError(
                f"{self.theorem.name}: sentence {failed.index} of the prefix failed: "
                f"{sentence[:120]!r}: {failed.message[:500]}")
        return goals

    @property
    def root(self) -> ProofState:
        if self._root is None:
            raise EnvironmentInitError("session not started")
        return self._root

    @property
    def pid(self) -> int | None:
        """The pid of the current process (tests kill it to check recovery)."""
        return self._proc.pid if self._proc is not None else None

    # ---- apply --------------------------------------------------------------------------------
    async def apply(self, state: ProofState, tactic: str) -> Outcome:
        handle = getattr(state, "handle", None)
        if not isinstance(handle, CoqHandle) or handle.owner != self._id:
            return TacticError("the state does not belong to this session")
        if not _checked_path(handle.path):
            # The path is replayed as it is: a hand-made handle must not smuggle vernacular.
            return TacticError("the state's tactic path holds a sentence that is not one "
                               "allowed tactic")
        try:
            sentence = check_tactic(tactic)
        except ValueError as exc:
            return TacticError(f"refused: {exc}")
        if self._closed:
            raise EnvironmentCrashError(f"{self.theorem.name}: the session is closed")
        # The exchange runs as its own task: if the caller is cancelled (asyncio.wait_for in
        # the search), the exchange still finishes under the lock and the document stays known.
        task = asyncio.ensure_future(self._apply_locked(handle, sentence))
        self._inflight.add(task)
        task.add_done_callback(self._forget)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            # ``Task.cancelling`` is Python 3.11+; before, a closed session is the best sign.
            cancelling = getattr(asyncio.current_task(), "cancelling", None)
            caller_cancelled = cancelling() > 0 if callable(cancelling) else not self._closed
            if task.cancelled() and not caller_cancelled:
                # ``close`` cancelled the exchange, not our caller: that is an error of the
                # session, which a caller can handle, not a cancellation it never asked for.
                raise EnvironmentCrashError(f"{self.theorem.name}: the session was closed "
                                            f"while the tactic ran") from None
            raise

    def _forget(self, task: asyncio.Task[Outcome]) -> None:
        self._inflight.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved, so an orphaned failure is not reported twice

    async def _apply_locked(self, handle: CoqHandle, sentence: str) -> Outcome:
        async with self._lock:
            for attempt in range(2):
                try:
                    return await self._run(handle, sentence)
                except CoqHung:
                    self.kills += 1
                    return TacticTimeout(f"coqidetop gave no answer within "
                                         f"{self.config.reply_timeout_s:.3g} s (restarted)")
                except CoqBadReply as exc:
                    # Deterministic for this tactic: a retry would fail again and spend a
                    # restart; the process was killed, the next call starts a fresh one.
                    self.kills += 1
                    return TacticError(f"unreadable reply from coqidetop (restarted): {exc}")
                except CoqDied as exc:
                    log.warning("%s: coqidetop died (%s); restarting", self.theorem.name, exc)
                    if attempt == 1:
                        return TacticError(f"coqidetop died running this tactic: {exc}")
                except asyncio.CancelledError:
                    if self._proc is not None and self._proc.alive:
                        # Its document position is unknown now. A kill on purpose (the
                        # search's tactic timeout or deadline) is no crash: it does not use
                        # up max_restarts, or a search with many timeouts would end in error.
                        self._proc.kill()
                        self.kills += 1
                    raise
            raise AssertionError("unreachable")

    async def _ensure_process(self) -> CoqProcess:
        if self._proc is not None and self._proc.alive:
            return self._proc
        # Processes this session killed on purpose (no answer in time) are not counted.
        self.restarts += 1
        if self.restarts - self.kills > self.config.max_restarts:
            raise EnvironmentCrashError(
                f"{self.theorem.name}: coqidetop died {self.restarts} times; giving up")
        if self._proc is not None:
            await self._proc.close()
        self._proc = None
        proc = CoqProcess(self.config.executable, (*self.config.args, *self.document.args))
        await proc.start()
        self._proc = proc
        await self._load_base()
        return proc

    def _wrap(self, sentence: str) -> str:
        return _timed(sentence, self.config.coq_timeout)

    async def _run(self, handle: CoqHandle, sentence: str) -> Outcome:
        proc = await self._ensure_process()
        base = self.document.sentences
        path = [self._wrap(s) for s in handle.path]
        target = [*base, *path, self._wrap(sentence)]
        goals, failed = await proc.sync(target, self.config.reply_timeout_s,
                                        batch=self.config.batch)
        self.tactics_run += 1
        if failed is not None:
            if failed.index < len(base) + len(path):
                return TacticError(f"could not rebuild the state (sentence {failed.index}): "
                                   f"{failed.message}")
            if failed.timed_out:
                return TacticTimeout(f"Coq Timeout {self.config.coq_timeout} s")
            return TacticError(failed.message or "error")
        if goals is None:
            return TacticError("no proof is open after this tactic")
        if goals.given_up:
            return TacticError("the tactic gave up goals")
        if goals.open_count == 0 and not goals.shelved:
            return await self._check_qed(proc, target, (*handle.path, sentence))
        levels = len(goals.background)
        markers = _update_markers(handle.markers, sentence, levels)
        return StateReached(make_state(goals, self._id, (*handle.path, sentence), markers))

    async def _check_qed(self, proc: CoqProcess, target: list[str], tactics: Sequence[str]
                         ) -> Outcome:
        """``Proved`` only if the kernel accepts the proof and it relies on nothing unsafe.

        "No goals left" is not enough: ``exact_no_check``, an unguarded ``fix`` or a universe
        inconsistency only fail at ``Qed``, and a definition of the prelude made with
        ``Unset Guard Checking`` only shows in ``Print Assumptions``. (Axioms need no check
        here: tactics cannot declare any, so every axiom the proof uses predates it;
        :func:`verify_proof` checks them all the same.) The document keeps the saved proof;
        the next call rewinds past it.
        """
        proof = [*target, *_closing_braces(tactics)]
        name, failed = await _save_proof(proc, proof, self.document.lemma_name,
                                         self.config.reply_timeout_s, self.config.coq_timeout)
        if failed is not None:
            if failed.timed_out:
                return TacticTimeout(f"Qed did not finish within Coq Timeout "
                                     f"{self.config.coq_timeout} s")
            return TacticError(f"no goals are left but Qed fails: {failed.message}")
        ok, text = await proc.query(f"Print Assumptions {name}.", self.config.reply_timeout_s)
        if not ok:
            return TacticError(f"no goals are left but Print Assumptions fails: {text}")
        _, unsafe = parse_assumptions(text)
        if unsafe:
            return TacticError(f"the proof relies on unsafe definitions: {'; '.join(unsafe)}")
        return Proved()

    # ---- verify -------------------------------------------------------------------------------
    def split_tactics(self, text: str) -> list[str]:
        return split_tactics(text)  # TODO(layout): this backend's own rules

    async def verify(self, tactics: Sequence[str]) -> bool:
        """Check ``tactics`` from scratch in a fresh process (see the module docstring)."""
        return (await verify_proof(self.config, self.document, tactics)).ok

    # ---- close --------------------------------------------------------------------------------
    async def close(self) -> None:
        self._closed = True
        if self._inflight and self._proc is not None:
            self._proc.kill()  # an exchange still running: its position is unknown
        for task in list(self._inflight):
            task.cancel()
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        if not self._released:
            self._released = True
            proc, self._proc = self._proc, None
            await self.env._pool.release(proc)


# ---- verification ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """The result of :func:`verify_proof`: ``ok`` and, if not, why; the axioms found."""

    ok: bool
    reason: str = ""
    axioms: tuple[str, ...] = field(default=())


_SAFE_HEADERS = ("Axioms:", "Section Variables:")
_KNOWN_HEADERS = (*_SAFE_HEADERS, "Transparent constants:", "Opaque constants:", "Theory:")
_AXIOM_LINE = re.compile(r"([^\s:]+)\s*:(?!=)")


def parse_assumptions(text: str) -> tuple[list[str], list[str]]:
    """Split ``Print Assumptions`` output into axiom names and unsafe entries.

    Coq 8.16 lists axioms as ``name : type`` under ``Axioms:``, and under the same header the
    checks a definition skipped: ``f is assumed to be guarded.``, ``I is assumed to be
    positive.``, ``c relies on an unsafe hierarchy.``. Those, a ``Theory:`` section
    (``-type-in-type``, ``-impredicative-set``), any other header and any line this parser
    does not understand are unsafe; only section variables and ``name : type`` axioms are not.
    """
    axioms: list[str] = []
    unsafe: list[str] = []
    header = ""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.strip() or line[0].isspace():
            continue  # a continuation line of a wrapped type
        stripped = line.strip()
        if "Closed under the global context" in stripped:
            continue
        if stripped in _KNOWN_HEADERS or (stripped.endswith(":")
                                          and not _AXIOM_LINE.fullmatch(stripped)):
            header = stripped
            if header not in _SAFE_HEADERS:
                unsafe.append(header)
            continue
        if header == "Section Variables:":
            continue
        if header != "Axioms:":
            if not unsafe or unsafe[-1] != header:
                unsafe.append(stripped)  # outside any section: not a format Coq 8.16 has
            continue
        m = _AXIOM_LINE.match(stripped)
        if m is not None:
            axioms.append(m.group(1))
        elif " " not in stripped and i + 1 < len(lines) and lines[i + 1].strip().startswith(":"):
            axioms.append(stripped)  # a long name: its ``: type`` wrapped to the next line
        else:
            unsafe.append(stripped)
    return axioms, unsafe


VERIFY_NAME = "seg_prover_verified_proof"
"""The name :func:`verify_proof` saves a proof under (``Save``), so that ``Print Assumptions``
judges that very proof: a ``Goal`` is otherwise ``Unnamed_thm``, ``Unnamed_thm0``, ... and a
guessed name could name an older constant."""


async def verify_proof(config: CoqConfig, document: CoqDocument, tactics: Sequence[str]
                       ) -> Verdict:
    """Check a proof in a fresh process: every tactic is one allowed tactic sentence, the goals
    are all closed, the proof is saved (``Save`` under :data:`VERIFY_NAME`, or ``Qed``), and
    every axiom in ``Print Assumptions`` of the saved constant already existed before the
    statement (it resolves, to the same constant, with the statement rewound)."""
    if isinstance(tactics, str):
        return Verdict(False, "a proof is a list of tactics, not one string")
    try:
        sentences = [check_tactic(t) for t in tactics]
    except ValueError as exc:
        return Verdict(False, f"refused: {exc}")
    if not sentences:
        return Verdict(False, "empty proof")
    # Each tactic runs under the same ``Timeout`` as in a session: a looping step fails fast.
    timed = [_timed(s, config.coq_timeout) for s in sentences]
    budget = config.reply_timeout_s * max(1, len(sentences))
    proc = CoqProcess(config.executable, (*config.args, *document.args))
    try:
        await proc.start()
        _, failed = await proc.sync(document.sentences, config.init_timeout_s,
                                    batch=config.batch)
        if failed is not None:
            return Verdict(False, f"prefix failed at sentence {failed.index}: {failed.message}")
        goals, failed = await proc.sync([*document.sentences, *timed], budget,
                                        batch=config.batch)
        if failed is not None:
            return Verdict(False, f"tactic {failed.index - len(document.sentences)} failed: "
                                  f"{failed.message}")
        if goals is None or goals.open_count or goals.shelved or goals.given_up:
            left = goals.open_count if goals is not None else "no proof open,"
            return Verdict(False, f"{left} goals left open")
        # Goals closed inside braces leave the focus open (Coq's Goal shows no difference):
        # close what the proof opened, as the session reported it proved already.
        proof = [*document.sentences, *timed, *_closing_braces(sentences)]
        name, failed = await _save_proof(proc, proof, document.lemma_name, budget)
        if failed is not None:
            return Verdict(False, f"Qed failed: {failed.message}")
        ok, text = await proc.query(f"Print Assumptions {name}.", config.init_timeout_s)
        if not ok:
            return Verdict(False, f"Print Assumptions failed: {text}")
        axioms, unsafe = parse_assumptions(text)
        if unsafe:
            return Verdict(False, f"unsafe assumptions: {', '.join(unsafe)}", tuple(axioms))
        after = {a: await _constant_of(proc, a, config) for a in (name, *axioms)}
        await proc.rewind(document.statement_index, config.reply_timeout_s)
        if after[name] is None or await _constant_of(proc, name, config) == after[name]:
            # The name resolved to a constant from before the statement: the assumptions
            # printed are not this proof's.
            return Verdict(False, f"cannot tell which constant the proof saved ({name})",
                           tuple(axioms))
        for axiom in axioms:
            before = await _constant_of(proc, axiom, config)
            if before is None or before != after[axiom]:
                return Verdict(False, f"axiom {axiom} is not from the statement's prelude",
                               tuple(axioms))
        return Verdict(True, axioms=tuple(axioms))
    except EnvironmentCrashError as exc:
        return Verdict(False, f"coqidetop failed: {exc}")
    finally:
        await proc.close()


async def _save_proof(proc: CoqProcess, proof: list[str], statement_name: str,
                      timeout_s: float, seconds: int | None = None
                      ) -> tuple[str, SentenceFailed | None]:
    """End the proof with ``Save`` under :data:`VERIFY_NAME` (``Timeout seconds`` when given);
    return the name the proof was saved under and the failure, if any.

    ``Save`` refuses a few statements (mutual ones); ``Qed`` then saves the proof under the
    statement's own name. A timed-out ``Save`` is not tried again.
    """
    save = f"Save {VERIFY_NAME}."
    qed = "Qed."
    if seconds is not None:
        save, qed = _timed(save, seconds), _timed(qed, seconds)
    _, failed = await proc.sync([*proof, save], timeout_s)
    if failed is None:
        return VERIFY_NAME, None
    if failed.timed_out:
        return VERIFY_NAME, failed
    _, failed = await proc.sync([*proof, qed], timeout_s)
    return statement_name, failed


async def _constant_of(proc: CoqProcess, name: str, config: CoqConfig) -> str | None:
    ok, text = await proc.query(f"Locate {name}.", config.init_timeout_s)
    if not ok:
        return None
    first = text.strip().splitlines()[0] if text.strip() else ""
    if first.startswith("No object") or not first:
        return None
    return first


__all__ = [
    "CoqConfig",
    "CoqDocument",
    "CoqEnvironment",
    "CoqHandle",
    "CoqSession",
    "VERIFY_NAME",
    "Verdict",
    "coq_available",
    "coq_lib_dir",
    "document_for",
    "make_state",
    "parse_assumptions",
    "project_args",
    "stdlib_theories",
    "verify_proof",
]
