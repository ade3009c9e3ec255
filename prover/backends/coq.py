"""Coq 8.16 as a proof environment, over ``coqidetop``'s XML protocol.

A :class:`CoqEnvironment` hands out one ``coqidetop`` process per session from a bounded pool
(:mod:`~prover.backends.coq_pool`); a process keeps its document after the session ends, so the
next theorem of the same file only adds the sentences past the common prefix. What a session
replays comes from the theorem's locator (:mod:`~prover.backends.coq_documents`: a file and
statement index, a stdlib file, or a prelude/header with the statement).

Safety: a candidate must be exactly one tactic sentence; vernacular (``Qed``, ``Admitted``,
``Axiom``, ``Require``, ``Set``, ...), ``admit``, ``give_up`` and the ``par:`` selector are
refused before they reach Coq (:func:`~prover.backends.coq_sentences.check_tactic`), and so is a
state whose handle belongs to another session (of any environment) or whose path is not made of
such sentences. ``apply`` reports :class:`Proved` only when no goal is left (shelved goals
count), the proof passes the kernel (it is saved, then taken back) and ``Print Assumptions``
lists nothing unsafe. Each tactic runs under Coq's ``Timeout`` (``tactic_timeout_s``, from
``--tactic-timeout`` on the command line), counted from when it starts running; see
:mod:`~prover.backends.coq_session` for restarts, interrupts and ``close``. ``verify`` checks a
proof in a fresh process (:mod:`~prover.backends.coq_verify`).

A backend that cannot start at all (no ``coqidetop.opt`` on PATH, a binary that cannot run or
exits at once with the backend's own flags) raises
:class:`~prover.errors.BackendUnavailableError` from ``open``, with what to fix.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

from prover.backends.coq_config import (
    HAMMER_PRELUDE,
    OFFLOAD_CHARS,
    CoqConfig,
    coq_lib_dir,
    stdlib_theories,
)
from prover.backends.coq_documents import (
    CoqDocument,
    document_cost,
    document_for,
    file_args,
    project_args,
)
from prover.backends.coq_pool import CoqPool
from prover.backends.coq_sentences import Sentence
from prover.backends.coq_session import CoqSession
from prover.backends.coq_states import CoqHandle, make_state
from prover.backends.coq_verify import VERIFY_NAME, Verdict, parse_assumptions, verify_proof
from prover.errors import ConfigError
from prover.types import Theorem

# Session ids are unique in the process, not per environment: a state of a session of one
# environment must not pass for a state of another environment's session with the same number.
_SESSION_IDS = itertools.count(1)


class CoqEnvironment:
    """Coq sessions over a pool of ``coqidetop`` processes (see the module docstring).

    ``CoqEnvironment(tactic_timeout_s=10)`` is ``CoqEnvironment(CoqConfig(tactic_timeout_s=10))``.
    Use one environment per event loop and ``await env.close()`` at the end.
    """

    def __init__(self, config: CoqConfig | None = None, **overrides: Any) -> None:
        if config is not None and overrides:
            raise ConfigError("pass either a CoqConfig or keyword overrides, not both")
        for key in ("args", "prelude"):
            if key in overrides and isinstance(overrides[key], list):
                overrides[key] = tuple(overrides[key])  # JSON (--backend-option) has lists
        if overrides.pop("hammer", False):  # `--backend coq#hammer=true`: CoqHammer's tactics
            overrides["prelude"] = (*overrides.get("prelude", ()), *HAMMER_PRELUDE)
        self.config = config or CoqConfig(**overrides)
        self._pool = CoqPool(self.config)
        self._files: dict[Path, list[Sentence]] = {}

    @property
    def tactic_timeout_s(self) -> float:
        """Seconds of Coq's own ``Timeout`` per tactic, counted from when the tactic runs (so a
        search adds no watchdog of its own, see ``SearchConfig.tactic_timeout_s``)."""
        return float(self.config.coq_timeout)

    @property
    def processes_started(self) -> int:
        """How many processes the pool has started for sessions (restarts not included)."""
        return self._pool.started

    def document(self, theorem: Theorem) -> CoqDocument:
        """The sentences a session on ``theorem`` replays (file sentences are cached)."""
        return document_for(theorem, self._files, self.config)

    async def open(self, theorem: Theorem) -> CoqSession:
        if document_cost(theorem) > OFFLOAD_CHARS:  # files and long preludes: off the loop
            document = await asyncio.to_thread(self.document, theorem)
        else:
            document = self.document(theorem)
        proc = await self._pool.acquire(document.args, document.sentences)
        session = CoqSession(self._pool, theorem, document, proc, next(_SESSION_IDS))
        try:
            await session.start()
        except BaseException:
            await session.close()
            raise
        return session

    async def close(self) -> None:
        await self._pool.close()


__all__ = [
    "VERIFY_NAME",
    "CoqConfig",
    "CoqDocument",
    "CoqEnvironment",
    "CoqHandle",
    "CoqSession",
    "Verdict",
    "coq_lib_dir",
    "document_for",
    "file_args",
    "make_state",
    "parse_assumptions",
    "project_args",
    "stdlib_theories",
    "verify_proof",
]
