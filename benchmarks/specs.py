"""Turning the command line's spec strings into objects: backend, generator, heuristic, rollout.

Every resolver raises :class:`~prover.errors.ConfigError` with the spec and what was expected.
A user's own code is named ``package.module:attribute`` (importable) or
``path/to/file.py:attribute`` (loaded from the file); the attribute may be dotted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import inspect
import json
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from prover.errors import ConfigError, ProverError

if TYPE_CHECKING:
    from heuristics.base import Heuristic
    from prover.env import Environment
    from prover.generators.base import TacticGenerator
    from rollout.config import RolloutConfig

BUILTIN_BACKENDS: dict[str, tuple[str, str]] = {
    "leandojo": ("prover.backends.leandojo", "LeanDojoEnvironment"),
    "repl": ("prover.backends.repl", "LeanReplEnvironment"),
    "coq": ("prover.backends.coq", "CoqEnvironment"),
    "replay": ("prover.backends.replay", "ReplayEnvironment"),
}
"""Backend names accepted by ``--backend`` and the class each one builds."""

BUILTIN_HEURISTICS = ("cumulative", "normalized[:ALPHA]", "progress[:MODEL_PATH]")


def is_object_path(spec: str) -> bool:
    """True if ``spec`` looks like ``module:attribute`` or ``file.py:attribute``."""
    module, sep, attr = spec.rpartition(":")
    return bool(sep and module and attr) and (module.endswith(".py") or "." in module
                                              or "/" in module or module.isidentifier())


def _load_file_module(path: Path, spec: str) -> ModuleType:
    if not path.is_file():
        raise ConfigError(f"{spec!r}: file {path} not found")
    resolved = path.resolve()
    # A stable private name per file, so loading the same file twice gives one module.
    name = "_seg_prover_user_" + hashlib.sha1(str(resolved).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, resolved)
    if module_spec is None or module_spec.loader is None:
        raise ConfigError(f"{spec!r}: cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ConfigError(f"{spec!r}: importing {path} failed: {exc!r}") from exc
    return module


def load_object(spec: str, what: str) -> Any:
    """The object named by ``package.module:attr`` or ``path/file.py:attr``."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"{what} {spec!r}: expected 'package.module:name' or "
                          f"'path/to/file.py:name'")
    if module_name.endswith(".py") or "/" in module_name:
        module = _load_file_module(Path(module_name), spec)
    else:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise ConfigError(f"{what} {spec!r}: cannot import module {module_name!r} ({exc}); "
                              f"is it on PYTHONPATH? A file also works: "
                              f"'path/to/file.py:{attr}'") from exc
        except Exception as exc:
            raise ConfigError(f"{what} {spec!r}: importing {module_name!r} failed: "
                              f"{exc!r}") from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"{what} {spec!r}: {module_name!r} has no attribute "
                              f"{attr!r}") from None
    return obj


