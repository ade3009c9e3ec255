"""The generator kinds of the benchmarks: the built-in ones plus ``coq-index``.

Specs are parsed by :mod:`prover.specs` (the one spec language); this module only adds the
kind that needs the ``coq-stdlib`` suite's files, which the core cannot import:

``coq-index:DIR[#granularity=step|segment|whole]`` is a KNN generator over the *index* split of
a ``seg-prover coq extract`` directory (the suite's held-out lemmas' own proofs are left out);
with ``granularity`` it indexes whole units of its proofs (:mod:`rollout.policy.retrieval`).
"""

from __future__ import annotations

from collections.abc import Mapping

from prover.generators.base import TacticGenerator
from prover.specs import GENERATOR_KINDS, GeneratorKind, Spec, absolutize_spec
from prover.specs import make_generator as make_any_generator
from prover.specs.generators import typed_options

PATH_KINDS = ("fixed", "knn", "hf", "coq-index")
"""Kinds whose TARGET names files, made absolute in a run's config (see :func:`absolute_spec`)."""


def _coq_index(spec: Spec) -> TacticGenerator:
    from benchmarks.coq_suite import index_records, index_trace_files, knn_for
    from prover.errors import ConfigError

    if not spec.target:
        raise ConfigError(f"generator {spec.text!r}: expected coq-index:EXTRACTION_DIR")
    options = typed_options(spec, {"granularity": str})
    if "granularity" in options:
        from rollout.policy.retrieval import knn_at_granularity

        return knn_at_granularity(index_trace_files(spec.target), options["granularity"])
    return knn_for(index_records(spec.target))


BENCH_GENERATOR_KINDS: Mapping[str, GeneratorKind] = {
    **GENERATOR_KINDS,
    "coq-index": GeneratorKind(_coq_index, "coq-index:EXTRACT_DIR[#granularity=...]"),
}
"""Every generator kind the command line knows: the core's and the benchmarks'."""


def make_generator(spec: str) -> TacticGenerator:
    """:func:`prover.specs.make_generator` with :data:`BENCH_GENERATOR_KINDS`."""
    return make_any_generator(spec, BENCH_GENERATOR_KINDS)


def absolute_spec(spec: str) -> str:
    """``spec`` with its relative file paths made absolute (existing files only)."""
    return absolutize_spec(spec, PATH_KINDS)


__all__ = ["BENCH_GENERATOR_KINDS", "PATH_KINDS", "absolute_spec", "make_generator"]
