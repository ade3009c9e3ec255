"""Settings of the Coq backend, and where Coq is installed."""

from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from prover.errors import BackendUnavailableError, ConfigError

OFFLOAD_CHARS = 4096
"""Texts longer than this are split and checked in a worker thread, not on the event loop (a
linear scan of 4 KB takes about 1-3 ms; of 400 KB, 0.1-0.3 s)."""


@dataclass(frozen=True)
class CoqConfig:
    """Settings of a :class:`~prover.backends.coq.CoqEnvironment`.

    - ``executable``: the ``coqidetop`` binary (``coqidetop.opt``).
    - ``args``: extra command-line flags for every process (``-R``/``-Q`` load paths).
    - ``tactic_timeout_s``: each tactic runs under Coq's ``Timeout ceil(tactic_timeout_s)``
      (5 s), counted by Coq from when the tactic starts running, never while it waits behind
      another tactic of the session. The CLI sets it from ``--tactic-timeout``.
    - ``grace_s``: a reply later than the Coq timeout plus this kills the process (5 s).
    - ``init_timeout_s``: bound on executing one batch of a file prefix (120 s).
    - ``max_processes``: processes alive at once, i.e. concurrent sessions (2).
    - ``max_restarts``: crashes one session (open and prefix replay included) or one
      ``verify`` may recover from before it gives up with EnvironmentCrashError (3).
    - ``batch``: sentences added before one ``Goal`` executes them when replaying (64).
    - ``max_tactic_chars``: longer candidates are refused as a TacticError, unsent (16,384;
      the longest proof sentence of the Coq 8.16 stdlib has 3,853 characters).
    - ``max_statement_chars``: a longer statement is an EnvironmentInitError (65,536; the
      longest stdlib statement has 703).
    - ``prelude``: sentences run right before every theorem's statement (after its file
      prefix or header), e.g. :data:`HAMMER_PRELUDE` to make CoqHammer's tactics available.
    """

    executable: str = "coqidetop.opt"
    args: tuple[str, ...] = ()
    tactic_timeout_s: float = 5.0
    grace_s: float = 5.0
    init_timeout_s: float = 120.0
    max_processes: int = 2
    max_restarts: int = 3
    batch: int = 64
    max_tactic_chars: int = 16_384
    max_statement_chars: int = 65_536
    prelude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.args, str) or not isinstance(self.args, tuple):
            raise ConfigError(f"CoqConfig.args must be a tuple of strings, got {self.args!r}")
        if isinstance(self.prelude, str) or not isinstance(self.prelude, tuple) or not all(
                isinstance(s, str) and s.strip().endswith(".") for s in self.prelude):
            raise ConfigError(f"CoqConfig.prelude must be a tuple of Coq sentences (each "
                              f"ending with '.'), got {self.prelude!r}")
        for name in ("tactic_timeout_s", "grace_s", "init_timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
                    or not math.isfinite(value):
                raise ConfigError(f"CoqConfig.{name} must be a finite number > 0, got {value!r}")
        for name in ("max_processes", "batch", "max_tactic_chars", "max_statement_chars"):
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


HAMMER_PRELUDE: tuple[str, ...] = ("From Hammer Require Import Tactics.",)
"""CoqHammer's reconstruction tactics (``sauto``, ``hauto``, ``qauto``...; no external prover),
from Debian's ``libcoq-hammer`` (``apt-get install -y libcoq-hammer``)."""


def hammer_available(executable: str = "coqc") -> bool:
    """Whether CoqHammer's tactics library is installed beside Coq's standard library."""
    try:
        user = coq_lib_dir() / "user-contrib" / "Hammer"
    except BackendUnavailableError:
        return False
    return (user / "Tactics").is_dir() or any(user.glob("**/Tactics.vo"))


@lru_cache(maxsize=1)
def coq_lib_dir() -> Path:
    """``$(coqc -where)``: where the standard library lives."""
    exe = shutil.which("coqc")
    if exe is None:
        raise BackendUnavailableError("coqc not found on PATH (install Coq 8.16: "
                                      "apt-get install -y coq)")
    out = subprocess.run([exe, "-where"], capture_output=True, text=True, check=True, timeout=30)
    return Path(out.stdout.strip())


def stdlib_theories() -> Path:
    """``$(coqc -where)/theories``: the sources of the standard library."""
    return coq_lib_dir() / "theories"


__all__ = ["HAMMER_PRELUDE", "OFFLOAD_CHARS", "CoqConfig", "coq_lib_dir", "hammer_available",
           "stdlib_theories"]
