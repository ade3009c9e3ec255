"""Trace format, replay and recording, LeanDojo conversion, and real Mathlib replay."""

from __future__ import annotations

import asyncio
import json
import random
from collections import defaultdict
from pathlib import Path

import pytest
from helpers import TraceBuilder, key

from prover import (
    BestFirstSearch,
    DataFormatError,
    EnvironmentInitError,
    FixedTacticGenerator,
    ProofState,
    Proved,
    RecordingEnvironment,
    ReplayEnvironment,
    StateReached,
    TacticError,
    Theorem,
)
from prover.traces import (
    TraceRecord,
    from_leandojo_steps,
    load_leandojo_steps,
    read_trace,
    split_lean_goals,
    write_trace,
)

ROOT = {"theorem": "t", "state": "⊢ p", "tactic": None, "outcome": "state", "goals": ["⊢ p"]}
STEP = {"theorem": "t", "state": "⊢ p", "tactic": "simp", "outcome": "proved", "goals": [],
        "message": None, "latency_s": 0.01}


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("bad, line, field", [
    ("{not json", 2, None),
    (json.dumps({**STEP, "outcome": "maybe"}), 2, "outcome"),
    (json.dumps({k: v for k, v in STEP.items() if k != "state"}), 2, "state"),
    (json.dumps({**STEP, "goals": "⊢ q"}), 2, "goals"),
    (json.dumps({**STEP, "latency_s": "fast"}), 2, "latency_s"),
    (json.dumps({**STEP, "latency_s": -1}), 2, "latency_s"),
    (json.dumps({**STEP, "outcome": "state", "goals": []}), 2, "goals"),
    (json.dumps([1, 2]), 2, None),
    (json.dumps({k: v for k, v in STEP.items() if k != "tactic"}), 2, "tactic"),
])
def test_malformed_trace_line_names_file_line_and_field(tmp_path: Path, bad: str, line: int,
                                                        field: str | None) -> None:
    path = write_lines(tmp_path / "bad.jsonl", [json.dumps(ROOT), bad, json.dumps(STEP)])
    with pytest.raises(DataFormatError) as info:
        ReplayEnvironment.from_jsonl(path)
    err = info.value
    assert err.line == line and err.field == field and err.path == str(path)
    assert f"line {line}" in str(err) and str(path) in str(err)
    if field:
        assert repr(field) in str(err)


def test_blank_lines_are_skipped_and_line_numbers_stay_true(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "t.jsonl", [json.dumps(ROOT), "", json.dumps({**STEP,
                                                                               "goals": 3})])
    with pytest.raises(DataFormatError) as info:
        read_trace(path)
    assert info.value.line == 3


async def test_replay_answers_from_the_trace(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "t.jsonl", [json.dumps(ROOT), json.dumps(STEP)])
    env = ReplayEnvironment.from_jsonl(path)
    session = await env.open(Theorem("t"))
    assert session.root.goals == ("⊢ p",)
    assert isinstance(await session.apply(session.root, "simp"), Proved)
    missing = await session.apply(session.root, "ring")
    assert isinstance(missing, TacticError) and missing.message == "not in trace"
    assert await session.verify(["simp"]) is True
    assert await session.verify(["ring"]) is False
    assert await session.verify(["simp", "simp"]) is False
    with pytest.raises(EnvironmentInitError):
        await env.open(Theorem("other"))


async def test_replay_latency_fixed_and_recorded() -> None:
    trace = TraceBuilder().edge("root", "slow", "A", latency_s=0.2)
    loop = asyncio.get_running_loop()
    for latency, expected in ((0.05, 0.05), ("recorded", 0.2), (None, 0.0)):
        session = await trace.env(latency_s=latency).open(Theorem("t"))
        began = loop.time()
        await session.apply(session.root, "slow")
        took = loop.time() - began
        assert expected <= took < expected + 0.15


async def test_recording_then_replay_gives_the_same_search(tmp_path: Path) -> None:
    trace = (TraceBuilder().edge("root", "a", "A").edge("root", "b", "B+C")
             .edge("A", "x", "error").edge("B+C", "c", "C").edge("C", "d", "proved"))
    gen = FixedTacticGenerator({key("root"): [("a", -0.1), ("b", -0.2)],
                                key("A"): [("x", 0.0)], key("B+C"): [("c", 0.0)],
                                key("C"): [("d", 0.0)]})
    out = tmp_path / "rec.jsonl"
    recording = RecordingEnvironment(trace.env(), out)
    first = await BestFirstSearch(recording, gen).search(Theorem("t"))
    await recording.close()
    records = read_trace(out)
    assert records[0].is_root and records[0].goals == TraceBuilder.goals("root")
    assert {r.outcome for r in records[1:]} == {"state", "error", "proved"}
    assert all(r.latency_s is not None for r in records[1:])
    second = await BestFirstSearch(ReplayEnvironment(records), gen).search(Theorem("t"))
    assert first.proof == second.proof == ("b", "c", "d")
    assert sorted(first.tree.graph.edges) == sorted(second.tree.graph.edges)


