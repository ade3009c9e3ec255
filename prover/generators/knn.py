"""A model-free tactic generator: the tactics of the nearest recorded states (Tactician-style).

Tactician (Blaauwbroek et al., arXiv 2003.09140) proposes, for a goal, the tactics that worked on
the most similar goals seen before. :class:`KNNTacticGenerator` does the same over ``(state,
tactic)`` pairs taken from traces or step records, with BM25 over goal tokens as the similarity:

- **Features.** Each goal ``hyps\\n⊢ concl`` is tokenised into identifiers (qualified names
  also give their components: ``Nat.add_comm`` -> ``Nat.add_comm``, ``Nat``, ``add_comm``),
  numbers and symbol runs (``≤``, ``->``, ``/\\``), which serves Lean and Coq goal text alike.
  Conclusion tokens weigh :attr:`KNNConfig.conclusion_weight` each and hypothesis tokens 1;
  goals after the first (the one tactics act on) are scaled by
  :attr:`KNNConfig.other_goals_weight` (0 by default: ignored).
- **Similarity.** BM25 (``k1``, ``b``) on those weighted term frequencies, each query term
  counted with its weighted frequency in the query, through an inverted index of numpy
  arrays: a query touches only the postings of its own terms.
  A recorded state identical to the query (same goal text) is always the nearest.
- **Log-probabilities.** The ``m = max(neighbours, k)`` best-scoring recorded states (ties to
  the earlier pair; states sharing no term are never proposed) get
  ``p_i = softmax(s_i / (s_1 * temperature))`` over the ``m``: the similarity relative to the
  nearest state, so the temperature does not depend on the query's length. With
  ``aggregate="sum"`` (the default) a tactic's logprob is ``log`` of the summed ``p_i`` of the
  neighbours using it (each neighbour votes; the logprobs of the distinct tactics then form a
  distribution over what the ``m`` neighbours did); with ``aggregate="max"`` it is its nearest
  neighbour's ``log p_i``. Candidates go through :func:`merge_candidates`: best first, ties to
  the tactic of the nearer state, all logprobs ``<= 0``.

Defaults were chosen by leave-one-theorem-out accuracy (``benchmarks/knn_speed.py``) on the
LeanDojo Benchmark 4 steps in ``../shared/data`` (2,701 steps) and on 11,990 Coq stdlib steps
(Arith, Bool, Lists, Logic, NArith, PArith, Relations, Sets, Sorting, ZArith): voting
(``sum``) over 256 neighbours at temperature 0.15 gave top-8 19.8% (Lean) / 26.3% (Coq)
against 16.9% / 24.6% for the nearest-neighbour-only ``max``, at a top-1 of 12.7% / 11.4%
against 12.4% / 13.8%; indexing only the first goal (``other_goals_weight`` 0) beat 0.5 and 1
on Coq's multi-goal states by 0.4-1 point top-8 and 1-2 points top-1; ``conclusion_weight``
2 against 1 or 3 moved either by under one point.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from prover.errors import ConfigError, DataFormatError
from prover.generators.base import merge_candidates
from prover.records import Where, parse_state_pair
from prover.traces import TraceRecord, iter_jsonl, read_trace, split_lean_goals
from prover.types import Candidate, ProofState

_IDENT_PART = r"[^\W\d][\w'✝]*"
_TOKEN = re.compile(
    rf"(?P<ident>{_IDENT_PART}(?:\.(?:{_IDENT_PART}|\d+))*)"
    r"|(?P<num>\d+)"
    r"|(?P<sym>[^\w\s()\[\]{},'✝]+)"
)
_TURNSTILE = "⊢"


@dataclass(frozen=True)
class KNNConfig:
    """How states are featurised, compared and turned into candidates.

    ``k1``/``b`` are BM25's saturation and length normalisation (Robertson & Zaragoza 2009
    defaults). ``conclusion_weight`` multiplies the term frequency of tokens after ``⊢``;
    ``other_goals_weight`` that of every goal after the first (tactics act on the first goal;
    0, the default, ignores the others: best on Coq's multi-goal states, see above).
    ``neighbours`` is the number of nearest states the softmax runs over (at least ``k``),
    ``temperature`` its temperature on the relative similarity ``s / s_max``, ``aggregate``
    how the neighbours using one tactic combine (``"sum"`` of probabilities, or ``"max"``).
    """

    k1: float = 1.2
    b: float = 0.75
    conclusion_weight: float = 2.0
    other_goals_weight: float = 0.0
    neighbours: int = 256
    temperature: float = 0.15
    aggregate: Literal["sum", "max"] = "sum"

    def __post_init__(self) -> None:
        for name in ("k1", "conclusion_weight", "temperature"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ConfigError(f"KNNConfig.{name} must be a finite number > 0, got {value}")
        if not 0.0 <= self.b <= 1.0:
            raise ConfigError(f"KNNConfig.b must be in [0, 1], got {self.b}")
        if not math.isfinite(self.other_goals_weight) or self.other_goals_weight < 0:
            raise ConfigError("KNNConfig.other_goals_weight must be a finite number >= 0, "
                              f"got {self.other_goals_weight}")
        if self.aggregate not in ("sum", "max"):
            raise ConfigError(f"KNNConfig.aggregate must be 'sum' or 'max', got {self.aggregate!r}")
        if isinstance(self.neighbours, bool) or not isinstance(self.neighbours, int) \
                or self.neighbours < 1:
            raise ConfigError(f"KNNConfig.neighbours must be an int >= 1, got {self.neighbours}")


def tokenize(text: str) -> list[str]:
    """Identifiers, numbers and symbol runs of goal text, in order (brackets and commas dropped).

    A qualified name is followed by its components (``Nat.add_comm``, ``Nat``, ``add_comm``).
    """
    tokens: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group()
        tokens.append(token)
        if match.lastgroup == "ident" and "." in token:
            tokens.extend(part for part in token.split(".") if part)
    return tokens


def state_goals(text: str) -> tuple[str, ...]:
    """The goals of a state's text: Lean's rule (:func:`split_lean_goals`) when it has a ``⊢``,
    else the whole text as one goal (``()`` when blank)."""
    if _TURNSTILE in text:
        return split_lean_goals(text)
    stripped = text.strip()
    return (stripped,) if stripped else ()


def goal_features(goals: Sequence[str], config: KNNConfig) -> dict[str, float]:
    """Weighted term frequencies of a state's goals (see the module docstring)."""
    features: dict[str, float] = {}
    for index, goal in enumerate(goals):
        scale = 1.0 if index == 0 else config.other_goals_weight
        if scale == 0.0:
            break
        hyps, turnstile, concl = goal.rpartition(_TURNSTILE)
        if not turnstile:
            hyps, concl = "", goal
        for text, weight in ((hyps, scale), (concl, scale * config.conclusion_weight)):
            for token in tokenize(text):
                features[token] = features.get(token, 0.0) + weight
    return features


@dataclass(frozen=True)
class _Index:
    """The inverted index: postings of term ``t`` are ``[indptr[t], indptr[t + 1])``."""

    vocab: dict[str, int]
    indptr: npt.NDArray[np.int64]
    doc_ids: npt.NDArray[np.int64]
    weights: npt.NDArray[np.float64]
    tactics: tuple[str, ...]
    tactic_ids: npt.NDArray[np.int64]
    theorem_docs: dict[str, npt.NDArray[np.int64]]
    state_docs: dict[str, list[int]]

    @property
    def size(self) -> int:
        return len(self.tactic_ids)


def _build_index(states: Sequence[Sequence[str]], tactics: Sequence[str],
                 theorems: Sequence[str | None], config: KNNConfig) -> _Index:
    vocab: dict[str, int] = {}
    postings: list[list[tuple[int, float]]] = []
    lengths: list[float] = []
    state_docs: dict[str, list[int]] = {}
    for doc, goals in enumerate(states):
        state_docs.setdefault(_state_key(goals), []).append(doc)
        features = goal_features(goals, config)
        lengths.append(sum(features.values()))
        for term, tf in features.items():
            term_id = vocab.setdefault(term, len(vocab))
            if term_id == len(postings):
                postings.append([])
            postings[term_id].append((doc, tf))
    n_docs = len(tactics)
    indptr = np.zeros(len(postings) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(p) for p in postings])
    doc_ids = np.fromiter((d for p in postings for d, _ in p), dtype=np.int64,
                          count=int(indptr[-1]))
    tfs = np.fromiter((t for p in postings for _, t in p), dtype=np.float64,
                      count=int(indptr[-1]))
    doc_len = np.asarray(lengths, dtype=np.float64)
    avg_len = float(doc_len.mean()) if n_docs and doc_len.mean() > 0 else 1.0
    df = np.diff(indptr).astype(np.float64)
    # Lucene's BM25 idf, log(1 + (N - df + 0.5) / (df + 0.5)): never negative, so a term in
    # most documents still counts a little instead of penalising the documents holding it.
    idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
    norm = config.k1 * (1.0 - config.b + config.b * doc_len[doc_ids] / avg_len)
    weights = np.repeat(idf, np.diff(indptr)) * tfs * (config.k1 + 1.0) / (tfs + norm)
    by_theorem: dict[str, list[int]] = {}
    for doc, name in enumerate(theorems):
        if name is not None:
            by_theorem.setdefault(name, []).append(doc)
    theorem_docs = {name: np.asarray(docs, dtype=np.int64) for name, docs in by_theorem.items()}
    tactic_table: dict[str, int] = {}
    tactic_ids = np.fromiter((tactic_table.setdefault(t, len(tactic_table)) for t in tactics),
                             dtype=np.int64, count=n_docs)
    return _Index(vocab, indptr, doc_ids, weights, tuple(tactic_table), tactic_ids,
                  theorem_docs, state_docs)


