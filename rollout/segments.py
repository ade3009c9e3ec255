"""Segment-level training data: proof trajectories cut where the open-goal count changes.

A trajectory is a run of tactics ``t1..tn`` through states with open-goal counts ``g0..gn``.
Step ``i`` is a *segment boundary* when ``g(i) != g(i-1)`` (proof completion, 1 -> 0, counts);
a *segment* is a maximal run of consecutive steps that ends at a boundary or at the end of the
trajectory (DESIGN.md, "Definitions that must hold everywhere"). Counts ``1,1,2,2,1,0`` give the
segments ``[t1,t2] [t3,t4] [t5]``, i.e. tactic ranges ``[(0, 2), (2, 4), (4, 5)]``.

:func:`build_segment_dataset` turns trajectories into supervised pairs at three granularities,
the seed paper's method and its two baselines ("Rethinking Supervision Granularity:
Segment-Level Learning for LLM-Based Theorem Proving"):

- ``"segment"``: one pair per segment;
- ``"step"``: one pair per tactic;
- ``"whole"``: one pair per trajectory (whole-proof generation).

Each pair's ``input`` is the state at the start of the unit and its ``output`` the unit's tactics
one per line, written so that the backend of the data's language splits it back into them
(:mod:`rollout.tactic_text`: Lean layout for LeanDojo steps and traces, Coq sentences for Coq
steps), so a segment-trained policy's output can be applied as a multi-tactic candidate.

Three inputs are read (:func:`load_trajectories`, format detected from the first record):

- ``"trace"``: trace files (DESIGN.md format, e.g. a :class:`RecordingEnvironment` log). Every
  theorem whose recorded transitions reach a proof gives its shortest proved root-to-proof path
  (``proofs_per_theorem`` > 1 adds the next shortest ones).
- ``"leandojo"``: LeanDojo step records (``full_name``, ``step_idx``, ``state_before``,
  ``tactic``, ``state_after``; e.g. ``leandojo_benchmark4_subset_steps.jsonl``), grouped by
  theorem and ordered by ``step_idx``. A state's count is its number of ``⊢``; ``no goals`` is 0.
  ``"leandojo-benchmark"`` is the same data as LeanDojo Benchmark theorem records
  (a ``.json`` object or list with ``traced_tactics``).
- ``"coq"``: Coq step records ``{theorem, step, state, tactic, num_goals_before,
  num_goals_after, steps_remaining}`` (``seg-prover coq extract``), grouped by theorem and
  ordered by ``step``; the counts are taken as recorded.

**Non-linear LeanDojo proofs.** LeanDojo prints only the goals a tactic works on: after a
branching tactic (``by_cases``, ``cases``, ``constructor``) the next ``state_before`` holds one
case, and tactics nested inside a term (``exact foo (by simp)``) or a combinator
(``classical; simp``) are traced besides their enclosing tactic, out of execution order. So the
steps do not always form a chain (``linear_chain == false``). ``nonlinear`` says what to do:

- ``"reconstruct"`` (default): replay the goal list. The full state before a step is the list
  of pending goals; the step's shown goals must be found in it as a contiguous run (usually the
  first goals; elsewhere when the proof used ``case``/``swap``/bullets out of order: then the
  focused goals are moved to the front, as Lean's focusing does, and the pair's metadata says
  ``"reordered": true``); they are replaced by the goals shown after it. Inputs are the full
  states, which is what a search presents to the generator. The change in count is the shown
  change, since a tactic never touches the goals outside its focus. A theorem whose shown goals
  cannot be found (nested or combinator tactics) is skipped as ``"unreconstructable"``.
- ``"local"``: keep each step's shown state as its input and its shown counts (so boundaries are
  the same as with ``"reconstruct"``), without checking that the steps form a chain. Nested
  tactics then become pairs of their own, out of order: use for analysis, not for training.
- ``"skip"``: drop every theorem whose steps are not a chain.

Trajectories that do not end at 0 goals (LeanDojo proofs finished by untraced tactics, partial
Coq scripts) are skipped as ``"incomplete"`` unless ``require_complete=False``.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

from prover.errors import ConfigError, DataFormatError
from prover.traces import iter_jsonl, parse_trace_record, split_lean_goals
from rollout.tactic_text import join_tactics, language_of, split_tactics

log = logging.getLogger(__name__)

Granularity = Literal["segment", "step", "whole"]
TrajectoryFormat = Literal["auto", "trace", "leandojo", "leandojo-benchmark", "coq"]
NonLinear = Literal["reconstruct", "local", "skip"]
Span: TypeAlias = tuple[int, int]

GRANULARITIES: tuple[str, ...] = ("segment", "step", "whole")
FORMATS: tuple[str, ...] = ("auto", "trace", "leandojo", "leandojo-benchmark", "coq")
NONLINEAR_MODES: tuple[str, ...] = ("reconstruct", "local", "skip")


# ---- segmentation ------------------------------------------------------------------------------
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


# ---- trajectories -----------------------------------------------------------------------------
@dataclass(frozen=True)
class TrajectoryStep:
    """One tactic of a trajectory: the state it was applied to and the counts around it."""

    state: str
    tactic: str
    goals_before: int
    goals_after: int
    reordered: bool = False

    @property
    def boundary(self) -> bool:
        """Whether the step changes the open-goal count (a segment boundary)."""
        return self.goals_after != self.goals_before


@dataclass(frozen=True)
class Trajectory:
    """The tactics of one proof (attempt) in order, with the states they were applied to."""

    theorem: str
    steps: tuple[TrajectoryStep, ...]
    source: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.steps, tuple):
            object.__setattr__(self, "steps", tuple(self.steps))

    @property
    def tactics(self) -> tuple[str, ...]:
        return tuple(step.tactic for step in self.steps)

    @property
    def complete(self) -> bool:
        """Whether the last step leaves no open goal."""
        return bool(self.steps) and self.steps[-1].goals_after == 0

    @property
    def goal_counts(self) -> tuple[int, ...]:
        """``g0..gn``: the first step's count before, then every step's count after."""
        if not self.steps:
            return ()
        return (self.steps[0].goals_before, *(step.goals_after for step in self.steps))

    def spans(self, granularity: Granularity = "segment", *, max_len: int | None = None,
              merge_singletons: bool = False) -> list[Span]:
        """The tactic ranges of this trajectory's training units at ``granularity``."""
        _check_granularity(granularity, max_len, merge_singletons)
        n = len(self.steps)
        if n == 0:
            return []
        if granularity == "step":
            return [(i, i + 1) for i in range(n)]
        if granularity == "whole":
            return [(0, n)]
        return segment_spans([step.boundary for step in self.steps], max_len=max_len,
                             merge_singletons=merge_singletons)


