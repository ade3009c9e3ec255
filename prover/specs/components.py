"""Heuristic, rollout and backend specs, in the language of :mod:`prover.specs.grammar`.

- heuristic: ``cumulative`` | ``normalized[:ALPHA]`` | ``progress[:MODEL_PATH]`` | a user's
  Heuristic, Heuristic class or ``fn(node) -> float`` (``package.module:NAME``, ``file.py:NAME``)
- rollout: ``off`` | ``DEPTH[,PROBES][,KEY=VALUE...]`` (RolloutConfig fields)
- backend: ``leandojo`` | ``repl`` | ``coq`` | ``replay`` | ``package.module:factory``, with
  ``#KEY=VALUE&...`` keyword arguments (JSON values) besides ``--backend-option``
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from prover.errors import ConfigError, ProverError
from prover.specs.grammar import (
    did_you_mean,
    is_object_path,
    json_value,
    load_object,
    parse_spec,
)

if TYPE_CHECKING:
    from heuristics.base import Heuristic
    from prover.env import Environment
    from rollout.config import RolloutConfig

BUILTIN_BACKENDS: dict[str, tuple[str, str]] = {
    "leandojo": ("prover.backends.leandojo", "LeanDojoEnvironment"),
    "repl": ("prover.backends.repl", "LeanReplEnvironment"),
    "coq": ("prover.backends.coq", "CoqEnvironment"),
    "replay": ("prover.backends.replay", "ReplayEnvironment"),
}
"""Backend names accepted by ``--backend`` and the class each one builds."""

BUILTIN_HEURISTICS = ("cumulative", "normalized[:ALPHA]", "progress[:MODEL_PATH]")

TACTIC_TIMEOUT_KEYWORDS: dict[str, str] = {"coq": "tactic_timeout_s",
                                           "repl": "tactic_timeout_s", "leandojo": "timeout_s"}
"""The keyword of each built-in backend's own per-tactic timeout (CoqConfig's field, which
CoqEnvironment takes as an override; LeanDojo's ``Dojo(timeout=...)``, whole seconds, unless its
environment takes ``tactic_timeout_s``). ``replay`` has none."""


# ---- heuristics -----------------------------------------------------------------------------
def make_heuristic(spec: str) -> Heuristic:
    """A heuristic from ``cumulative``, ``normalized[:ALPHA]``, ``progress[:PATH]`` or a path.

    A path may name a Heuristic instance, a class (instantiated with no arguments) or a plain
    ``fn(node) -> float`` (lifted with :func:`heuristics.as_heuristic`).
    """
    from heuristics.base import Heuristic, as_heuristic
    from heuristics.builtin import CumulativeLogProb, NormalizedLogProb

    parsed = parse_spec(spec, "heuristic")
    name, arg = parsed.kind, parsed.target
    if name == "cumulative" and not arg and not parsed.options:
        return CumulativeLogProb()
    if name == "normalized":
        raw = arg or parsed.option_dict().get("alpha", "")
        try:
            alpha = float(raw) if raw else 0.5
        except ValueError:
            raise ConfigError(f"heuristic {spec!r}: alpha must be a number, "
                              f"as in 'normalized:0.5'") from None
        return NormalizedLogProb(alpha)
    if name == "progress":
        return _progress_heuristic(spec, arg or None)
    builtin = ("cumulative", "normalized", "progress")
    misspelt = (name.isidentifier() and importlib.util.find_spec(name) is None
                and did_you_mean(name, builtin))
    if not is_object_path(spec) or misspelt:
        raise ConfigError(f"unknown heuristic {spec!r}: expected one of "
                          f"{', '.join(BUILTIN_HEURISTICS)}, or 'package.module:name' / "
                          f"'path/file.py:name' naming a Heuristic, a Heuristic class or a "
                          f"function node -> float"
                          f"{did_you_mean(name, builtin)}")
    obj = load_object(spec, "heuristic")
    if inspect.isclass(obj):
        try:
            obj = obj()
        except Exception as exc:
            raise ConfigError(f"heuristic {spec!r}: {obj.__name__}() failed: {exc!r}") from exc
    if isinstance(obj, Heuristic):
        return obj
    if callable(obj):
        return as_heuristic(obj)
    raise ConfigError(f"heuristic {spec!r} is a {type(obj).__name__}, not a Heuristic, "
                      f"a class or a function node -> float")


def _progress_heuristic(spec: str, path: str | None) -> Heuristic:
    """LeanProgress ordering: ``ProgressHeuristic(ProgressScorer(path))``; no path reads the
    checkpoint named by ``LEANPROGRESS_MODEL`` (in ProgressScorer)."""
    try:
        from heuristics.progress import ProgressHeuristic, ProgressScorer
    except ImportError as exc:
        raise ConfigError(f"heuristic {spec!r}: heuristics.progress is not available "
                          f"({exc})") from exc
    try:
        return ProgressHeuristic(ProgressScorer(path))
    except ProverError:
        raise
    except Exception as exc:
        raise ConfigError(f"heuristic {spec!r}: loading the progress model failed: "
                          f"{exc!r}") from exc


# ---- rollouts -------------------------------------------------------------------------------
def parse_rollout(spec: str) -> RolloutConfig | None:
    """``off`` -> None; ``DEPTH[,PROBES][,key=value...]`` -> a RolloutConfig.

    Keys are RolloutConfig fields (``mode=sample,temperature=1.2,budget_share=0.3``); options
    after ``#`` joined by ``&`` are read the same way (``3#mode=sample``).
    """
    from rollout.config import RolloutConfig

    text = spec.strip().lower()
    if text in ("off", "none", "no", "0"):
        return None
    fields = {f.name: f for f in dataclasses.fields(RolloutConfig)}
    values: dict[str, Any] = {}
    positional = ["depth", "probes"]
    head, _, option_text = spec.partition("#")
    parts = [p.strip() for p in head.split(",")] + [p.strip() for p in option_text.split("&")]
    for part in parts:
        if not part:
            continue
        key, eq, raw = part.partition("=")
        if not eq:
            if not positional:
                raise ConfigError(f"rollout {spec!r}: too many positional values; "
                                  f"expected DEPTH[,PROBES][,key=value...]")
            key, raw = positional.pop(0), part
        key = key.strip().replace("-", "_")
        if key not in fields or key == "seed":
            known = sorted(k for k in fields if k != "seed")
            raise ConfigError(f"rollout {spec!r}: unknown field {key!r} (known: "
                              f"{', '.join(known)}; the seed is set per attempt)"
                              f"{did_you_mean(key, known)}")
        values[key] = _parse_scalar(raw.strip(), fields[key].default, spec, key)
        if key in positional:
            positional.remove(key)
    try:
        return RolloutConfig(**values)
    except TypeError as exc:
        raise ConfigError(f"rollout {spec!r}: {exc}") from exc


def _parse_scalar(raw: str, default: Any, spec: str, key: str) -> Any:
    try:
        if isinstance(default, bool):
            if raw.lower() in ("true", "1", "yes"):
                return True
            if raw.lower() in ("false", "0", "no"):
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise ConfigError(f"rollout {spec!r}: {key}={raw!r} is not a "
                          f"{type(default).__name__}") from None
    return raw


# ---- backends -------------------------------------------------------------------------------
def backend_name(spec: str) -> str:
    """The backend's name or object path, without ``#options``."""
    return spec.partition("#")[0].strip()