def test_split_lean_goals_follows_leandojo() -> None:
    assert split_lean_goals("no goals") == ()
    pp = "2 goals\ncase inl\nh : p\n⊢ q\n\ncase inr\nh : r\n⊢ q"
    assert split_lean_goals(pp) == ("case inl\nh : p\n⊢ q", "case inr\nh : r\n⊢ q")
    assert len(split_lean_goals(pp)) == pp.count("⊢")
    # A hypothesis printed over a blank line stays in its goal (LeanDojo would drop the part);
    # the converters and the LeanDojo backend share this one rule.
    wrapped = "h : let x := 1\n\n  x = 1\n⊢ True\n\ncase b\n⊢ False\n\n  trailing"
    from prover.backends.leandojo import split_goals

    assert split_lean_goals(wrapped) == split_goals(wrapped) == (
        "h : let x := 1\n\n  x = 1\n⊢ True", "case b\n⊢ False\n\n  trailing")


def test_from_leandojo_steps_builds_roots_and_outcomes() -> None:
    steps = [
        {"full_name": "f", "state_before": "⊢ a", "tactic": "constructor",
         "state_after": "case l\n⊢ b\n\ncase r\n⊢ c"},
        {"full_name": "f", "state_before": "case l\n⊢ b\n\ncase r\n⊢ c", "tactic": "all_goals simp",
         "state_after": "no goals"},
    ]
    records = from_leandojo_steps(steps)
    assert [r.tactic for r in records] == [None, "constructor", "all_goals simp"]
    assert records[1].goals == ("case l\n⊢ b", "case r\n⊢ c")
    assert records[2].outcome == "proved"
    with pytest.raises(DataFormatError) as info:
        from_leandojo_steps([steps[0], {"full_name": "f", "tactic": 3}])
    assert info.value.line == 2


def _linear_theorems(steps_path: Path) -> dict[str, list[dict]]:  # type: ignore[type-arg]
    by_name: dict[str, list[dict]] = defaultdict(list)  # type: ignore[type-arg]
    for line in steps_path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        by_name[record["full_name"]].append(record)
    return {name: sorted(rs, key=lambda r: r["step_idx"]) for name, rs in by_name.items()
            if all(r["linear_chain"] for r in rs) and rs[-1]["state_after"] == "no goals"}


async def test_replay_of_real_mathlib_states_finds_the_recorded_proofs(shared_data: Path
                                                                       ) -> None:
    steps_path = shared_data / "trajectories" / "leandojo_benchmark4_subset_steps.jsonl"
    theorems = _linear_theorems(steps_path)
    env = ReplayEnvironment(load_leandojo_steps(steps_path))
    rng = random.Random(0)
    names = rng.sample(sorted(theorems), 150)
    all_tactics = sorted({r["tactic"] for rs in theorems.values() for r in rs})
    table: dict[str, list[tuple[str, float]]] = {}
    for name in names:
        for record in theorems[name]:
            state = ProofState(split_lean_goals(record["state_before"]))
            # the recorded tactic hidden among distractors, not ranked first
            distractors = rng.sample(all_tactics, 5)
            table[state.key] = [(t, -1.0) for t in distractors] + [(record["tactic"], -2.0)]
    search = BestFirstSearch(env, FixedTacticGenerator(table))
    results = await asyncio.gather(*(search.search(Theorem(n)) for n in names))
    for name, result in zip(names, results):
        assert result.status == "proved", (name, result.message)
        assert result.stats.verified is True
        recorded = tuple(r["tactic"] for r in theorems[name])
        assert len(result.proof) <= len(recorded)
        result.tree.check_invariants()
    exact = sum(r.proof == tuple(x["tactic"] for x in theorems[n])
                for n, r in zip(names, results))
    assert exact >= 0.9 * len(names)


def test_write_and_read_trace_roundtrip(tmp_path: Path) -> None:
    records = [TraceRecord("t", "⊢ p", None, "state", ("⊢ p",)),
               TraceRecord("t", "⊢ p", "simp", "error", (), "no progress", 0.5)]
    path = tmp_path / "x.jsonl"
    assert write_trace(records, path) == 2
    assert read_trace(path) == records
    assert isinstance(records[0].to_outcome(), StateReached)


@pytest.mark.parametrize("latency", [float("nan"), float("inf"), -1, True, "0.1"])
def test_replay_latency_must_be_a_finite_number(latency: object) -> None:
    from prover import ConfigError

    with pytest.raises(ConfigError, match="latency_s"):
        ReplayEnvironment([TraceRecord("t", "⊢ p", None, "state", ("⊢ p",))],
                          latency_s=latency)  # type: ignore[arg-type]