def _check_granularity(granularity: str, max_len: int | None, merge_singletons: bool) -> None:
    if granularity not in GRANULARITIES:
        raise ConfigError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    if granularity != "segment" and (max_len is not None or merge_singletons):
        raise ConfigError(f"max_len and merge_singletons apply to granularity 'segment' only, "
                          f"not {granularity!r}")
    _check_options(max_len)


def training_pairs(trajectory: Trajectory, granularity: Granularity = "segment", *,
                   max_len: int | None = None, merge_singletons: bool = False
                   ) -> list[dict[str, Any]]:
    """The SFT pairs of one trajectory: ``input`` (state at the unit's start), ``output`` (its
    tactics one per line, :func:`rollout.tactic_text.join_tactics` in the trajectory's
    language) and metadata (``theorem``, ``start``, ``end``, ``granularity``,
    ``goals_before``, ``goals_after``, ``source``, ``reordered``)."""
    pairs: list[dict[str, Any]] = []
    language = language_of(trajectory.source)
    for start, end in trajectory.spans(granularity, max_len=max_len,
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


# ---- loading ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadedTrajectories:
    """What :func:`load_trajectories` read from one file: the trajectories, the detected
    format, and how many theorems were left out, by reason."""

    path: str
    format: str
    trajectories: tuple[Trajectory, ...]
    skipped: Mapping[str, int] = field(default_factory=dict)


def load_trajectories(path: str | Path, format: TrajectoryFormat = "auto", *,
                      nonlinear: NonLinear = "reconstruct", require_complete: bool = True,
                      proofs_per_theorem: int = 1) -> LoadedTrajectories:
    """Read the trajectories in one file (see the module docstring for formats and options).

    A malformed record raises :class:`DataFormatError` naming the file, line and field.
    """
    if format not in FORMATS:
        raise ConfigError(f"format must be one of {FORMATS}, got {format!r}")
    if nonlinear not in NONLINEAR_MODES:
        raise ConfigError(f"nonlinear must be one of {NONLINEAR_MODES}, got {nonlinear!r}")
    if isinstance(proofs_per_theorem, bool) or proofs_per_theorem < 1:
        raise ConfigError(f"proofs_per_theorem must be >= 1, got {proofs_per_theorem!r}")
    path = Path(path)
    if not path.is_file():
        raise DataFormatError("no such file", path=path)
    fmt = detect_format(path) if format == "auto" else format
    skipped: Counter[str] = Counter()
    trajectories: list[Trajectory]
    if fmt == "trace":
        trajectories = _from_trace(path, proofs_per_theorem, skipped)
    elif fmt == "coq":
        trajectories = _from_coq(path)
    else:
        numbered = (_benchmark_steps(path) if fmt == "leandojo-benchmark"
                    else iter_jsonl(path))
        trajectories = _from_leandojo(numbered, path, nonlinear, skipped, fmt)
    if require_complete:
        kept = [t for t in trajectories if t.complete]
        skipped["incomplete"] += len(trajectories) - len(kept)
        trajectories = kept
    return LoadedTrajectories(str(path), fmt, tuple(trajectories),
                              {k: v for k, v in skipped.items() if v})


def detect_format(path: str | Path) -> str:
    """The format of a file, from its first record's fields."""
    path = Path(path)
    with open(path, encoding="utf-8") as handle:
        head = handle.read(1)
        while head.isspace():
            head = handle.read(1)
    if not head:
        raise DataFormatError("empty file: cannot detect its format", path=path)
    if head == "[" or (head == "{" and path.suffix == ".json"):
        return "leandojo-benchmark"
    first: Any = next(iter_jsonl(path))[1]
    if isinstance(first, dict):
        if "outcome" in first and "theorem" in first:
            return "trace"
        if "num_goals_before" in first:
            return "coq"
        if "state_before" in first:
            return "leandojo"
        if "traced_tactics" in first:
            return "leandojo-benchmark"
    keys = sorted(first) if isinstance(first, dict) else type(first).__name__
    raise DataFormatError(f"cannot tell the format from the first record ({keys}); expected a "
                          f"trace, LeanDojo step or Coq step record; pass format=...",
                          path=path, line=1)


def _from_trace(path: Path, proofs: int, skipped: Counter[str]) -> list[Trajectory]:
    import networkx as nx

    graphs: dict[str, nx.MultiDiGraph] = {}
    roots: dict[str, str] = {}
    goal_count: dict[tuple[str, str], int] = {}
    for line, obj in iter_jsonl(path):
        record = parse_trace_record(obj, path=path, line=line)
        graph = graphs.setdefault(record.theorem, nx.MultiDiGraph())
        if record.is_root:
            roots.setdefault(record.theorem, record.state)
            goal_count.setdefault((record.theorem, record.state), len(record.goals))
            continue
        roots.setdefault(record.theorem, record.state)  # a trace may lack its root record
        if record.outcome == "state":
            target = "\n\n".join(record.goals)
            goal_count.setdefault((record.theorem, target), len(record.goals))
        elif record.outcome == "proved":
            target = _PROVED
        else:
            continue
        assert record.tactic is not None  # only root records have no tactic
        if not graph.has_edge(record.state, target, key=record.tactic):
            graph.add_edge(record.state, target, key=record.tactic, order=line)
    out: list[Trajectory] = []
    for theorem, graph in graphs.items():
        root = roots[theorem]
        if _PROVED not in graph or root not in graph or not nx.has_path(graph, root, _PROVED):
            skipped["unproved"] += 1
            continue
        simple = nx.DiGraph()
        for a, b in graph.edges():
            if not simple.has_edge(a, b):  # several tactics between two states: the first
                simple.add_edge(a, b, tactic=_first_tactic(graph, a, b))
        for count, path_nodes in enumerate(nx.shortest_simple_paths(simple, root, _PROVED)):
            if count >= proofs:
                break
            steps = []
            for a, b in itertools.pairwise(path_nodes):
                before = goal_count.get((theorem, a), len(a.split("\n\n")))
                after = 0 if b == _PROVED else goal_count[(theorem, b)]
                steps.append(TrajectoryStep(a, simple.edges[a, b]["tactic"], before, after))
            out.append(Trajectory(theorem, tuple(steps), "trace"))
    return out


_PROVED = "\x00proved"


def _first_tactic(graph: Any, a: str, b: str) -> str:
    edges = graph.get_edge_data(a, b)
    tactic: str = min(edges, key=lambda t: edges[t]["order"])
    return tactic


def _benchmark_steps(path: Path) -> Iterator[tuple[int | None, Any]]:
    """LeanDojo Benchmark theorem records flattened into step records (no line numbers)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"invalid JSON: {exc.msg}", path=path, line=exc.lineno) from exc
    records = data.values() if isinstance(data, dict) else data
    if not isinstance(records, Iterable):
        raise DataFormatError("expected a JSON object or list of theorem records", path=path)
    for index, theorem in enumerate(records):
        if not isinstance(theorem, dict) or not isinstance(theorem.get("traced_tactics"), list):
            raise DataFormatError(f"record {index} has no 'traced_tactics' list", path=path,
                                  field="traced_tactics")
        name = theorem.get("full_name", f"#{index}")
        for step_idx, tactic in enumerate(theorem["traced_tactics"]):
            if not isinstance(tactic, dict):
                raise DataFormatError(f"record {index}: traced tactic {step_idx} is not an "
                                      f"object", path=path, field="traced_tactics")
            yield None, {**tactic, "full_name": name, "step_idx": step_idx}


def _from_leandojo(numbered: Iterable[tuple[int | None, Any]], path: Path, nonlinear: NonLinear,
                   skipped: Counter[str], source: str) -> list[Trajectory]:
    by_theorem: dict[str, list[tuple[int, int | None, Mapping[str, Any]]]] = {}
    for line, record in numbered:
        where: dict[str, Any] = {"path": path, "line": line}
        if not isinstance(record, Mapping):
            raise DataFormatError(f"expected an object, got {type(record).__name__}", **where)
        for name in ("full_name", "state_before", "tactic", "state_after"):
            if not isinstance(record.get(name), str):
                raise DataFormatError("missing or not a string", field=name, **where)
        index = record.get("step_idx", len(by_theorem.get(record["full_name"], ())))
        if isinstance(index, bool) or not isinstance(index, int):
            raise DataFormatError(f"expected an int, got {index!r}", field="step_idx", **where)
        by_theorem.setdefault(record["full_name"], []).append((index, line, record))
    out: list[Trajectory] = []
    for theorem, rows in by_theorem.items():
        rows.sort(key=lambda row: row[0])
        shown = [(split_lean_goals(r["state_before"]), r["tactic"],
                  split_lean_goals(r["state_after"])) for _, _, r in rows]
        for (_, line, _), (before, _, _) in zip(rows, shown):
            if not before:
                raise DataFormatError("state_before has no goal (no '⊢')", path=path, line=line,
                                      field="state_before")
        linear = all(shown[i][2] == shown[i + 1][0] for i in range(len(shown) - 1))
        if nonlinear == "local" or (linear and nonlinear == "skip"):
            steps = [TrajectoryStep(_pp(b), t, len(b), len(a)) for b, t, a in shown]
        elif nonlinear == "skip":
            skipped["nonlinear"] += 1
            continue
        else:
            rebuilt = _reconstruct(shown)
            if rebuilt is None:
                skipped["unreconstructable"] += 1
                continue
            steps = rebuilt
        out.append(Trajectory(theorem, tuple(steps), source))
    return out


def _reconstruct(shown: Sequence[tuple[tuple[str, ...], str, tuple[str, ...]]]
                 ) -> list[TrajectoryStep] | None:
    """Replay the pending-goal list through steps that show only their focused goals."""
    pending = list(shown[0][0])
    steps: list[TrajectoryStep] = []
    for before, tactic, after in shown:
        if not pending:
            return None  # steps after the proof was complete: nested tactics
        at = _find_run(pending, before)
        if at is None:
            return None
        rest = pending[:at] + pending[at + len(before):]
        full_before = [*before, *rest]
        steps.append(TrajectoryStep(_pp(full_before), tactic, len(full_before),
                                    len(after) + len(rest), reordered=at != 0))
        pending = [*after, *rest]
    return steps


def _find_run(items: Sequence[str], run: Sequence[str]) -> int | None:
    n = len(run)
    for start in range(len(items) - n + 1):
        if list(items[start:start + n]) == list(run):
            return start
    return None


def _pp(goals: Sequence[str]) -> str:
    return "\n\n".join(goals)


_COQ_FIELDS: tuple[tuple[str, type], ...] = (
    ("theorem", str), ("step", int), ("state", str), ("tactic", str),
    ("num_goals_before", int), ("num_goals_after", int),
)


def _from_coq(path: Path) -> list[Trajectory]:
    by_theorem: dict[str, list[tuple[int, TrajectoryStep]]] = {}
    for line, record in iter_jsonl(path):
        where: dict[str, Any] = {"path": path, "line": line}
        if not isinstance(record, Mapping):
            raise DataFormatError(f"expected an object, got {type(record).__name__}", **where)
        for name, kind in _COQ_FIELDS:
            value = record.get(name)
            if isinstance(value, bool) or not isinstance(value, kind):
                raise DataFormatError(f"expected {kind.__name__}, got {value!r}", field=name,
                                      **where)
        for name in ("num_goals_before", "num_goals_after"):
            if record[name] < 0:
                raise DataFormatError("negative goal count", field=name, **where)
        by_theorem.setdefault(record["theorem"], []).append((record["step"], TrajectoryStep(
            record["state"], record["tactic"], record["num_goals_before"],
            record["num_goals_after"])))
    out = []
    for theorem, rows in by_theorem.items():
        rows.sort(key=lambda row: row[0])
        out.append(Trajectory(theorem, tuple(step for _, step in rows), "coq"))
    return out


# ---- the dataset ------------------------------------------------------------------------------
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


Source: TypeAlias = str | Path | Trajectory
"""A trajectory file (any format :func:`load_trajectories` reads) or one trajectory."""


@dataclass
class SourceTally:
    """What :func:`iter_trajectories` read: files, their detected formats, and the proofs the
    loader left out, by reason."""

    files: int = 0
    formats: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)


def iter_trajectories(trajectories: Source | Iterable[Source], tally: SourceTally, *,
                      format: TrajectoryFormat = "auto", nonlinear: NonLinear = "reconstruct",
                      require_complete: bool = True, proofs_per_theorem: int = 1
                      ) -> Iterator[Trajectory]:
    """The trajectories of a file, a :class:`Trajectory`, or an iterable of either, in order;
    files are read with :func:`load_trajectories` (the keyword options go to it) and counted
    in ``tally``."""
    sources: Iterable[Source] = (
        [trajectories] if isinstance(trajectories, (str, Path, Trajectory)) else trajectories)
    for source in sources:
        if isinstance(source, Trajectory):
            yield source
            continue
        loaded = load_trajectories(source, format, nonlinear=nonlinear,
                                   require_complete=require_complete,
                                   proofs_per_theorem=proofs_per_theorem)
        tally.files += 1
        tally.formats[loaded.format] += 1
        tally.skipped.update(loaded.skipped)
        yield from loaded.trajectories


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
    _check_granularity(granularity, max_len, merge_singletons)
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


# ---- CLI --------------------------------------------------------------------------------------
def add_trajectory_arguments(parser: Any) -> None:
    """``IN... OUT`` and the :func:`iter_trajectories` options, for every command that reads
    recorded proofs (``seg-prover segments``, ``seg-prover progress build-dataset``)."""
    parser.add_argument("inputs", nargs="+", metavar="IN",
                        help="trace JSONL, LeanDojo step JSONL / benchmark JSON, Coq step JSONL")
    parser.add_argument("out", metavar="OUT", help="output JSONL (overwritten)")
    parser.add_argument("--format", choices=FORMATS, default="auto",
                        help="input format (default: detected per file)")
    parser.add_argument("--nonlinear", choices=NONLINEAR_MODES, default="reconstruct",
                        help="LeanDojo steps that do not chain (default: reconstruct)")
    parser.add_argument("--allow-incomplete", action="store_true",
                        help="keep proofs that do not end with no goals")
    parser.add_argument("--proofs-per-theorem", type=int, default=1,
                        help="trace files: this many shortest proofs per theorem")


def trajectory_options(args: Any) -> dict[str, Any]:
    """The :func:`iter_trajectories` keyword options of arguments parsed with
    :func:`add_trajectory_arguments`."""
    return {"format": args.format, "nonlinear": args.nonlinear,
            "require_complete": not args.allow_incomplete,
            "proofs_per_theorem": args.proofs_per_theorem}


def register(subparsers: Any) -> None:
    """Add ``seg-prover segments IN... OUT``."""
    parser = subparsers.add_parser(
        "segments", help="write segment / step / whole-proof SFT pairs from trajectories",
        description="Cut proof trajectories at open-goal-count changes and write SFT pairs "
                    "(JSONL: input, output, theorem, start, end, ...).")
    add_trajectory_arguments(parser)
    parser.add_argument("--granularity", choices=GRANULARITIES, default="segment",
                        help="unit of each pair: one step, a segment, or the whole proof "
                             "(default: segment)")
    parser.add_argument("--max-len", type=int, default=None,
                        help="cut segments longer than this many tactics")
    parser.add_argument("--merge-singletons", action="store_true",
                        help="join length-1 segments to their neighbour")
    parser.add_argument("--json", action="store_true", help="print the stats as JSON")
    parser.set_defaults(func=_cmd_segments)


def _cmd_segments(args: Any) -> int:
    stats = build_segment_dataset(
        list(args.inputs), args.out, args.granularity, max_len=args.max_len,
        merge_singletons=args.merge_singletons, **trajectory_options(args))
    if args.json:
        print(json.dumps(stats.to_dict(), indent=1))
        return 0
    formats = ", ".join(f"{k}: {v}" for k, v in sorted(stats.formats.items()))
    print(f"{stats.files} file(s) ({formats}) -> {args.out}")
    print(f"granularity {stats.granularity}: {stats.pairs} pairs from {stats.trajectories} "
          f"trajectories, {stats.steps} tactics, mean length {stats.mean_length:.2f}")
    if stats.skipped:
        print("skipped theorems: " + ", ".join(f"{k} {v}" for k, v in
                                               sorted(stats.skipped.items())))
    if stats.unsplittable:
        print(f"warning: {stats.unsplittable} outputs do not split back into their tactics")
    print("length  pairs")
    top = max(stats.histogram.values(), default=0)
    for length, count in sorted(stats.histogram.items()):
        bar = "#" * max(1, round(40 * count / top)) if top else ""
        print(f"{length:>6}  {count:>5}  {bar}")
    return 0 if stats.pairs else 1


__all__ = [
    "FORMATS",
    "GRANULARITIES",
    "NONLINEAR_MODES",
    "Granularity",
    "LoadedTrajectories",
    "SegmentDatasetStats",
    "Source",
    "SourceTally",
    "Trajectory",
    "TrajectoryStep",
    "add_trajectory_arguments",
    "build_segment_dataset",
    "detect_format",
    "iter_trajectories",
    "load_trajectories",
    "register",
    "segment_spans",
    "split_into_segments",
    "training_pairs",
    "trajectory_options",
]