def _state_key(goals: Sequence[str]) -> str:
    return "\n\n".join(goals)


TraceSource = str | Path | Iterable[TraceRecord]


class KNNTacticGenerator:
    """Proposes the tactics of the recorded states nearest to the queried one (BM25).

    ``pairs`` are ``(state text, tactic)``; a state's text is split into goals by
    :func:`state_goals`. ``theorems`` (same length, optional) names the theorem each pair comes
    from, so that :meth:`excluding` (or ``exclude_theorems``) can leave a theorem's own proof out
    of the index for leakage-free evaluation. ``normalize`` maps each recorded tactic to the
    text to propose: a backend's rule for what is structure rather than a tactic (Coq's
    :func:`~prover.backends.coq_layout.strip_structure` drops bullets, braces and focus
    commands, which a proof's layout places, not a generator); a pair it maps to blank text is
    left out of the index. A query costs about 0.5 ms on 50k pairs (see
    ``benchmarks/knn_speed.py``), so :meth:`propose` runs inline; it is deterministic.
    """

    def __init__(self, pairs: Sequence[tuple[str, str]], *,
                 theorems: Sequence[str | None] | None = None,
                 config: KNNConfig | None = None,
                 exclude_theorems: Collection[str] = (),
                 normalize: Callable[[str], str] | None = None) -> None:
        self.config = config if config is not None else KNNConfig()
        if theorems is not None and len(theorems) != len(pairs):
            raise ConfigError(f"theorems has {len(theorems)} names for {len(pairs)} pairs")
        states: list[tuple[str, ...]] = []
        tactics: list[str] = []
        names: list[str | None] = []
        for index, pair in enumerate(pairs):
            if (not isinstance(pair, (tuple, list)) or len(pair) != 2
                    or not all(isinstance(part, str) for part in pair)):
                raise ConfigError(f"pairs[{index}] must be a (state, tactic) pair of strings, "
                                  f"got {pair!r:.80}")
            tactic = (normalize(pair[1]) if normalize is not None else pair[1]).strip()
            if not tactic:
                continue
            states.append(state_goals(pair[0]))
            tactics.append(tactic)
            names.append(theorems[index] if theorems is not None else None)
        self._index = _build_index(states, tactics, names, self.config)
        self._excluded = frozenset(exclude_theorems)

    @classmethod
    def from_traces(cls, sources: TraceSource | Iterable[TraceSource], *,
                    config: KNNConfig | None = None,
                    exclude_theorems: Collection[str] = (),
                    normalize: Callable[[str], str] | None = None) -> KNNTacticGenerator:
        """Index the transitions of traces (DESIGN.md format) whose tactic worked.

        ``sources`` is a trace file, a list of :class:`TraceRecord`, or an iterable of those.
        A transition counts when its outcome is ``state`` or ``proved``; roots, errors and
        timeouts are skipped. A malformed file raises :class:`DataFormatError`.
        ``normalize``: see the class docstring.
        """
        pairs: list[tuple[str, str]] = []
        theorems: list[str | None] = []
        for records in _trace_sources(sources):
            for record in records:
                if record.tactic is not None and record.outcome in ("state", "proved"):
                    pairs.append((record.state, record.tactic))
                    theorems.append(record.theorem)
        return cls(pairs, theorems=theorems, config=config, exclude_theorems=exclude_theorems,
                   normalize=normalize)

    @classmethod
    def from_steps(cls, paths: str | Path | Iterable[str | Path], *,
                   config: KNNConfig | None = None,
                   exclude_theorems: Collection[str] = (),
                   normalize: Callable[[str], str] | None = None) -> KNNTacticGenerator:
        """Index step-record JSONL files: one object per line with the state (``state`` or
        LeanDojo's ``state_before``), the ``tactic`` and, optionally, the theorem (``theorem``
        or LeanDojo's ``full_name``). A bad line raises :class:`DataFormatError` naming the
        file, line and field."""
        steps = read_steps(paths)
        return cls([(step.state, step.tactic) for step in steps],
                   theorems=[step.theorem for step in steps], config=config,
                   exclude_theorems=exclude_theorems, normalize=normalize)

    def __len__(self) -> int:
        return self._index.size

    @property
    def theorems(self) -> frozenset[str]:
        """Names of the theorems whose pairs are indexed (pairs given without a name excluded)."""
        return frozenset(self._index.theorem_docs)

    def excluding(self, theorems: Collection[str]) -> KNNTacticGenerator:
        """A generator over the same index (shared, not copied) that also ignores the pairs of
        ``theorems``; names not in the index are ignored."""
        clone = object.__new__(KNNTacticGenerator)
        clone.config = self.config
        clone._index = self._index
        clone._excluded = self._excluded | frozenset(theorems)
        return clone

    def suggest(self, goals: Sequence[str] | str, k: int, *,
                exclude_theorems: Collection[str] = ()) -> list[Candidate]:
        """The synchronous core of :meth:`propose`: up to ``k`` candidates for a state given as
        its goals (or its text), best first; pairs of ``exclude_theorems`` are left out for this
        query only."""
        if k <= 0 or self._index.size == 0:
            return []
        if isinstance(goals, str):
            goals = state_goals(goals)
        index = self._index
        query = [(index.vocab[term], weight)
                 for term, weight in goal_features(goals, self.config).items()
                 if term in index.vocab]
        if not query:
            return []
        starts = [int(index.indptr[t]) for t, _ in query]
        ends = [int(index.indptr[t + 1]) for t, _ in query]
        docs = np.concatenate([index.doc_ids[s:e] for s, e in zip(starts, ends)])
        contrib = np.concatenate([index.weights[s:e] * w
                                  for (s, e), (_, w) in zip(zip(starts, ends), query)])
        scores = np.asarray(np.bincount(docs, weights=contrib, minlength=index.size),
                            dtype=np.float64)
        identical = index.state_docs.get(_state_key(goals))
        if identical is not None:
            # BM25 can score a short document holding the query's rare terms above the query's
            # own text; a recorded identical state must stay the nearest, so it is lifted one
            # ulp above the best score.
            scores[identical] = np.nextafter(scores.max(), np.inf)
        for name in self._excluded.union(exclude_theorems):
            excluded = index.theorem_docs.get(name)
            if excluded is not None:
                scores[excluded] = 0.0
        nearest = _top(scores, max(self.config.neighbours, k))
        if nearest.size == 0:
            return []
        relative = scores[nearest] / scores[nearest[0]] / self.config.temperature
        logprobs = relative - _logsumexp(relative)
        # Tactic ids in order of their nearest neighbour; `first[j]` is that neighbour's rank.
        tactic_ids, first, inverse = np.unique(index.tactic_ids[nearest], return_index=True,
                                               return_inverse=True)
        if self.config.aggregate == "sum":
            mass = np.bincount(inverse, weights=np.exp(logprobs), minlength=tactic_ids.size)
            tactic_logprobs = np.log(mass)
        else:
            tactic_logprobs = logprobs[first]
        # Best logprob first, ties to the tactic whose nearest neighbour ranks first.
        order = np.lexsort((first, -tactic_logprobs))[:k]
        candidates = [Candidate(index.tactics[int(tactic_ids[j])],
                                min(0.0, float(tactic_logprobs[j])))
                      for j in order.tolist()]
        return merge_candidates(candidates, k)

    async def propose(self, state: ProofState, k: int) -> list[Candidate]:
        """Up to ``k`` tactics of the nearest recorded states, best first (pure CPU, inline)."""
        return self.suggest(state.goals, k)


