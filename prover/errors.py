"""The one exception hierarchy of seg-prover.

::

    ProverError
    ├── EnvironmentInitError    a prover process or repository could not be started
    │   └── BackendUnavailableError   the backend cannot start at all (no lake/coqidetop,
    │                                 a bad executable): permanent, a benchmark run stops
    ├── EnvironmentCrashError   a prover process died and could not be recovered
    ├── DataFormatError         a bad record in an input file (path, line, field)
    ├── ConfigError             an invalid configuration value
    └── GeneratorError          a tactic generator failed (model error, bad server reply)

A failed *tactic* is not an exception: it is a :class:`prover.types.TacticError` value.
"""

from __future__ import annotations

from pathlib import Path


class ProverError(Exception):
    """Base class of every error raised by seg-prover."""


class EnvironmentInitError(ProverError):
    """A proof environment could not be opened (process start, tracing, bad theorem)."""


class BackendUnavailableError(EnvironmentInitError):
    """The backend cannot start for any theorem (its executable or toolchain is missing or
    broken). Unlike a passing crash this is permanent: retrying or moving on to the next
    theorem cannot help, so ``bench`` stops before writing a row."""


class EnvironmentCrashError(ProverError):
    """A prover process crashed and the bounded recovery (restart + replay) gave up."""


class ConfigError(ProverError):
    """A configuration value is out of range or inconsistent."""


class GeneratorError(ProverError):
    """A tactic generator failed: the model raised, or a server answered badly."""


class DataFormatError(ProverError):
    """A record in an input file is malformed.

    ``path``, ``line`` (1-based, or ``None`` for whole-file problems) and ``field`` (or ``None``)
    are attributes and are all part of the message.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.reason = message
        where = self.path or "<input>"
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {message}")


__all__ = [
    "BackendUnavailableError",
    "ConfigError",
    "DataFormatError",
    "EnvironmentCrashError",
    "EnvironmentInitError",
    "GeneratorError",
    "ProverError",
]
