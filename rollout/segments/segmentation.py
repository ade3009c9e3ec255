"""Segment-level training data: proof trajectories cut where the open-goal count changes.

A trajectory is a run of tactics ``t1..tn`` through states with open-goal counts ``g0..gn``.
Step ``i`` is a *segment boundary* when ``g(i) != g(i-1)`` (proof completion, 1 -> 0, counts);
a *segment* is a maximal run of consecutive steps that ends at a boundary or at the end of the
trajectory (DESIGN.md, "Definitions that must hold everywhere"). Counts ``1,1,2,2,1,0`` give the
segments ``[t1,t2] [t3,t4] [t5]``, i.e. tactic ranges ``[(0, 2), (2, 4), (4, 5)]``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal, TypeAlias

from prover.errors import ConfigError
from prover.trajectories import Trajectory
from rollout.tactic_text import join_tactics, language_of

Granularity = Literal["segment", "step", "whole"]
Span: TypeAlias = tuple[int, int]

GRANULARITIES: tuple[str, ...] = ("segment", "step", "whole")


def split_into_segments(goal_counts: Sequence[int], *, max_len: int | None = None,
                        merge_singletons: bool = False) -> list[Span]:
    """The half-open tactic index ranges of a trajectory's segments.

    ``goal_counts`` are the open-goal counts ``g0..gn`` of the states of a trajectory of ``n``
    tactics (``n + 1`` counts; only the last may be 0). Step ``i`` (0-based, tactic ``i``) is a
    boundary when ``goal_counts[i + 1] != goal_counts[i]``.

    - ``max_len``: a segment longer than this is cut into consecutive pieces of ``max_len``
      tactics, the remainder last (``None``: no limit).
    - ``merge_singletons`` (off by default; the paper does not merge): a length-1 segment is
      joined to the segment after it, and a length-1 segment left at the end to the one before
      it, unless the result would be longer than ``max_len``. The merged unit then spans a
      boundary.

    >>> split_into_segments([1, 1, 2, 2, 1, 0])
    [(0, 2), (2, 4), (4, 5)]
    """
    counts = _check_counts(goal_counts)
    boundaries = [counts[i + 1] != counts[i] for i in range(len(counts) - 1)]
    return segment_spans(boundaries, max_len=max_len, merge_singletons=merge_singletons)


def segment_spans(boundaries: Sequence[bool], *, max_len: int | None = None,
                  merge_singletons: bool = False) -> list[Span]:
    """Segments from per-step boundary flags (``boundaries[i]``: step ``i`` changes the count).

    The options are those of :func:`split_into_segments`; this form serves step records whose
    counts are given per step and need not chain (a step's count after may differ from the next
    step's count before).
    """
    _check_options(max_len)
    spans: list[Span] = []
    start = 0
    for index, boundary in enumerate(boundaries):
        if boundary or index == len(boundaries) - 1:
            spans.append((start, index + 1))
            start = index + 1
    if max_len is not None:
        spans = [piece for span in spans for piece in _cut(span, max_len)]
    if merge_singletons:
        spans = _merge_singletons(spans, max_len)
    return spans


def _check_counts(goal_counts: Sequence[int]) -> list[int]:
    if isinstance(goal_counts, (str, bytes)) or not isinstance(goal_counts, Sequence):
        raise ValueError(f"goal_counts must be a sequence of ints, "
                         f"got {type(goal_counts).__name__}")
    counts = list(goal_counts)
    if not counts:
        raise ValueError("goal_counts is empty: a trajectory has at least its starting state")
    for index, count in enumerate(counts):
        if isinstance(count, bool) or not isinstance(count, int):
            raise ValueError(f"goal_counts[{index}] must be an int, got {count!r}")
        if count < 0:
            raise ValueError(f"goal_counts[{index}] is negative ({count})")
        if count == 0 and index != len(counts) - 1:
            raise ValueError(f"goal_counts[{index}] is 0 but tactics follow it: only the last "
                             f"state of a trajectory can be proved (counts {counts})")
    return counts


def _check_options(max_len: int | None) -> None:
    if max_len is not None and (isinstance(max_len, bool) or not isinstance(max_len, int)
                                or max_len < 1):
        raise ConfigError(f"max_len must be an integer >= 1 or None, got {max_len!r}")


def _cut(span: Span, max_len: int) -> Iterator[Span]:
    start, end = span
    while end - start > max_len:
        yield start, start + max_len
        start += max_len
    yield start, end


def _merge_singletons(spans: list[Span], max_len: int | None) -> list[Span]:
    limit = max_len if max_len is not None else float("inf")
    out: list[Span] = []
    for span in spans:
        if out and out[-1][1] - out[-1][0] == 1 and span[1] - out[-1][0] <= limit:
            out[-1] = (out[-1][0], span[1])
        else:
            out.append(span)
    if (len(out) >= 2 and out[-1][1] - out[-1][0] == 1
            and out[-1][1] - out[-2][0] <= limit):
        out[-2:] = [(out[-2][0], out[-1][1])]
    return out


def check_granularity(granularity: str, max_len: int | None, merge_singletons: bool) -> None:
    if granularity not in GRANULARITIES:
        raise ConfigError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    if granularity != "segment" and (max_len is not None or merge_singletons):
        raise ConfigError(f"max_len and merge_singletons apply to granularity 'segment' only, "
                          f"not {granularity!r}")
    _check_options(max_len)


def trajectory_spans(trajectory: Trajectory, granularity: Granularity = "segment", *,
                     max_len: int | None = None, merge_singletons: bool = False) -> list[Span]:
    """The tactic ranges of ``trajectory``'s training units at ``granularity``."""
    check_granularity(granularity, max_len, merge_singletons)
    n = len(trajectory.steps)
    if n == 0:
        return []
    if granularity == "step":
        return [(i, i + 1) for i in range(n)]
    if granularity == "whole":
        return [(0, n)]
    return segment_spans(trajectory.boundaries, max_len=max_len,
                         merge_singletons=merge_singletons)


def training_pairs(trajectory: Trajectory, granularity: Granularity = "segment", *,
                   max_len: int | None = None, merge_singletons: bool = False
                   ) -> list[dict[str, Any]]:
    """The SFT pairs of one trajectory: ``input`` (state at the unit's start), ``output`` (its
    tactics one per line, :func:`rollout.tactic_text.join_tactics` in the trajectory's
    language) and metadata (``theorem``, ``start``, ``end``, ``granularity``,
    ``goals_before``, ``goals_after``, ``source``, ``reordered``)."""
    pairs: list[dict[str, Any]] = []
    language = language_of(trajectory.source)
    for start, end in trajectory_spans(trajectory, granularity, max_len=max_len,
                                       merge_singletons=merge_singletons):
        steps = trajectory.steps[start:end]
        pairs.append({
            "input": steps[0].state,
            "output": join_tactics([step.tactic for step in steps], language),
            "theorem": trajectory.theorem,
            "start": start,
            "end": end,
            "granularity": granularity,
            "goals_before": steps[0].goals_before,
            "goals_after": steps[-1].goals_after,
            "source": trajectory.source,
            "reordered": any(step.reordered for step in steps),
        })
    return pairs


__all__ = ["GRANULARITIES", "Granularity", "Span", "check_granularity", "segment_spans",
           "split_into_segments", "training_pairs", "trajectory_spans"]
