"""The one spec language: command-line strings such as ``hf:org/model#temperature=1.3``,
``normalized:0.5``, ``4,2`` or ``coq`` turned into generator, heuristic, rollout and backend
objects. The library API takes the objects; only the command line (and a benchmark's
``config.json``, which stores the specs) goes through here.

- :mod:`prover.specs.grammar`: ``KIND[:TARGET][#KEY=VALUE&...]`` and a user's object paths
- :mod:`prover.specs.generators`: the table of generator kinds and :func:`make_generator`
- :mod:`prover.specs.components`: heuristics, rollouts, backends
- :mod:`prover.specs.hub`: fail-fast checks on ``hf:`` targets
"""

from __future__ import annotations

from prover.specs.components import (
    BUILTIN_BACKENDS,
    BUILTIN_HEURISTICS,
    TACTIC_TIMEOUT_KEYWORDS,
    backend_owns_tactic_timeout,
    make_environment,
    make_heuristic,
    parse_rollout,
)
from prover.specs.generators import (
    GENERATOR_KINDS,
    PRESETS,
    GeneratorKind,
    generator_forms,
    make_generator,
    user_generator,
)
from prover.specs.grammar import (
    Spec,
    absolutize_spec,
    did_you_mean,
    is_object_path,
    load_object,
    parse_option,
    parse_spec,
)

__all__ = ["BUILTIN_BACKENDS", "BUILTIN_HEURISTICS", "GENERATOR_KINDS", "PRESETS",
           "TACTIC_TIMEOUT_KEYWORDS", "GeneratorKind", "Spec", "absolutize_spec",
           "backend_owns_tactic_timeout", "did_you_mean", "generator_forms", "is_object_path",
           "load_object", "make_environment", "make_generator", "make_heuristic",
           "parse_option", "parse_rollout", "parse_spec", "user_generator"]
