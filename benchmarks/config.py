"""What a benchmark run is: the experiment's configuration and its hash.

A :class:`BenchConfig` holds the specs of the suite, backend, generator, heuristic and rollout,
plus the search budgets, so it can be written to ``RUN_DIR/config.json``, compared on resume,
hashed into every result row, and shipped to Ray workers that rebuild the same components. The
generator and the heuristic may also be objects (the library API): they are recorded by their
class (``object:module.Class``), so a change of their settings is not seen on resume, and Ray
ships them to its workers pickled. How a run is *executed* (concurrency, Ray, the progress
bar) is not part of it: changing that never changes a result.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prover.config import SearchConfig
from prover.errors import ConfigError

if TYPE_CHECKING:
    from heuristics.base import Heuristic
    from prover.generators.base import TacticGenerator

CONFIG_FORMAT = 1
"""Version of the ``config.json`` layout."""


@dataclass(frozen=True)
class BenchConfig:
    """The experiment of one benchmark run.

    - ``suite``: a JSONL file of theorems (miniF2F style), a trace file (its theorems), or a named
      suite (``coq-stdlib``, ``coq-stdlib:SPLIT``).
    - ``backend``: ``leandojo``, ``repl``, ``coq``, ``replay``, or ``module:callable`` /
      ``path/file.py:callable`` returning an :class:`~prover.env.Environment`.
    - ``backend_options``: keyword arguments for the backend's constructor (JSON values).
    - ``generator``: a generator spec (``hf:PATH``, ``openai:URL``, ``knn:TRACES``, ``fixed:FILE``,
      :mod:`prover.specs`), or a TacticGenerator object.
    - ``heuristic``: ``cumulative``, ``normalized[:ALPHA]``, ``progress[:PATH]``, a dotted path,
      or a Heuristic object.
    - ``rollout``: ``off``, or ``DEPTH[,PROBES][,key=value...]`` (RolloutConfig fields).
    - ``search``: the budgets (:class:`~prover.config.SearchConfig`).
    - ``attempts``: searches per theorem (pass@K); attempt ``i`` uses seed ``seed + i``.
    - ``limit`` / ``filter``: keep the first ``limit`` theorems whose name matches the regex.
    """

    suite: str
    backend: str
    generator: str | TacticGenerator
    heuristic: str | Heuristic = "cumulative"
    rollout: str = "off"
    search: SearchConfig = field(default_factory=SearchConfig)
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    attempts: int = 1
    limit: int | None = None
    filter: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("suite", "backend", "generator", "heuristic", "rollout"):
            value = getattr(self, name)
            if name == "generator" and callable(getattr(value, "propose", None)):
                continue
            if name == "heuristic" and callable(getattr(value, "score", None)):
                continue
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"BenchConfig.{name} must be a non-empty string"
                                  f"{_OBJECT_KINDS.get(name, '')}, got {value!r}")
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) \
                or self.attempts < 1:
            raise ConfigError(
                f"BenchConfig.attempts must be an integer >= 1, got {self.attempts!r}")
        if self.limit is not None and (isinstance(self.limit, bool) or self.limit < 1):
            raise ConfigError(f"BenchConfig.limit must be >= 1 or None, got {self.limit!r}")
        if self.filter is not None:
            try:
                re.compile(self.filter)
            except re.error as exc:
                raise ConfigError(f"BenchConfig.filter is not a valid regex: {exc}") from exc
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"BenchConfig.seed must be an integer, got {self.seed!r}")
        if not isinstance(self.search, SearchConfig):
            raise ConfigError(f"BenchConfig.search must be a SearchConfig, got {self.search!r}")
        try:
            options = json.loads(json.dumps(dict(self.backend_options)))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"BenchConfig.backend_options must be JSON values: {exc}") from exc
        object.__setattr__(self, "backend_options", options)

    def seed_for(self, attempt: int) -> int:
        """The seed of attempt ``attempt`` (0-based)."""
        return self.seed + attempt

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields; :meth:`from_dict` inverts it for specs (an object is written as
        its label, ``object:module.Class``, which cannot be rebuilt)."""
        data = {f: getattr(self, f) for f in self.__dataclass_fields__}
        data["generator"] = spec_label(self.generator)
        data["heuristic"] = spec_label(self.heuristic)
        data["search"] = self.search.to_dict()
        data["backend_options"] = dict(self.backend_options)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BenchConfig:
        """Rebuild a config written by :meth:`to_dict` (unknown keys raise ConfigError)."""
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown benchmark config keys: {', '.join(sorted(unknown))}")
        values = dict(data)
        search = dict(values.pop("search", {}) or {})
        if "banned_tactics" in search:
            search["banned_tactics"] = tuple(search["banned_tactics"])
        try:
            values["search"] = SearchConfig(**search)
        except TypeError as exc:
            raise ConfigError(f"bad search config in benchmark config: {exc}") from exc
        return cls(**values)

    def config_hash(self) -> str:
        """A short stable hash of the experiment (stored in every result row)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


_OBJECT_KINDS = {"generator": " or a TacticGenerator (with propose)",
                 "heuristic": " or a Heuristic (with score)"}


def spec_label(value: object) -> str:
    """A spec string as it is; an object as ``object:module.Class``."""
    if isinstance(value, str):
        return value
    cls = type(value)
    return f"object:{cls.__module__}.{cls.__qualname__}"


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Human-readable ``key: old -> new`` lines between two ``to_dict()`` outputs."""
    lines: list[str] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            lines.extend(f"{key}.{line}" for line in config_differences(a, b))
        elif a != b:
            lines.append(f"{key}: {a!r} -> {b!r}")
    return lines


__all__ = ["CONFIG_FORMAT", "BenchConfig", "config_differences", "spec_label"]
