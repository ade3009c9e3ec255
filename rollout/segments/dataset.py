""":func:`build_segment_dataset` turns trajectories into supervised pairs at three granularities,
the seed paper's method and its two baselines ("Rethinking Supervision Granularity:
Segment-Level Learning for LLM-Based Theorem Proving"):

- ``"segment"``: one pair per segment;
- ``"step"``: one pair per tactic;
- ``"whole"``: one pair per trajectory (whole-proof generation).

Each pair's ``input`` is the state at the start of the unit and its ``output`` the unit's tactics
one per line, written so that the backend of the data's language splits it back into them
(:mod:`rollout.tactic_text`: Lean layout for LeanDojo steps and traces, Coq sentences for Coq
steps), so a segment-trained policy's output can be applied as a multi-tactic candidate.

Inputs are read by :mod:`prover.trajectories` (every recorded-proof format).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prover.trajectories import (
    NonLinear,
    Source,
    SourceTally,
    TrajectoryFormat,
    iter_trajectories,
)
from rollout.segments.segmentation import Granularity, check_granularity, training_pairs
from rollout.tactic_text import language_of, split_tactics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentDatasetStats:
    """What :func:`build_segment_dataset` wrote.

    ``histogram`` maps a unit's length in tactics to the number of pairs of that length;
    ``skipped`` counts theorems left out, by reason; ``unsplittable`` counts pairs whose output
    the layout rule of the data's language (:func:`rollout.tactic_text.split_tactics`) does not
    split back into their tactics.
    """

    granularity: str
    files: int = 0
    trajectories: int = 0
    steps: int = 0
    pairs: int = 0
    histogram: Mapping[int, int] = field(default_factory=dict)
    skipped: Mapping[str, int] = field(default_factory=dict)
    formats: Mapping[str, int] = field(default_factory=dict)
    unsplittable: int = 0

    @property
    def mean_length(self) -> float:
        """Mean tactics per pair (0 when there are none)."""
        return self.steps / self.pairs if self.pairs else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"granularity": self.granularity, "files": self.files,
                "trajectories": self.trajectories, "steps": self.steps, "pairs": self.pairs,
                "mean_length": self.mean_length,
                "histogram": {str(k): v for k, v in sorted(self.histogram.items())},
                "skipped": dict(self.skipped), "formats": dict(self.formats),
                "unsplittable": self.unsplittable}


def build_segment_dataset(trajectories: Source | Iterable[Source], out: str | Path,
                          granularity: Granularity = "segment", *, max_len: int | None = None,
                          merge_singletons: bool = False, format: TrajectoryFormat = "auto",
                          nonlinear: NonLinear = "reconstruct", require_complete: bool = True,
                          proofs_per_theorem: int = 1) -> SegmentDatasetStats:
    """Write the SFT pairs of ``trajectories`` to the JSONL file ``out`` (overwritten).

    ``trajectories`` is a file, a :class:`Trajectory`, or an iterable of either; files are read
    with :func:`load_trajectories` (``format``, ``nonlinear``, ``require_complete`` and
    ``proofs_per_theorem`` are passed to it). ``max_len`` and ``merge_singletons`` apply to the
    ``"segment"`` granularity (see :func:`split_into_segments`). Returns the counts and the
    length histogram.
    """
    check_granularity(granularity, max_len, merge_singletons)
    tally = SourceTally()
    histogram: Counter[int] = Counter()
    n_trajectories = steps = pairs = unsplittable = 0
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as handle:
        for trajectory in iter_trajectories(trajectories, tally, format=format,
                                            nonlinear=nonlinear,
                                            require_complete=require_complete,
                                            proofs_per_theorem=proofs_per_theorem):
            n_trajectories += 1
            for pair in training_pairs(trajectory, granularity, max_len=max_len,
                                       merge_singletons=merge_singletons):
                length = pair["end"] - pair["start"]
                histogram[length] += 1
                steps += length
                pairs += 1
                if split_tactics(pair["output"], language_of(trajectory.source)) != list(
                        trajectory.tactics[pair["start"]:pair["end"]]):
                    unsplittable += 1
                handle.write(json.dumps(pair, ensure_ascii=False) + "\n")
    if unsplittable:
        log.warning("%d pairs in %s have outputs that their language's layout does not split "
                    "back into their tactics", unsplittable, out)
    return SegmentDatasetStats(granularity, tally.files, n_trajectories, steps, pairs,
                               dict(sorted(histogram.items())), dict(tally.skipped),
                               dict(tally.formats), unsplittable)


__all__ = ["SegmentDatasetStats", "build_segment_dataset"]
