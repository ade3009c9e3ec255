"""One attempt at one Coq theorem, on one ``coqidetop`` process of the pool.

A session's document is linear while the search is a tree: every state carries its tactic path
from the root in its handle, and ``apply`` rewinds to the nearest common ancestor and re-adds
the rest of the path before the new tactic (:meth:`CoqProcess.sync`).

Tactics of one session run one at a time (a lock): an ``apply`` waits for its turn, and Coq's
``Timeout`` (``CoqConfig.tactic_timeout_s``) starts only when the tactic runs, so a queued tactic
is never reported as timed out. An ``apply`` whose caller gives up while it still waits is
dropped before it reaches Coq; one already running finishes (bounded by the timeout), so the
document stays known.

Failures: a process that dies (during open, the prefix replay or a tactic) is restarted and the
prefix replayed, at most ``max_restarts`` times per session, then EnvironmentCrashError; one
that gives no answer within the timeout plus ``grace_s`` is killed (a TacticTimeout, not a
crash). ``close`` never kills a healthy process: waiting tactics are dropped, a running one is
interrupted (SIGINT, the process stays usable) and the process goes back to the pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from prover.backends import coq_xml as xml
from prover.backends.coq_config import OFFLOAD_CHARS
from prover.backends.coq_documents import CoqDocument
from prover.backends.coq_layout import split_tactics
from prover.backends.coq_process import CoqBadReply, CoqDied, CoqHung, CoqProcess
from prover.backends.coq_sentences import check_tactic
from prover.backends.coq_states import CoqHandle, closing_braces, make_state, timed, update_markers
from prover.backends.coq_verify import parse_assumptions, save_proof, verify_proof
from prover.env import SessionBase
from prover.errors import EnvironmentCrashError, EnvironmentInitError
from prover.types import (
    Outcome,
    ProofState,
    Proved,
    StateReached,
    TacticError,
    TacticTimeout,
    Theorem,
)

if TYPE_CHECKING:
    from prover.backends.coq_pool import CoqPool

log = logging.getLogger(__name__)


class CoqSession(SessionBase):
    """One attempt at one theorem (see the module docstring). Made by
    :meth:`~prover.backends.coq.CoqEnvironment.open`."""

    def __init__(self, pool: CoqPool, theorem: Theorem, document: CoqDocument,
                 proc: CoqProcess | None, ident: int) -> None:
        self.pool = pool
        self.config = pool.config
        self.theorem = theorem
        self.document = document
        self.restarts = 0
        self.kills = 0
        # Why this session last stopped its process on purpose (a timeout, a bad reply, a
        # cancel): the restart that follows is logged as that, not as a crash.
        self._stopped_for: str | None = None
        self.tactics_run = 0
        self._proc = proc
        self._spawned = proc is not None  # a process was handed over or started already
        self._id = ident
        self._lock = asyncio.Lock()
        self._inflight: set[asyncio.Task[Outcome]] = set()
        self._running: asyncio.Task[Outcome] | None = None  # the exchange holding the lock
        self._checked: set[str] = set()  # sentences check_tactic returned in this session
        self._root: ProofState | None = None
        self._closed = False
        self._released = False

    # ---- set-up ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Replay the document (restarting a process that dies meanwhile) and read the root."""
        goals = await self._replay_base()
        if goals is None or (goals.open_count == 0 and not goals.shelved):
            raise EnvironmentInitError(f"{self.theorem.name}: the statement opened no proof "
                                       f"({self.document.statement[:200]!r})")
        self._root = make_state(goals, self._id, ())

    @property
    def root(self) -> ProofState:
        if self._root is None:
            raise EnvironmentInitError("session not started")
        return self._root

    @property
    def pid(self) -> int | None:
        """The pid of the current process (tests kill it to check recovery)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def tactic_timeout_s(self) -> float:
        """The session's own per-tactic timeout (Coq's ``Timeout``), counted from when the
        tactic starts running: the search needs no watchdog of its own around ``apply``."""
        return float(self.config.coq_timeout)

    async def _replay_base(self) -> xml.Goals | None:
        """Replay the document on the current process, starting one where there is none or it
        died, until one survives the replay (each replacement counts as a restart)."""
        while True:
            if self._closed:
                raise EnvironmentCrashError(f"{self.theorem.name}: the session is closed")
            try:
                proc = self._proc
                if proc is None or not proc.alive:
                    proc = await self._spawn()
                return await self._load_base(proc)
            except CoqDied as exc:
                self._log_restart(exc, "while opening")

    async def _spawn(self) -> CoqProcess:
        restart = self._spawned
        self._spawned = True
        if restart:
            if self._stopped_for is not None:
                log.info("%s: restarting coqidetop after %s (stopped on purpose, not a crash); "
                         "replaying the file prefix", self.theorem.name, self._stopped_for)
                self._stopped_for = None
            self.restarts += 1
            # Processes this session killed on purpose (no answer in time) are not counted.
            if self.restarts - self.kills > self.config.max_restarts:
                raise EnvironmentCrashError(
                    f"{self.theorem.name}: coqidetop died {self.restarts - self.kills} times "
                    f"(max_restarts {self.config.max_restarts}); giving up")
        if self._proc is not None:
            await self._proc.close()
        self._proc = None
        self._proc = await self.pool.spawn(self.document.args, restart=restart)
        return self._proc

    async def _load_base(self, proc: CoqProcess) -> xml.Goals | None:
        try:
            goals, failed = await proc.sync(self.document.sentences, self.config.init_timeout_s,
                                            batch=self.config.batch)
        except (CoqHung, CoqBadReply) as exc:
            raise EnvironmentInitError(f"{self.theorem.name}: replaying the file prefix "
                                       f"failed: {exc}") from exc
        if failed is not None:
            sentence = self.document.sentences[failed.index]
            raise EnvironmentInitError(
                f"{self.theorem.name}: sentence {failed.index} of the prefix failed: "
                f"{sentence[:120]!r}: {failed.message[:500]}")
        return goals

    # ---- apply --------------------------------------------------------------------------------
    def split_tactics(self, text: str) -> list[str]:
        """Coq sentences, bullets and braces apart (:func:`~prover.backends.coq_layout.
        split_tactics`); text over ``max_tactic_chars`` stays whole (and is refused)."""
        return split_tactics(text, self.config.max_tactic_chars)

    async def apply(self, state: ProofState, tactic: str) -> Outcome:
        handle = getattr(state, "handle", None)
        if not isinstance(handle, CoqHandle) or handle.owner != self._id:
            return TacticError("the state does not belong to this session")
        if not self._checked_path(handle.path):
            # The path is replayed as it is: a hand-made handle must not smuggle vernacular.
            return TacticError("the state's tactic path holds a sentence that is not one "
                               "allowed tactic")
        if isinstance(tactic, str) and len(tactic) > self.config.max_tactic_chars:
            return TacticError(f"refused: the tactic has {len(tactic)} characters, more than "
                               f"CoqConfig.max_tactic_chars = {self.config.max_tactic_chars}")
        try:
            if isinstance(tactic, str) and len(tactic) > OFFLOAD_CHARS:
                sentence = await asyncio.to_thread(check_tactic, tactic)
            else:
                sentence = check_tactic(tactic)
        except ValueError as exc:
            return TacticError(f"refused: {exc}")
        self._checked.add(sentence)
        if self._closed:
            raise EnvironmentCrashError(f"{self.theorem.name}: the session is closed")
        # The exchange runs as its own task: if the caller is cancelled (a sibling proved the
        # node, the deadline), a running exchange still finishes under the lock and the
        # document stays known; a waiting one is dropped before it reaches Coq.
        task = asyncio.ensure_future(self._apply_locked(handle, sentence))
        self._inflight.add(task)
        task.add_done_callback(self._forget)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if self._running is not task:
                task.cancel()
            # ``Task.cancelling`` is Python 3.11+; before, a closed session is the best sign.
            cancelling = getattr(asyncio.current_task(), "cancelling", None)
            caller_cancelled = cancelling() > 0 if callable(cancelling) else not self._closed
            if task.cancelled() and not caller_cancelled:
                # ``close`` cancelled the exchange, not our caller: that is an error of the
                # session, which a caller can handle, not a cancellation it never asked for.
                raise EnvironmentCrashError(f"{self.theorem.name}: the session was closed "
                                            f"while the tactic waited") from None
            raise

    def _checked_path(self, path: Sequence[str]) -> bool:
        """Whether every sentence of a handle's path is a tactic :func:`check_tactic` returns
        unchanged (states the session made always are; a hand-made handle may not be)."""
        for sentence in path:
            if sentence in self._checked:
                continue
            try:
                if not isinstance(sentence, str) or check_tactic(sentence) != sentence:
                    return False
            except ValueError:
                return False
        return True

    def _forget(self, task: asyncio.Task[Outcome]) -> None:
        self._inflight.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved, so an orphaned failure is not reported twice

    async def _apply_locked(self, handle: CoqHandle, sentence: str) -> Outcome:
        async with self._lock:
            self._running = asyncio.current_task()
            try:
                outcome = await self._exchange(handle, sentence)
            finally:
                self._running = None
        if self._closed:
            # Interrupted by ``close``, or answered just as it came: nobody may use it.
            raise EnvironmentCrashError(f"{self.theorem.name}: the session was closed while "
                                        f"the tactic ran")
        return outcome

    async def _exchange(self, handle: CoqHandle, sentence: str) -> Outcome:
        for attempt in range(2):
            try:
                return await self._run(handle, sentence)
            except CoqHung:
                self.kills += 1
                self._stopped_for = (f"a tactic timeout (no answer within "
                                     f"{self.config.reply_timeout_s:.3g} s)")
                return TacticTimeout(f"coqidetop gave no answer within "
                                     f"{self.config.reply_timeout_s:.3g} s (restarted)")
            except CoqBadReply as exc:
                # Deterministic for this tactic: a retry would fail again and spend a
                # restart; the process was killed, the next call starts a fresh one.
                self.kills += 1
                self._stopped_for = "an unreadable reply"
                return TacticError(f"unreadable reply from coqidetop (restarted): {exc}")
            except CoqDied as exc:
                if self._closed:
                    break
                self._log_restart(exc, "running a tactic")
                if attempt == 1:
                    return TacticError(f"coqidetop died running this tactic: {exc}")
            except asyncio.CancelledError:
                if self._proc is not None and self._proc.alive:
                    # Its document position is unknown now. A kill on purpose is no crash:
                    # it does not use up max_restarts.
                    self._proc.kill()
                    self.kills += 1
                    self._stopped_for = "a cancelled tactic (a timeout of the caller)"
                raise
        raise EnvironmentCrashError(f"{self.theorem.name}: the session was closed while the "
                                    f"tactic ran")

    def _log_restart(self, exc: CoqDied, doing: str) -> None:
        """A process gone: after a stop on purpose (timeout) that is a restart, logged at
        INFO as such; otherwise a crash, a warning."""
        if self._stopped_for is not None:
            log.info("%s: coqidetop restarts after %s (stopped on purpose, not a crash)",
                     self.theorem.name, self._stopped_for)
        else:
            log.warning("%s: coqidetop died %s (%s); restarting", self.theorem.name, doing, exc)

    async def _ensure_process(self) -> CoqProcess:
        if self._proc is None or not self._proc.alive:
            await self._replay_base()
        if self._closed or self._proc is None:
            raise EnvironmentCrashError(f"{self.theorem.name}: the session is closed")
        return self._proc

    async def _run(self, handle: CoqHandle, sentence: str) -> Outcome:
        proc = await self._ensure_process()
        base = self.document.sentences
        seconds = self.config.coq_timeout
        path = [timed(s, seconds) for s in handle.path]
        target = [*base, *path, timed(sentence, seconds)]
        goals, failed = await proc.sync(target, self.config.reply_timeout_s,
                                        batch=self.config.batch)
        self.tactics_run += 1
        if failed is not None:
            if failed.index < len(base) + len(path):
                return TacticError(f"could not rebuild the state (sentence {failed.index}): "
                                   f"{failed.message}")
            if failed.timed_out:
                return TacticTimeout(f"Coq Timeout {seconds} s")
            return TacticError(failed.message or "error")
        if goals is None:
            return TacticError("no proof is open after this tactic")
        if goals.given_up:
            return TacticError("the tactic gave up goals")
        if goals.open_count == 0 and not goals.shelved:
            return await self._check_qed(proc, target, (*handle.path, sentence))
        levels = len(goals.background)
        markers = update_markers(handle.markers, sentence, levels)
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
        proof = [*target, *closing_braces(tactics)]
        name, failed = await save_proof(proc, proof, self.document.lemma_name,
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
    async def verify(self, tactics: Sequence[str]) -> bool:
        """Check ``tactics`` from scratch in a fresh process (:func:`verify_proof`); a crash is
        retried, then raised as EnvironmentCrashError, never answered ``False``."""
        return (await verify_proof(self.config, self.document, tactics)).ok

    # ---- close --------------------------------------------------------------------------------
    async def close(self) -> None:
        """Drop waiting tactics, interrupt the running one, and hand the process back to the
        pool, alive (see the module docstring). Idempotent."""
        self._closed = True
        running = self._running
        for task in list(self._inflight):
            if task is not running:
                task.cancel()
        proc = self._proc
        if running is not None and proc is not None:
            proc.interrupt()
        try:
            if self._inflight:
                await asyncio.gather(*self._inflight, return_exceptions=True)
        finally:
            if not self._released:
                self._released = True
                proc, self._proc = self._proc, None
                if proc is not None:
                    if any(not task.done() for task in self._inflight):
                        proc.kill()  # still busy (close itself was cancelled): not reusable
                    proc.resume()
                await self.pool.release(proc)


__all__ = ["CoqSession"]
