"""Generator specs: a table of kinds (name -> factory and help), and :func:`make_generator`.

Forms (options after ``#``, joined by ``&``)::

    hf:PATH_OR_NAME[#kind=causal&template=bfs-prover&strategy=sample&temperature=1.3&...]
    openai:URL#model=NAME[&template=...&strategy=...&api_key_env=OPENAI_API_KEY&...]
    knn:TRACE[,TRACE...][#granularity=step|segment|whole]   trace files or folders of *.jsonl
    fixed:FILE                    one tactic per line, or a JSON list
    package.module:NAME | path/file.py:NAME   a user's generator: an instance, a class or a
                                  factory (called with no arguments)

Decoding options are :class:`~prover.generators.decoding.DecodingConfig` fields, starting from
``preset`` (``reprover``, ``dobevi``, ``bfs-prover-v2``) when given. ``hf:`` gives an
:class:`~prover.generators.hf.HFTacticGenerator` behind a
:class:`~prover.generators.batching.MicroBatcher` (options ``max_batch``, ``max_wait_ms``), so
pass the one result to every search. ``openai:`` reads the API key from the environment
variable named by ``api_key_env`` (default ``OPENAI_API_KEY``).

A new kind is one entry: ``{**GENERATOR_KINDS, "mine": GeneratorKind(factory, "mine:ARG ...")}``
passed as ``kinds=`` (or one line in :data:`GENERATOR_KINDS` for a built-in one).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import os
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from prover.errors import ConfigError, ProverError
from prover.generators.base import TacticGenerator
from prover.generators.decoding import DecodingConfig
from prover.specs.grammar import (
    Spec,
    check_options,
    did_you_mean,
    is_object_path,
    load_object,
    parse_bool,
    parse_spec,
)
from prover.specs.hub import check_hf_target

GeneratorFactory = Callable[[Spec], TacticGenerator]
"""Builds a generator from its parsed spec; raises ConfigError on a bad one."""


@dataclass(frozen=True)
class GeneratorKind:
    """One generator kind: its factory and the form shown in ``--help`` and errors."""

    factory: GeneratorFactory
    help: str


PRESETS: Mapping[str, Callable[[], DecodingConfig]] = {
    "reprover": DecodingConfig.reprover,
    "dobevi": DecodingConfig.dobevi,
    "bfs-prover-v2": DecodingConfig.bfs_prover_v2,
}

_DECODING_TYPES: Mapping[str, Callable[[str], Any]] = {
    "strategy": str, "temperature": float, "top_p": float, "top_k": int,
    "repetition_penalty": float, "length_penalty": float, "max_new_tokens": int,
    "max_input_tokens": int, "score": str, "preset": str,
}
_HF_OPTIONS: Mapping[str, Callable[[str], Any]] = {
    "kind": str, "template": str, "device": str, "dtype": str, "gguf_file": str,
    "trust_remote_code": parse_bool, "revision": str, "max_batch": int, "max_wait_ms": float,
    **_DECODING_TYPES,
}
_OPENAI_OPTIONS: Mapping[str, Callable[[str], Any]] = {
    "model": str, "template": str, "api_key_env": str, "timeout_s": float, "max_retries": int,
    "max_concurrency": int, "stop": lambda v: tuple(v.split("|")),
    "server_max_logprobs": int, **_DECODING_TYPES,
}
_NULLABLE = ("top_k", "max_input_tokens")


def typed_options(spec: Spec, allowed: Mapping[str, Callable[[str], Any]],
                  what: str = "generator") -> dict[str, Any]:
    """The options of ``spec`` converted by ``allowed`` (unknown key or bad value: ConfigError
    with a "did you mean")."""
    check_options(spec, what, allowed)
    options: dict[str, Any] = {}
    for key, value in spec.options:
        if value.lower() == "none" and key in _NULLABLE:
            options[key] = None
            continue
        try:
            options[key] = allowed[key](value)
        except ValueError as exc:
            raise ConfigError(f"bad value for {key!r} in {what} spec {spec.text!r}: {exc}"
                              ) from exc
    return options


def _decoding(options: dict[str, Any], base: DecodingConfig) -> DecodingConfig:
    preset = options.pop("preset", None)
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown decoding preset {preset!r}; presets: {sorted(PRESETS)}")
        base = PRESETS[preset]()
    fields = {f.name for f in dataclasses.fields(DecodingConfig)}
    changes = {key: options.pop(key) for key in list(options) if key in fields}
    return dataclasses.replace(base, **changes)


def generator_options_help() -> str:
    """Every option of the model generators, the decoding presets and the built-in prompt
    templates, for ``--help`` (the README's table says the same, with defaults)."""
    from prover.generators.templates import TEMPLATES

    def names(options: Mapping[str, Any]) -> str:
        return ", ".join(sorted(options))

    lines = [
        f"hf: {names(_HF_OPTIONS)}",
        f"openai: {names(_OPENAI_OPTIONS)}",
        "strategy=beam|sample; score=sum|mean; kind=auto|seq2seq|causal (auto: from the "
        "model's config); dtype=auto|float32|bfloat16|float16; device=cpu|cuda|cuda:N",
        f"presets: {', '.join(sorted(PRESETS))}",
        f"templates: {', '.join(sorted(TEMPLATES))}, or any text with a {{state}} field",
        "example: 'hf:ByteDance-Seed/BFS-Prover-V2-7B#template=bfs-prover&preset=bfs-prover-v2'",
    ]
    wrapped = [textwrap.fill(line, 88, initial_indent="  ", subsequent_indent="    ")
               for line in lines]
    return "\n".join(["generator options (after '#', joined by '&'; quote the spec in a "
                      "shell):", *wrapped])


def usage(problem: str, kinds: Mapping[str, GeneratorKind] | None = None) -> ConfigError:
    """``problem`` followed by the generator forms."""
    return ConfigError(f"{problem}; a generator spec is one of: "
                       f"{generator_forms(kinds if kinds is not None else GENERATOR_KINDS)}")


def _needs_target(spec: Spec, form: str) -> None:
    if not spec.target:
        raise usage(f"generator spec {spec.text!r}: expected {form}")


def _hf(spec: Spec) -> TacticGenerator:
    _needs_target(spec, "hf:PATH_OR_NAME")
    options = typed_options(spec, _HF_OPTIONS)
    decoding = _decoding(options, DecodingConfig())
    dtype = options.pop("dtype", "auto")
    if dtype != "auto":
        from prover.extras import require

        torch = require("torch", extra="hf")
        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ConfigError(f"unknown dtype {dtype!r} (e.g. float32, bfloat16, float16)")
        dtype = getattr(torch, dtype)
    check_hf_target(spec.target, revision=options.get("revision"))
    from prover.generators.batching import MicroBatcher
    from prover.generators.hf import HFTacticGenerator

    batching = {key: options.pop(key) for key in ("max_batch", "max_wait_ms") if key in options}
    generator = HFTacticGenerator.from_pretrained(
        spec.target, options.pop("kind", "auto"), options.pop("template", None), decoding,
        device=options.pop("device", None), dtype=dtype, **options)
    return MicroBatcher(generator, **batching)


def _openai(spec: Spec) -> TacticGenerator:
    _needs_target(spec, "openai:URL#model=NAME")
    options = typed_options(spec, _OPENAI_OPTIONS)
    decoding = _decoding(options, DecodingConfig(strategy="sample"))
    from prover.generators.openai import OpenAICompatibleGenerator

    model = options.pop("model", None)
    if not model:
        raise usage(f"generator spec {spec.text!r}: openai: needs #model=NAME")
    api_key = os.environ.get(options.pop("api_key_env", "OPENAI_API_KEY"))
    template = options.pop("template", "goal-proofstep")
    return OpenAICompatibleGenerator(spec.target, model, template=template, decoding=decoding,
                                     api_key=api_key, **options)


def trace_files(spec: Spec) -> list[Path]:
    """The files of a comma-separated TARGET; a folder stands for its ``*.jsonl`` files."""
    files: list[Path] = []
    for part in filter(None, spec.target.split(",")):
        path = Path(part)
        if path.is_dir():
            found = sorted(path.glob("*.jsonl"))
            if not found:
                raise ConfigError(f"no *.jsonl trace files in {path} (from {spec.text!r})")
            files.extend(found)
        else:
            files.append(path)
    if not files:
        raise usage(f"generator spec {spec.text!r}: knn: needs trace files")
    return files


def _knn(spec: Spec) -> TacticGenerator:
    options = typed_options(spec, {"granularity": str})
    files = trace_files(spec)
    if "granularity" in options:
        # Units are cut from whole proofs by the trajectory reader, which lives with the
        # segment data in `rollout` (imported only for this form).
        from rollout.policy.retrieval import knn_at_granularity

        return knn_at_granularity(files, options["granularity"])
    from prover.generators.knn import KNNTacticGenerator

    return KNNTacticGenerator.from_traces(files)


def _fixed(spec: Spec) -> TacticGenerator:
    _needs_target(spec, "fixed:FILE")
    check_options(spec, "generator", ())
    from prover.generators.fixed import FixedTacticGenerator

    return FixedTacticGenerator.from_file(spec.target)


def _mixture(spec: Spec, kinds: Mapping[str, GeneratorKind] | None = None) -> TacticGenerator:
    """``mixture:SPEC+SPEC[+...][#weights=W,W...]``: the parts are built with the same kinds
    (so ``coq-index`` works under ``bench``); a part cannot carry ``#options`` of its own (the
    first ``#`` starts the mixture's), use :class:`MixtureGenerator` in Python for that."""
    _needs_target(spec, "mixture:SPEC+SPEC[#weights=W,W]")
    options = typed_options(spec, {"weights": str})
    parts = [part for part in spec.target.split("+") if part.strip()]
    if len(parts) < 2:
        raise usage(f"generator spec {spec.text!r}: a mixture needs two or more parts "
                    f"joined by '+'")
    weights = [1.0] * len(parts)
    if "weights" in options:
        try:
            weights = [float(w) for w in options["weights"].split(",")]
        except ValueError as exc:
            raise ConfigError(f"generator spec {spec.text!r}: weights must be numbers: "
                              f"{exc}") from exc
        if len(weights) != len(parts):
            raise ConfigError(f"generator spec {spec.text!r}: {len(weights)} weights for "
                              f"{len(parts)} parts")
    from prover.generators.mixture import MixtureGenerator, MixtureSource

    return MixtureGenerator([MixtureSource(make_generator(part, kinds or GENERATOR_KINDS), w)
                             for part, w in zip(parts, weights)])


GENERATOR_KINDS: Mapping[str, GeneratorKind] = {
    "hf": GeneratorKind(_hf, "hf:PATH_OR_NAME[#option=value&...]"),
    "openai": GeneratorKind(_openai, "openai:URL#model=NAME[&option=value...]"),
    "knn": GeneratorKind(_knn, "knn:TRACE[,TRACE...][#granularity=step|segment|whole]"),
    "fixed": GeneratorKind(_fixed, "fixed:FILE"),
    "mixture": GeneratorKind(_mixture, "mixture:SPEC+SPEC[#weights=W,W]"),
}
"""The built-in generator kinds; a new built-in kind is one line here."""


def generator_forms(kinds: Mapping[str, GeneratorKind] = GENERATOR_KINDS) -> str:
    """The forms of ``kinds`` plus a user's object, for ``--help`` and errors."""
    return " | ".join([kind.help for kind in kinds.values()]
                      + ["package.module:NAME", "path/file.py:NAME"])


def make_generator(spec: str,
                   kinds: Mapping[str, GeneratorKind] = GENERATOR_KINDS) -> TacticGenerator:
    """The generator ``spec`` names, through the factory of its kind in ``kinds``, or a user's
    object for ``package.module:NAME`` / ``path/file.py:NAME``. A bad spec raises
    :class:`~prover.errors.ConfigError` listing the forms. Heavy libraries are imported only
    by the kind that needs them."""
    if not spec.strip():
        raise usage("empty generator spec", kinds)
    parsed = parse_spec(spec, "generator")
    kind = kinds.get(parsed.kind)
    if kind is None:
        # 'name:attr' may be a module's object or a misspelt kind: a module must exist
        if is_object_path(spec) and (not parsed.kind.isidentifier()
                                     or importlib.util.find_spec(parsed.kind) is not None):
            return user_generator(spec)
        if not parsed.target:
            raise usage(f"bad generator spec {spec!r}{did_you_mean(parsed.kind, kinds)}", kinds)
        raise usage(f"unknown generator kind {parsed.kind!r} in {spec!r}"
                    f"{did_you_mean(parsed.kind, kinds)}", kinds)
    try:
        if kind.factory is _mixture:  # its parts are built with the caller's kinds
            return _mixture(parsed, kinds)
        return kind.factory(parsed)
    except OSError as exc:
        raise ConfigError(f"generator spec {spec!r}: cannot read {exc.filename or parsed.target}"
                          f": {exc.strerror or exc}") from exc


def user_generator(spec: str) -> TacticGenerator:
    """A user's generator: an instance, or a class / factory called with no arguments."""
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
    return cast(TacticGenerator, obj)


__all__ = ["GENERATOR_KINDS", "PRESETS", "GeneratorFactory", "GeneratorKind", "generator_forms",
           "generator_options_help", "make_generator", "trace_files", "typed_options", "usage",
           "user_generator"]
