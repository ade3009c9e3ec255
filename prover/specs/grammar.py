"""The one spec language of seg-prover, for generators, heuristics, rollouts and backends.

A spec is one of::

    KIND                                 cumulative, off, coq
    KIND:TARGET                          fixed:tactics.txt, normalized:0.5, hf:./checkpoint
    KIND:TARGET#KEY=VALUE&KEY=VALUE      hf:org/model#template=bfs-prover&temperature=1.3
    package.module:NAME                  a user's object, imported
    path/to/file.py:NAME                 a user's object, loaded from the file (NAME may be dotted)

A rollout is also ``DEPTH[,PROBES][,KEY=VALUE...]`` (:func:`prover.specs.components.parse_rollout`).
Every error is a :class:`~prover.errors.ConfigError` naming the spec, what was expected and,
for a near-miss kind or option, what was probably meant.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from prover.errors import ConfigError


@dataclass(frozen=True)
class Spec:
    """A parsed ``KIND[:TARGET][#KEY=VALUE&...]`` spec; ``options`` keep their text values."""

    text: str
    kind: str
    target: str = ""
    options: tuple[tuple[str, str], ...] = ()

    def option_dict(self) -> dict[str, str]:
        """The options as a dict (a repeated key keeps its last value)."""
        return dict(self.options)


def parse_spec(text: str, what: str) -> Spec:
    """Split ``text`` into kind, target and options; ``what`` (``generator``, ...) is for
    errors. Option values are text: each kind converts its own."""
    if not text or not text.strip():
        raise ConfigError(f"empty {what} spec")
    kind, _, rest = text.strip().partition(":")
    target, _, option_text = rest.partition("#")
    if "#" in kind:  # KIND#options with no target
        kind, _, option_text = kind.partition("#")
    options = []
    for part in filter(None, option_text.split("&")):
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"{what} spec {text!r}: option {part!r} is not KEY=VALUE")
        options.append((key.strip(), value))
    return Spec(text, kind.strip(), target, tuple(options))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or ``""`` when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_options(spec: Spec, what: str, allowed: Iterable[str]) -> None:
    """A ConfigError for the first option of ``spec`` not in ``allowed``."""
    known = sorted(allowed)
    for key, value in spec.options:
        if not known:
            raise ConfigError(f"{what} spec {spec.text!r}: {spec.kind}: takes no options "
                              f"(got {key}={value})")
        if key not in known:
            raise ConfigError(f"bad option {f'{key}={value}'!r} in {what} spec {spec.text!r}; "
                              f"options: {', '.join(known)}{did_you_mean(key, known)}")


def parse_bool(value: str) -> bool:
    """``true/1/yes`` or ``false/0/no`` (any case)."""
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise ValueError(f"expected true/false, got {value!r}")


def json_value(raw: str) -> Any:
    """``raw`` read as JSON when it parses (numbers, true, lists), else the text itself."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` (``--backend-option``) with VALUE read by :func:`json_value`."""
    key, eq, raw = text.partition("=")
    if not eq or not key.strip():
        raise ConfigError(f"option {text!r}: expected KEY=VALUE")
    return key.strip(), json_value(raw)


# ---- a user's objects -------------------------------------------------------------------------
def is_object_path(spec: str) -> bool:
    """True if ``spec`` looks like ``module:attribute`` or ``file.py:attribute``."""
    module, sep, attr = spec.partition("#")[0].rpartition(":")
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


def absolutize_spec(spec: str, path_kinds: Iterable[str]) -> str:
    """``spec`` with its relative file paths made absolute (existing files only), so a resumed
    run or a Ray worker with another working directory finds the same files. ``path_kinds``
    are the kinds whose TARGET is a comma-separated list of paths."""
    def absolute(text: str) -> str:
        path = Path(text).expanduser()
        return str(path.resolve()) if path.exists() else text

    kind, sep, rest = spec.partition(":")
    if sep and kind in set(path_kinds):
        target, hash_sign, options = rest.partition("#")
        return f"{kind}:{','.join(absolute(p) for p in target.split(','))}{hash_sign}{options}"
    module, sep, attr = spec.rpartition(":")
    if sep and (module.endswith(".py") or "/" in module):
        return f"{absolute(module)}:{attr}"
    return spec


__all__ = ["Spec", "absolutize_spec", "check_options", "did_you_mean", "is_object_path",
           "json_value", "load_object", "parse_bool", "parse_option", "parse_spec"]