def _backend_factory(spec: str) -> Any:
    name = backend_name(spec)
    if name in BUILTIN_BACKENDS:
        module_name, attr = BUILTIN_BACKENDS[name]
        try:
            return getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"backend {name!r}: {module_name}.{attr} is not available "
                              f"({exc})") from exc
    if is_object_path(name):
        return load_object(name, "backend")
    raise ConfigError(f"unknown backend {name!r}: expected one of {', '.join(BUILTIN_BACKENDS)}"
                      f" or 'package.module:factory'{did_you_mean(name, BUILTIN_BACKENDS)}")


def _timeout_keyword(spec: str, factory: Any) -> str | None:
    """The keyword of the backend's own per-tactic timeout (``None``: it has none); a user's
    factory has one when it takes a ``tactic_timeout_s`` parameter."""
    try:
        named = inspect.signature(factory).parameters.get("tactic_timeout_s")
    except (TypeError, ValueError):  # no signature to read
        named = None
    if named is not None and named.kind in (named.POSITIONAL_OR_KEYWORD, named.KEYWORD_ONLY):
        return "tactic_timeout_s"
    return TACTIC_TIMEOUT_KEYWORDS.get(backend_name(spec))


def backend_owns_tactic_timeout(spec: str) -> bool:
    """True when the backend named by ``spec`` has a per-tactic timeout of its own, which
    ``--tactic-timeout`` sets (``replay`` has none: the search's watchdog enforces it)."""
    if backend_name(spec) == "replay":
        return False
    return _timeout_keyword(spec, _backend_factory(spec)) is not None


def make_environment(spec: str, options: Mapping[str, Any] | None = None, *,
                     trace: str | None = None,
                     tactic_timeout_s: float | None = None) -> Environment:
    """Build the environment named by ``spec`` with ``options`` (and the spec's own
    ``#KEY=VALUE`` options) as keyword arguments.

    ``replay`` reads the trace given by the ``trace`` option, else ``trace`` (the suite's file).
    ``tactic_timeout_s`` (``--tactic-timeout``, the one source of it) becomes the backend's own
    per-tactic timeout: its ``tactic_timeout_s`` keyword (LeanDojo: ``timeout_s``, rounded up
    to whole seconds); ``None`` leaves the backend's default. Setting it through ``options``
    as well is a ConfigError.
    """
    name = backend_name(spec)
    kwargs = {key: json_value(value) for key, value in parse_spec(spec, "backend").options}
    kwargs.update(options or {})
    if name == "replay":
        from prover.backends.replay import ReplayEnvironment

        path = kwargs.pop("trace", None) or trace
        if path is None:
            raise ConfigError("backend 'replay' needs a trace: use a trace file as the suite, "
                              "or --backend-option trace=PATH")
        try:
            return ReplayEnvironment.from_jsonl(path, **kwargs)
        except TypeError as exc:
            raise ConfigError(f"backend 'replay': bad option ({exc}); known: trace, "
                              f"latency_s") from exc
    factory = _backend_factory(spec)
    keyword = _timeout_keyword(spec, factory)
    if keyword is not None and keyword in kwargs:
        raise ConfigError(f"--backend-option {keyword}: the per-tactic timeout has one source, "
                          f"--tactic-timeout SECONDS (it goes to backend {name!r} as "
                          f"{keyword}); give it there")
    if keyword is not None and tactic_timeout_s is not None:
        kwargs[keyword] = (math.ceil(tactic_timeout_s) if keyword == "timeout_s"
                           else tactic_timeout_s)
    try:
        env = factory(**kwargs)
    except ProverError:
        raise
    except TypeError as exc:
        raise ConfigError(f"backend {name!r}: bad --backend-option ({exc})") from exc
    return cast("Environment", env)


__all__ = ["BUILTIN_BACKENDS", "BUILTIN_HEURISTICS", "TACTIC_TIMEOUT_KEYWORDS",
           "backend_name", "backend_owns_tactic_timeout", "make_environment", "make_heuristic",
           "parse_rollout"]
