"""Building a generator from a one-line spec, as the CLI's ``--generator`` flag takes it.

Forms (options after ``#``, joined by ``&``)::

    hf:PATH_OR_NAME[#kind=causal&template=bfs-prover&strategy=sample&temperature=1.3&...]
    openai:URL#model=NAME[&template=...&strategy=...&api_key_env=OPENAI_API_KEY&...]
    knn:TRACE[,TRACE...]          trace files (DESIGN.md format) or folders of *.jsonl
    knn:FILE[,FILE...]#granularity=segment   whole units (step|segment|whole) of the complete
                                  proofs in trace, LeanDojo-step or Coq-step files
    fixed:FILE                    one tactic per line, or a JSON list

Decoding options are :class:`~prover.generators.decoding.DecodingConfig` fields, starting from
``preset`` (``reprover``, ``dobevi``, ``bfs-prover-v2``) when given. ``hf:`` gives an
:class:`~prover.generators.hf.HFTacticGenerator` behind a
:class:`~prover.generators.batching.MicroBatcher` (options ``max_batch``, ``max_wait_ms``), so
pass the one result to every search. ``openai:`` reads the API key from the environment
variable named by ``api_key_env`` (default ``OPENAI_API_KEY``; none needed for a plain
``vllm serve``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from prover.errors import ConfigError
from prover.generators.base import TacticGenerator
from prover.generators.decoding import DecodingConfig

FORMS = ("hf:PATH_OR_NAME[#option=value&...]", "openai:URL#model=NAME[&option=value...]",
         "knn:TRACE[,TRACE...][#granularity=step|segment|whole]", "fixed:FILE")
"""The spec forms, for error messages and ``--help``."""

PRESETS: Mapping[str, Callable[[], DecodingConfig]] = {
    "reprover": DecodingConfig.reprover,
    "dobevi": DecodingConfig.dobevi,
    "bfs-prover-v2": DecodingConfig.bfs_prover_v2,
}

_DECODING_TYPES: Mapping[str, Callable[[str], Any]] = {
    "strategy": str, "temperature": float, "top_p": float, "top_k": int,
    "repetition_penalty": float, "length_penalty": float, "max_new_tokens": int,
    "max_input_tokens": int, "score": str,
}
_HF_OPTIONS: Mapping[str, Callable[[str], Any]] = {
    "kind": str, "template": str, "device": str, "dtype": str, "gguf_file": str,
    "trust_remote_code": lambda v: _bool(v), "revision": str,
    "max_batch": int, "max_wait_ms": float,
}
_OPENAI_OPTIONS: Mapping[str, Callable[[str], Any]] = {
    "model": str, "template": str, "api_key_env": str, "timeout_s": float, "max_retries": int,
    "max_concurrency": int, "stop": lambda v: tuple(v.split("|")),
    "server_max_logprobs": int,
}
_KNN_OPTIONS: Mapping[str, Callable[[str], Any]] = {"granularity": str}


def _bool(value: str) -> bool:
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise ValueError(f"expected true/false, got {value!r}")


def _usage(problem: str) -> ConfigError:
    return ConfigError(f"{problem}; a generator spec is one of: {'; '.join(FORMS)}")


def _parse_options(spec: str, text: str, allowed: Mapping[str, Callable[[str], Any]]
                   ) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for part in filter(None, text.split("&")):
        key, sep, value = part.partition("=")
        if not sep or key not in allowed:
            raise ConfigError(f"bad option {part!r} in generator spec {spec!r}; options: "
                              f"{', '.join(sorted(allowed))}")
        if value.lower() == "none" and key in ("top_k", "max_input_tokens"):
            options[key] = None
            continue
        try:
            options[key] = allowed[key](value)
        except ValueError as exc:
            raise ConfigError(f"bad value for {key!r} in generator spec {spec!r}: {exc}"
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


def make_generator(spec: str) -> TacticGenerator:
    """The generator a spec names (see the module docstring for the forms); a bad spec raises
    :class:`~prover.errors.ConfigError` listing the forms. Heavy libraries are imported only by
    the form that needs them."""
    kind, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise _usage(f"bad generator spec {spec!r}")
    target, _, option_text = rest.partition("#")
    if kind == "hf":
        allowed: dict[str, Callable[[str], Any]] = {**_HF_OPTIONS, **_DECODING_TYPES,
                                                    "preset": str}
        options = _parse_options(spec, option_text, allowed)
        decoding = _decoding(options, DecodingConfig())
        return _make_hf(target, decoding, options)
    if kind == "openai":
        allowed = {**_OPENAI_OPTIONS, **_DECODING_TYPES, "preset": str}
        options = _parse_options(spec, option_text, allowed)
        decoding = _decoding(options, DecodingConfig(strategy="sample"))
        return _make_openai(spec, target, decoding, options)
    if kind not in ("knn", "fixed"):
        raise _usage(f"unknown generator kind {kind!r} in {spec!r}")
    if option_text and kind != "knn":
        raise _usage(f"{kind}: takes no options (got {option_text!r})")
    try:
        if kind == "knn":
            knn_options = _parse_options(spec, option_text, _KNN_OPTIONS)
            if "granularity" in knn_options:
                # Units are cut from whole proofs by the trajectory reader, which lives with
                # the segment data in `rollout` (imported only for this form).
                from rollout.policy.retrieval import knn_at_granularity

                return knn_at_granularity(_trace_files(spec, target),
                                          knn_options["granularity"])
            from prover.generators.knn import KNNTacticGenerator

            return KNNTacticGenerator.from_traces(_trace_files(spec, target))
        from prover.generators.fixed import FixedTacticGenerator

        return FixedTacticGenerator.from_file(target)
    except OSError as exc:
        raise ConfigError(f"generator spec {spec!r}: cannot read {exc.filename or target}: "
                          f"{exc.strerror or exc}") from exc


def _make_hf(target: str, decoding: DecodingConfig, options: dict[str, Any]) -> TacticGenerator:
    from prover.generators.batching import MicroBatcher
    from prover.generators.hf import HFTacticGenerator

    batching = {key: options.pop(key) for key in ("max_batch", "max_wait_ms") if key in options}
    dtype = options.pop("dtype", "auto")
    if dtype != "auto":
        import torch

        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ConfigError(f"unknown dtype {dtype!r} (e.g. float32, bfloat16, float16)")
        dtype = getattr(torch, dtype)
    generator = HFTacticGenerator.from_pretrained(
        target, options.pop("kind", "auto"), options.pop("template", None), decoding,
        device=options.pop("device", None), dtype=dtype, **options)
    return MicroBatcher(generator, **batching)


def _make_openai(spec: str, url: str, decoding: DecodingConfig,
                 options: dict[str, Any]) -> TacticGenerator:
    from prover.generators.openai import OpenAICompatibleGenerator

    model = options.pop("model", None)
    if not model:
        raise _usage(f"openai: needs #model=NAME (got {spec!r})")
    api_key = os.environ.get(options.pop("api_key_env", "OPENAI_API_KEY"))
    template = options.pop("template", "goal-proofstep")
    return OpenAICompatibleGenerator(url, model, template=template, decoding=decoding,
                                     api_key=api_key, **options)


def _trace_files(spec: str, target: str) -> list[Path]:
    files: list[Path] = []
    for part in filter(None, target.split(",")):
        path = Path(part)
        if path.is_dir():
            found = sorted(path.glob("*.jsonl"))
            if not found:
                raise ConfigError(f"no *.jsonl trace files in {path} (from {spec!r})")
            files.extend(found)
        else:
            files.append(path)
    if not files:
        raise _usage(f"knn: needs trace files (got {spec!r})")
    return files


__all__ = ["FORMS", "PRESETS", "make_generator"]
