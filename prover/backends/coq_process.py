"""One ``coqidetop`` process and its linear document.

The process keeps the sentences it has run (``document``: sentence text and state id). Moving to
another list of sentences rewinds with ``Edit_at`` to the longest common prefix and adds the
rest; adds are batched and executed by one ``Goal`` call, whose failure names the last good
state. A reply that does not come within its deadline kills the process (:class:`CoqHung`);
end of output is :class:`CoqDied`, an unparsable reply :class:`CoqBadReply`. All three leave the
process unusable: the owner starts another. The process runs in a process group of its own, and
killing it kills the group. Feedback before a reply is kept up to :data:`MAX_FEEDBACK_BYTES`.

Starting classifies failures: no such executable (or one that cannot be executed) is
:class:`~prover.errors.BackendUnavailableError`; a process that exits by itself before answering
``Init`` (bad flags, a broken installation) is :class:`CoqStartError`; one killed meanwhile is
:class:`CoqDied`, a passing crash worth a retry.

:meth:`CoqProcess.interrupt` stops the running execution without losing the process: coqidetop
turns ``SIGINT`` into a ``User interrupt.`` failure of the call it is executing, and the document
stays known. An interrupt can also outlive its call (one that arrives as the call ends, or the
next call after an interrupted one, measured on coqidetop 8.16): such a call fails at once with
``User interrupt.`` before doing anything, and is sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from prover.backends import coq_xml as xml
from prover.errors import BackendUnavailableError, EnvironmentCrashError, EnvironmentInitError

log = logging.getLogger(__name__)

BASE_ARGS: tuple[str, ...] = ("-main-channel", "stdfds", "-async-proofs", "off")
"""Flags every process gets: XML on stdin/stdout, sentences checked in order (no workers)."""


class CoqDied(EnvironmentCrashError):
    """The process closed its output (crash, kill, out of memory)."""


class CoqHung(EnvironmentCrashError):
    """No reply within the deadline; the process was killed."""


class CoqBadReply(EnvironmentCrashError):
    """A reply that cannot be parsed; the process was killed (its document is unknown)."""


class CoqStartError(EnvironmentInitError):
    """The process exited by itself, or answered nonsense, before ``Init`` succeeded: its flags
    or its installation are wrong (not a passing crash). ``returncode`` is its exit status."""

    def __init__(self, message: str, returncode: int | None = None) -> None:
        super().__init__(message)
        self.returncode = returncode


INTERRUPTED = "User interrupt."
"""The error text of a call that ``SIGINT`` stopped."""

_STALE_INTERRUPTS = 4
"""Times one call is sent when an interrupt meant for an earlier call stops it."""

INSTALL_HINT = ("install Coq 8.16 (apt-get install coq, or opam install coq.8.16.1), or name "
                "the binary with CoqConfig.executable (--backend-option executable=PATH)")


MAX_FEEDBACK_BYTES = 4 << 20
"""Feedback kept before one reply's ``<value>``: older ``<feedback>`` elements are dropped
(a tactic that prints megabytes of ``idtac`` output must not exhaust memory)."""

_FEEDBACK_START = b"<feedback "


@dataclass(frozen=True)
class SentenceFailed:
    """Running the document stopped at ``index`` (of the target list) with ``message``."""

    index: int
    message: str

    @property
    def timed_out(self) -> bool:
        return self.message.strip().rstrip(".!") in ("Timeout", "Timeout!") \
            or self.message.startswith("Timeout!")


class CoqProcess:
    """A running ``coqidetop`` with a linear document (see the module docstring)."""

    def __init__(self, executable: str = "coqidetop.opt", args: Sequence[str] = ()) -> None:
        self.executable = executable
        self.args = tuple(args)
        self.document: list[tuple[str, int]] = []
        self.root_state = 0
        self.calls = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._buffer = bytearray()
        self._stderr_tail = b""
        self._stderr_task: asyncio.Task[None] | None = None
        self._dead = False
        self._signalled = False
        self._executing = False  # a Goal call (the one that runs sentences) awaits its reply
        self._interrupting = False  # interrupt every execution until resume()
        self.stale_interrupts = 0  # calls sent again after an interrupt meant for another

    # ---- life cycle ------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        return (self._proc is not None and not self._dead
                and self._proc.returncode is None)

    async def start(self, timeout_s: float = 60.0) -> None:
        """Start the process and send ``Init`` (see the module docstring for the errors)."""
        path = shutil.which(self.executable)
        if path is None:
            raise BackendUnavailableError(f"{self.executable} not found on PATH (or not "
                                          f"executable): {INSTALL_HINT}")
        try:
            # A process group of its own: helpers coqidetop starts (``par:`` tactic workers,
            # native-compute compilers) die with it instead of running on as orphans.
            self._proc = await asyncio.create_subprocess_exec(
                path, *BASE_ARGS, *self.args, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                start_new_session=True)
        except OSError as exc:
            raise BackendUnavailableError(f"could not execute {path}: {exc}; {INSTALL_HINT}"
                                          ) from exc
        self._stderr_task = asyncio.ensure_future(self._drain_stderr())
        command = " ".join((path, *self.args))
        try:
            reply = await self.call(xml.init_call(), timeout_s)
        except CoqDied as exc:
            returncode = await self._exit_status()
            stderr = await self._stderr_text()
            await self.close()
            if returncode is not None and returncode >= 0:
                raise CoqStartError(f"{command} exited with status {returncode} before "
                                    f"answering Init" + (f": {stderr}" if stderr else ""),
                                    returncode) from exc
            raise  # killed by a signal while starting: a passing crash
        except EnvironmentCrashError as exc:  # no answer in time, or not the XML protocol
            await self.close()
            raise CoqStartError(f"{command} did not start: {exc}") from exc
        if not reply.good:
            await self.close()
            raise CoqStartError(f"{command}: Init failed: {reply.error}")
        self.root_state = xml.init_state(reply)
        self.document = []

    async def _stderr_text(self) -> str:
        """The end of what the process wrote to stderr, once it has all been read."""
        if self._stderr_task is not None:
            with contextlib.suppress(Exception):  # not read in time, or the read failed
                await asyncio.wait_for(asyncio.shield(self._stderr_task), 2.0)
        return self._stderr_tail.decode("utf-8", "replace").strip()[-500:]

    async def _exit_status(self) -> int | None:
        """The exit status of a process whose output ended (``None`` if it does not exit)."""
        if self._proc is None:
            return None
        try:
            return await asyncio.wait_for(self._proc.wait(), 2.0)
        except asyncio.TimeoutError:
            return None

    async def _drain_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        while True:
            chunk = await self._proc.stderr.read(4096)
            if not chunk:
                return
            self._stderr_tail = (self._stderr_tail + chunk)[-2000:]

    def kill(self) -> None:
        """Kill the process and its group at once (safe in any state, e.g. after a cancelled
        call, or after the process exited by itself while its helpers still run).

        Signals are sent once: ``Popen.kill`` on a process that just died would reap it
        behind asyncio's child watcher (which then reports exit status 255), and after the
        group is gone its id could in principle be reused.
        """
        self._dead = True
        if self._proc is None or self._signalled:
            return
        self._signalled = True
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # the whole group has exited already
        except PermissionError:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()

    async def close(self) -> None:
        """Kill the process and reap it. Idempotent."""
        self.kill()
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                await self._proc.wait()
        if self._stderr_task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._stderr_task, 1.0)
            self._stderr_task = None

    # ---- interrupts ------------------------------------------------------------------------
    def interrupt(self) -> None:
        """Stop the running execution, and any later one until :meth:`resume`, with ``SIGINT``:
        the call fails with ``User interrupt.``, the process and its document stay usable."""
        self._interrupting = True
        if self._executing:
            self._send_interrupt()

    def resume(self) -> None:
        """Let executions run again after :meth:`interrupt`."""
        self._interrupting = False

    def _send_interrupt(self) -> None:
        if self._proc is None or not self.alive:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._proc.pid, signal.SIGINT)  # coqidetop only: its workers ignore it

    # ---- one call --------------------------------------------------------------------------
    async def call(self, message: str, timeout_s: float, *, executes: bool = False
                   ) -> xml.Reply:
        """Send one call and read its reply; kill the process if none comes within timeout.

        ``executes``: the call runs sentences (``Goal``), the one :meth:`interrupt` stops. Any
        other call that fails with ``User interrupt.`` met an interrupt meant for an earlier
        call, which stopped it before it did anything: it is sent again.
        """
        for _ in range(_STALE_INTERRUPTS):
            if not executes:
                reply = await self._exchange(message, timeout_s)
            else:
                self._executing = True
                try:
                    reply = await self._exchange(message, timeout_s)
                finally:
                    self._executing = False
            if reply.good or not reply.error.startswith(INTERRUPTED) \
                    or (executes and self._interrupting):
                return reply
            self.stale_interrupts += 1
        return reply

    async def _exchange(self, message: str, timeout_s: float) -> xml.Reply:
        proc = self._proc
        if proc is None or not self.alive or proc.stdin is None or proc.stdout is None:
            raise CoqDied("coqidetop is not running")
        self.calls += 1
        try:
            # A lone surrogate cannot be encoded; replacing it keeps the XML stream valid.
            proc.stdin.write(message.encode("utf-8", errors="replace"))
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            self.kill()
            raise CoqDied(f"coqidetop closed its input: {exc}") from exc
        if self._executing and self._interrupting:
            self._send_interrupt()
        deadline = time.monotonic() + timeout_s
        stdout = proc.stdout
        buffer = self._buffer
        searched = 0  # the end marker is not in buffer[:searched]: scan only new bytes
        while (end := buffer.find(xml.REPLY_END, searched)) < 0:
            if len(buffer) > MAX_FEEDBACK_BYTES:
                _drop_old_feedback(buffer)
            searched = max(0, len(buffer) - len(xml.REPLY_END) + 1)
            try:
                chunk = await _read(stdout, max(deadline - time.monotonic(), 0.001))
            except asyncio.TimeoutError:
                self.kill()
                raise CoqHung(f"no reply from coqidetop within {timeout_s:.3g} s") from None
            except BaseException:
                self.kill()  # cancelled mid-read: the reply would be misattributed later
                raise
            if not chunk:
                self.kill()
                tail = self._stderr_tail.decode("utf-8", "replace").strip()
                raise CoqDied("coqidetop exited" + (f": {tail[-500:]}" if tail else ""))
            buffer += chunk
        end += len(xml.REPLY_END)
        raw = bytes(buffer[:end])
        del buffer[:end]
        try:
            reply = xml.parse_reply(raw)
        except EnvironmentCrashError as exc:
            self.kill()  # which sentence the reply belonged to, and what it said, is lost
            raise CoqBadReply(str(exc)) from exc
        return reply

    # ---- the document ------------------------------------------------------------------------
    def common_prefix(self, sentences: Sequence[str]) -> int:
        """How many leading sentences of ``sentences`` the document already holds."""
        k = 0
        for (done, _), wanted in zip(self.document, sentences):
            if done != wanted:
                break
            k += 1
        return k

    def state_after(self, k: int) -> int:
        """The state id after the first ``k`` sentences of the document."""
        return self.document[k - 1][1] if k else self.root_state

    async def rewind(self, k: int, timeout_s: float = 30.0) -> None:
        """Keep only the first ``k`` sentences of the document."""
        if k >= len(self.document):
            return
        reply = await self.call(xml.edit_at_call(self.state_after(k)), timeout_s)
        if not reply.good:
            self.kill()
            raise CoqDied(f"Edit_at failed: {reply.error}")
        del self.document[k:]

    async def sync(self, sentences: Sequence[str], timeout_s: float, *,
                   batch: int = 64) -> tuple[xml.Goals | None, SentenceFailed | None]:
        """Make the document equal to ``sentences`` and return the goals at its tip.

        On a failing sentence the document stops just before it and the failure is returned
        (with its index in ``sentences``). ``timeout_s`` bounds each ``Goal`` call, that is
        the execution of up to ``batch`` sentences.
        """
        k = self.common_prefix(sentences)
        await self.rewind(k, timeout_s)
        goals_reply: xml.Reply | None = None
        while k < len(sentences) or goals_reply is None:
            pending: list[str] = []
            add_error: SentenceFailed | None = None
            for index in range(k, min(len(sentences), k + batch)):
                on_top = self.state_after(len(self.document))
                reply = await self.call(xml.add_call(sentences[index], on_top), timeout_s)
                if not reply.good:
                    add_error = SentenceFailed(index, reply.error)
                    break
                self.document.append((sentences[index], xml.added_state(reply)))
                pending.append(sentences[index])
            goals_reply = await self.call(xml.goal_call(), timeout_s, executes=True)
            if not goals_reply.good:
                good = goals_reply.fail_state
                kept = next((i + 1 for i in range(len(self.document) - 1, -1, -1)
                             if self.document[i][1] == good), 0)
                kept = max(kept, k) if good is not None else k
                message = goals_reply.error or _last_error(goals_reply)
                if message.startswith(INTERRUPTED):
                    # The state an interrupted reply names as good may keep the interrupt as
                    # its error (every later call touching it fails so): drop the whole batch.
                    kept = k
                await self._edit_to(kept, timeout_s)
                return None, SentenceFailed(kept, message)
            k = len(self.document)
            if add_error is not None:
                return xml.parse_goals(goals_reply), add_error
        return xml.parse_goals(goals_reply), None

    async def _edit_to(self, k: int, timeout_s: float) -> None:
        reply = await self.call(xml.edit_at_call(self.state_after(k)), timeout_s)
        if not reply.good:
            self.kill()
            raise CoqDied(f"Edit_at failed: {reply.error}")
        del self.document[k:]

    async def query(self, sentence: str, timeout_s: float) -> tuple[bool, str]:
        """Run a command after the tip, collect its messages, and take it back out.

        Returns ``(ok, text)`` where text joins the notice-level messages (or the error).
        """
        k = len(self.document)
        reply = await self.call(xml.add_call(sentence, self.state_after(k)), timeout_s)
        if not reply.good:
            return False, reply.error
        self.document.append((sentence, xml.added_state(reply)))
        result = await self.call(xml.goal_call(), timeout_s, executes=True)
        # A command's output is its notice-level messages; "info" (``Fetching opaque proofs
        # from disk ...``) and warnings are Coq talking about itself.
        messages = (*reply.messages, *result.messages)
        text = "\n".join(m for level, m in messages if level == "notice")
        if not result.good:
            await self._edit_to(k, timeout_s)
            return False, result.error or _last_error(result)
        await self.rewind(k, timeout_s)
        return True, text


async def _read(stdout: asyncio.StreamReader, timeout_s: float) -> bytes:
    """Read a chunk within ``timeout_s`` (TimeoutError after). On Python 3.11+ through
    ``asyncio.timeout``: 3.11's ``wait_for`` returns the result and drops a cancellation that
    arrives just as the read completes, and a lost cancel let a closed session's exchange go
    on (and restart its process)."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(timeout_s):
            return await stdout.read(1 << 16)
    return await asyncio.wait_for(stdout.read(1 << 16), timeout_s)


def _drop_old_feedback(buffer: bytearray) -> None:
    """Delete whole ``<feedback>`` elements from the front of ``buffer`` until at most about
    :data:`MAX_FEEDBACK_BYTES` / 2 remain.

    Cutting just before a ``<feedback `` tag keeps the rest well-formed: message text is
    escaped, so that tag only ever starts an element, and feedback elements do not nest.
    """
    cut = buffer.find(_FEEDBACK_START, len(buffer) - MAX_FEEDBACK_BYTES // 2)
    if cut > 0:
        del buffer[:cut]


def _last_error(reply: xml.Reply) -> str:
    errors = [text for level, text in reply.messages if level == "error"]
    return errors[-1] if errors else "unknown error"


__all__ = ["BASE_ARGS", "INSTALL_HINT", "INTERRUPTED", "MAX_FEEDBACK_BYTES", "CoqBadReply",
           "CoqDied", "CoqHung", "CoqProcess", "CoqStartError", "SentenceFailed"]