# ---- heuristics -----------------------------------------------------------------------------
def make_heuristic(spec: str) -> Heuristic:
    """A heuristic from ``cumulative``, ``normalized[:ALPHA]``, ``progress[:PATH]`` or a path.

    A path may name a Heuristic instance, a class (instantiated with no arguments) or a plain
    ``fn(node) -> float`` (lifted with :func:`heuristics.as_heuristic`).
    """
    from heuristics.base import Heuristic, as_heuristic
    from heuristics.builtin import CumulativeLogProb, NormalizedLogProb

    name, _, arg = spec.partition(":")
    if name == "cumulative" and not arg:
        return CumulativeLogProb()
    if name == "normalized":
        try:
            alpha = float(arg) if arg else 0.5
        except ValueError:
            raise ConfigError(f"heuristic {spec!r}: alpha must be a number, "
                              f"as in 'normalized:0.5'") from None
        return NormalizedLogProb(alpha)
    if name == "progress":
        return _progress_heuristic(spec, arg or None)
    if not is_object_path(spec):
        raise ConfigError(f"unknown heuristic {spec!r}: expected one of "
                          f"{', '.join(BUILTIN_HEURISTICS)}, or 'package.module:name' / "
                          f"'path/file.py:name' naming a Heuristic, a Heuristic class or a "
                          f"function node -> float")
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

    Keys are RolloutConfig fields (``mode=sample,temperature=1.2,budget_share=0.3``).
    """
    from rollout.config import RolloutConfig

    text = spec.strip().lower()
    if text in ("off", "none", "no", "0"):
        return None
    fields = {f.name: f for f in dataclasses.fields(RolloutConfig)}
    values: dict[str, Any] = {}
    positional = ["depth", "probes"]
    for part in (p.strip() for p in spec.split(",")):
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
            allowed = ", ".join(sorted(k for k in fields if k != "seed"))
            raise ConfigError(f"rollout {spec!r}: unknown field {key!r} (known: {allowed}; the "
                              f"seed is set per attempt)")
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


# ---- backends and generators ----------------------------------------------------------------
TACTIC_TIMEOUT_KEYWORDS: dict[str, str] = {"coq": "tactic_timeout_s",
                                           "repl": "tactic_timeout_s", "leandojo": "timeout_s"}
"""The keyword of each built-in backend's own per-tactic timeout (CoqConfig's field, which
CoqEnvironment takes as an override; LeanDojo's ``Dojo(timeout=...)``, whole seconds, unless its
environment takes ``tactic_timeout_s``). ``replay`` has none."""


def _backend_factory(spec: str) -> Any:
    if spec in BUILTIN_BACKENDS:
        module_name, attr = BUILTIN_BACKENDS[spec]
        try:
            return getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"backend {spec!r}: {module_name}.{attr} is not available "
                              f"({exc})") from exc
    if is_object_path(spec):
        return load_object(spec, "backend")
    raise ConfigError(f"unknown backend {spec!r}: expected one of "
                      f"{', '.join(BUILTIN_BACKENDS)} or 'package.module:factory'")


def _timeout_keyword(spec: str, factory: Any) -> str | None:
    """The keyword of the backend's own per-tactic timeout (``None``: it has none); a user's
    factory has one when it takes a ``tactic_timeout_s`` parameter."""
    try:
        named = inspect.signature(factory).parameters.get("tactic_timeout_s")
    except (TypeError, ValueError):  # no signature to read
        named = None
    if named is not None and named.kind in (named.POSITIONAL_OR_KEYWORD, named.KEYWORD_ONLY):
        return "tactic_timeout_s"
    return TACTIC_TIMEOUT_KEYWORDS.get(spec)


def backend_owns_tactic_timeout(spec: str) -> bool:
    """True when the backend named by ``spec`` has a per-tactic timeout of its own, which
    ``--tactic-timeout`` sets (``replay`` has none: the search's watchdog enforces it)."""
    if spec == "replay":
        return False
    return _timeout_keyword(spec, _backend_factory(spec)) is not None


def make_environment(spec: str, options: Mapping[str, Any], *,
                     trace: str | None = None,
                     tactic_timeout_s: float | None = None) -> Environment:
    """Build the environment named by ``spec`` with ``options`` as keyword arguments.

    ``replay`` reads the trace given by the ``trace`` option, else ``trace`` (the suite's file).
    ``tactic_timeout_s`` (``--tactic-timeout``, the one source of it) becomes the backend's own
    per-tactic timeout: its ``tactic_timeout_s`` keyword (LeanDojo: ``timeout_s``, rounded up
    to whole seconds); ``None`` leaves the backend's default. Setting it through ``options``
    as well is a ConfigError.
    """
    kwargs = dict(options)
    if spec == "replay":
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
                          f"--tactic-timeout SECONDS (it goes to backend {spec!r} as "
                          f"{keyword}); give it there")
    if keyword is not None and tactic_timeout_s is not None:
        kwargs[keyword] = (math.ceil(tactic_timeout_s) if keyword == "timeout_s"
                           else tactic_timeout_s)
    try:
        env = factory(**kwargs)
    except ProverError:
        raise
    except TypeError as exc:
        raise ConfigError(f"backend {spec!r}: bad --backend-option ({exc})") from exc
    return env


