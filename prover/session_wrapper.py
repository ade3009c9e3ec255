"""A session that forwards everything to another one: the base of every wrapper that watches or
shapes a session's calls (recording a trace, counting tactics, simulating a busy process)."""

from __future__ import annotations

from collections.abc import Sequence

from prover.env import Session, SessionBase
from prover.types import Outcome, ProofState


class SessionWrapper(SessionBase):
    """Forwards ``root``, ``apply``, ``split_tactics``, ``verify``, ``close`` and the wrapped
    session's own ``tactic_timeout_s`` to ``inner``; subclasses override what they watch.

    Forwarding ``tactic_timeout_s`` matters: the search adds its own watchdog only to
    sessions that declare no timeout of their own, and a wrapper that hid it would let that
    watchdog count the time a tactic waits behind others as its own.
    """

    def __init__(self, inner: Session) -> None:
        self.inner = inner

    @property
    def root(self) -> ProofState:
        return self.inner.root

    @property
    def tactic_timeout_s(self) -> float | None:
        value = getattr(self.inner, "tactic_timeout_s", None)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    async def apply(self, state: ProofState, tactic: str) -> Outcome:
        return await self.inner.apply(state, tactic)

    def split_tactics(self, text: str) -> list[str]:
        return self.inner.split_tactics(text)

    async def verify(self, tactics: Sequence[str]) -> bool:
        return await self.inner.verify(tactics)

    async def close(self) -> None:
        await self.inner.close()


__all__ = ["SessionWrapper"]
