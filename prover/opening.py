"""Opening a session within a time bound, apart from the search's own time.

``Environment.open`` may wait for a free prover process (a pool smaller than the number of
searches in flight) and then start one and replay the file up to the theorem. That time is not
the search's: :class:`~prover.search.BestFirstSearch` starts its clock once the session is open,
reports the open time as ``SearchStats.open_s`` and bounds it by ``SearchConfig.open_timeout_s``
with :func:`open_session`.
"""

from __future__ import annotations

import asyncio
import logging
import math

from prover.env import Environment, Session
from prover.errors import EnvironmentInitError
from prover.types import Theorem

log = logging.getLogger(__name__)


class OpenTimeout(EnvironmentInitError):
    """``Environment.open`` did not finish within the bound; the search turns it into an
    ``error`` result that says so (a passing condition: a resumed benchmark runs it again)."""


class SessionOpener:
    """Runs ``env.open`` in a task of its own, so that a timeout cancels the open only (never
    leaving a cancel pending on the caller's task), and closes a session that arrives after its
    caller has gone (cancelled just as the open finished)."""

    def __init__(self) -> None:
        self._closing: set[asyncio.Task[None]] = set()

    async def open(self, env: Environment, theorem: Theorem, timeout_s: float | None) -> Session:
        """``env.open(theorem)``; :class:`OpenTimeout` when it takes more than ``timeout_s``
        seconds (``None``: no bound). A session that arrives as the bound fires is used."""
        task: asyncio.Future[Session] = asyncio.ensure_future(env.open(theorem))
        bound = None if timeout_s is None or math.isinf(timeout_s) else timeout_s
        try:
            done, _ = await asyncio.wait((task,), timeout=bound)
            if not done:
                task.cancel()  # the environment cleans up its half-open session
                await asyncio.wait((task,))
                if task.cancelled() or task.exception() is not None:
                    raise OpenTimeout(f"opening the session took more than {timeout_s:g} s "
                                      f"(open_timeout_s: waiting for a free prover process "
                                      f"and starting it)")
        except BaseException:  # cancelled from outside (or the OpenTimeout above)
            if not task.done():
                task.cancel()
            task.add_done_callback(self._close_late)
            raise
        return task.result()

    def _close_late(self, task: asyncio.Future[Session]) -> None:
        if task.cancelled() or task.exception() is not None:
            return
        closing = asyncio.ensure_future(_close_quietly(task.result()))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)


async def _close_quietly(session: Session) -> None:
    try:
        await session.close()
    except Exception:  # nobody is left to report to: the search was cancelled or timed out
        log.debug("closing a session that was opened too late failed", exc_info=True)


__all__ = ["OpenTimeout", "SessionOpener"]