GENERATOR_KINDS = ("hf", "openai", "knn", "fixed", "coq-index")


def make_generator(spec: str) -> TacticGenerator:
    """A generator from its spec, through :func:`prover.generators.spec.make_generator`.

    Besides the built-in forms, ``package.module:name`` / ``path/file.py:name`` names a user's
    generator: an instance, a class (instantiated with no arguments) or a factory function.
    ``fixed:FILE`` is also understood here, so replay benchmarks run without the model stack.
    ``coq-index:DIR`` is a KNN generator over the *index* split of a ``seg-prover coq extract``
    directory (the ``coq-stdlib`` suite's held-out lemmas' own proofs are left out);
    ``coq-index:DIR#granularity=segment`` (or ``step``, ``whole``) indexes whole units of its
    proofs (:mod:`rollout.policy.retrieval`).
    """
    kind, _, arg = spec.partition(":")
    if kind not in GENERATOR_KINDS and is_object_path(spec):
        return _user_generator(spec)
    if kind == "coq-index":
        from benchmarks.coq_suite import index_records, index_trace_files, knn_for

        directory, _, options = arg.partition("#")
        if not directory:
            raise ConfigError(f"generator {spec!r}: expected coq-index:EXTRACTION_DIR")
        key, _, granularity = options.partition("=")
        if options and key != "granularity":
            raise ConfigError(f"generator {spec!r}: the one option is #granularity=...")
        if granularity:
            from rollout.policy.retrieval import knn_at_granularity

            return knn_at_granularity(index_trace_files(directory), granularity)
        return knn_for(index_records(directory))
    try:
        from prover.generators.spec import make_generator as make
    except ImportError:
        if kind == "fixed" and arg:
            from prover.generators.fixed import FixedTacticGenerator

            if not Path(arg).is_file():
                raise ConfigError(f"generator {spec!r}: file {arg} not found") from None
            return FixedTacticGenerator.from_file(arg)
        raise ConfigError(f"generator {spec!r}: prover.generators.spec is not available, and "
                          f"only 'fixed:FILE' is understood without it") from None
    return make(spec)


def _user_generator(spec: str) -> TacticGenerator:
    obj = load_object(spec, "generator")
    if inspect.isclass(obj) or (callable(obj) and not hasattr(obj, "propose")):
        try:
            obj = obj()
        except ProverError:
            raise
        except Exception as exc:
            raise ConfigError(f"generator {spec!r}: calling {obj!r} failed: {exc!r}") from exc
    if not callable(getattr(obj, "propose", None)):
        raise ConfigError(f"generator {spec!r} gave {obj!r}, which has no propose(state, k)")
    return obj


def absolutize_spec(spec: str) -> str:
    """``spec`` with its relative file paths made absolute (existing files only), so a resumed
    run or a Ray worker with another working directory finds the same files."""
    def absolute(text: str) -> str:
        path = Path(text).expanduser()
        return str(path.resolve()) if path.exists() else text

    kind, sep, rest = spec.partition(":")
    # hf: a local checkpoint folder, if it exists
    if sep and kind in ("fixed", "knn", "hf", "coq-index"):
        target, hash_sign, options = rest.partition("#")
        return f"{kind}:{','.join(absolute(p) for p in target.split(','))}{hash_sign}{options}"
    module, sep, attr = spec.rpartition(":")
    if sep and (module.endswith(".py") or "/" in module):
        return f"{absolute(module)}:{attr}"
    return spec


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as JSON when it parses (numbers, true, lists), else text."""
    key, eq, raw = text.partition("=")
    if not eq or not key.strip():
        raise ConfigError(f"backend option {text!r}: expected KEY=VALUE")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


__all__ = [
    "BUILTIN_BACKENDS",
    "BUILTIN_HEURISTICS",
    "GENERATOR_KINDS",
    "TACTIC_TIMEOUT_KEYWORDS",
    "absolutize_spec",
    "backend_owns_tactic_timeout",
    "is_object_path",
    "load_object",
    "make_environment",
    "make_generator",
    "make_heuristic",
    "parse_option",
    "parse_rollout",
]