def _top(scores: npt.NDArray[np.float64], m: int) -> npt.NDArray[np.int64]:
    """Indices of the ``m`` highest positive scores, best first, ties to the lower index."""
    positive = np.flatnonzero(scores > 0.0)
    if positive.size > m:
        values = scores[positive]
        threshold = np.partition(values, positive.size - m)[positive.size - m]
        positive = positive[values >= threshold]
    order = np.lexsort((positive, -scores[positive]))
    return positive[order][:m]


def _logsumexp(values: npt.NDArray[np.float64]) -> float:
    peak = float(values.max())
    return peak + float(np.log(np.exp(values - peak).sum()))


def _trace_sources(sources: TraceSource | Iterable[TraceSource]
                   ) -> Iterator[Iterable[TraceRecord]]:
    if isinstance(sources, (str, Path)):
        yield read_trace(sources)
        return
    items = list(sources)
    if items and all(isinstance(item, TraceRecord) for item in items):
        yield items  # type: ignore[misc]
        return
    for item in items:
        if isinstance(item, (str, Path)):
            yield read_trace(item)
        elif isinstance(item, TraceRecord):
            raise ConfigError("from_traces: mix of TraceRecords and other sources; pass a list "
                              "of records, a path, or a list of those")
        else:
            records = list(item)
            for record in records:
                if not isinstance(record, TraceRecord):
                    raise ConfigError(f"from_traces: expected TraceRecord, got "
                                      f"{type(record).__name__}")
            yield records


class Step(NamedTuple):
    """One ``(state, tactic)`` pair of a step-record file and the theorem it comes from."""

    state: str
    tactic: str
    theorem: str | None


def read_steps(paths: str | Path | Iterable[str | Path]) -> list[Step]:
    """Read step-record JSONL files (see :meth:`KNNTacticGenerator.from_steps`)."""
    steps: list[Step] = []
    for path in [paths] if isinstance(paths, (str, Path)) else list(paths):
        steps.extend(_parse_step(obj, path, line) for line, obj in iter_jsonl(path))
    return steps


def _parse_step(obj: Any, path: str | Path, line: int) -> Step:
    where: Where = {"path": path, "line": line}
    pair = parse_state_pair(obj, where)
    if not state_goals(pair.state):
        raise DataFormatError("the state is empty", field="state", **where)
    return Step(pair.state, pair.tactic, pair.theorem)


__all__ = [
    "KNNConfig",
    "KNNTacticGenerator",
    "Step",
    "goal_features",
    "read_steps",
    "state_goals",
    "tokenize",
]
