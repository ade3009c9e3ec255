"""Read recorded proofs, in every format the project knows, as :class:`Trajectory` objects.

Formats (:func:`load_trajectories`, detected from the first record):

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
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from prover.errors import ConfigError, DataFormatError
from prover.records import iter_jsonl, parse_coq_step
from prover.traces import parse_trace_record
from prover.trajectories.leandojo import NonLinear, from_leandojo
from prover.trajectories.model import LoadedTrajectories, Trajectory, TrajectoryStep

TrajectoryFormat = Literal["auto", "trace", "leandojo", "leandojo-benchmark", "coq"]

FORMATS: tuple[str, ...] = ("auto", "trace", "leandojo", "leandojo-benchmark", "coq")
NONLINEAR_MODES: tuple[str, ...] = ("reconstruct", "local", "skip")


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
        trajectories = from_leandojo(numbered, path, nonlinear, skipped, fmt)
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


def _from_coq(path: Path) -> list[Trajectory]:
    by_theorem: dict[str, list[tuple[int, TrajectoryStep]]] = {}
    for line, obj in iter_jsonl(path):
        record = parse_coq_step(obj, {"path": path, "line": line})
        by_theorem.setdefault(record.theorem, []).append((record.step, TrajectoryStep(
            record.state, record.tactic, record.goals_before, record.goals_after)))
    out = []
    for theorem, rows in by_theorem.items():
        rows.sort(key=lambda row: row[0])
        out.append(Trajectory(theorem, tuple(step for _, step in rows), "coq"))
    return out


__all__ = ["FORMATS", "NONLINEAR_MODES", "TrajectoryFormat", "detect_format",
           "load_trajectories"]
