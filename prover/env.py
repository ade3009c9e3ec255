"""The environment protocols every backend implements.

An :class:`Environment` opens one :class:`Session` per theorem attempt. A session applies tactics
to states it handed out (its root or states reached from it), in any order: the search jumps
between branches, so a backend with a linear document (Coq) must re-position itself.
A failed tactic is an :data:`~prover.types.Outcome` value; a dead prover process that cannot be
recovered raises :class:`~prover.errors.EnvironmentCrashError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Protocol, TypeVar, runtime_checkable

from prover.types import Outcome, ProofState, Theorem

S = TypeVar("S")


@runtime_checkable
class Session(Protocol):
    """One attempt at one theorem. Use as ``async with await env.open(thm) as session``."""

    @property
    def root(self) -> ProofState:
        """The initial proof state of the theorem."""
        ...

    async def apply(self, state: ProofState, tactic: str) -> Outcome:
        """Run ``tactic`` on ``state`` (a state this session returned) and report the outcome."""
        ...

    def split_tactics(self, text: str) -> list[str]:
        """The tactics a candidate's text applies, in order, by this backend's language rules.

        Tactic layout belongs to the backend (DESIGN.md): Lean layout for the Lean backends,
        Coq sentences for Coq. Text that cannot be split with confidence is one tactic; blank
        text is no tactic. The search never splits a candidate itself.
        """
        ...

    async def verify(self, tactics: Sequence[str]) -> bool:
        """Check the whole proof from scratch; True only if it is complete and sound."""
        ...

    async def close(self) -> None:
        """Release the session's prover resources. Idempotent."""
        ...

    async def __aenter__(self: S) -> S: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class Environment(Protocol):
    """A source of proof sessions (LeanDojo, the Lean REPL, Coq, a recorded trace)."""

    async def open(self, theorem: Theorem) -> Session:
        """Start a session on ``theorem``; raises EnvironmentInitError if that is impossible."""
        ...

    async def close(self) -> None:
        """Release pooled processes. Idempotent."""
        ...


class SessionBase:
    """Mixin giving a session the async-context-manager methods in terms of ``close()``, and
    the layout of a backend that knows no language rules: a candidate is one tactic."""

    def split_tactics(self, text: str) -> list[str]:
        stripped = text.strip()
        return [stripped] if stripped else []

    async def close(self) -> None:  # pragma: no cover - overridden
        return None

    async def __aenter__(self: S) -> S:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


__all__ = ["Environment", "Session", "SessionBase"]
