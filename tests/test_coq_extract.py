"""Trajectory extraction from Coq sources with a real ``coqidetop.opt``."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import pytest

from prover.backends.coq import CoqEnvironment, stdlib_theories
from prover.backends.coq_extract import extract_file
from prover.backends.replay import ReplayEnvironment
from prover.traces import read_trace
from prover.types import Theorem
from seg_prover.cli import main

pytestmark = pytest.mark.skipif(shutil.which("coqidetop.opt") is None,
                                reason="coqidetop.opt not on PATH (apt-get install -y coq)")

SMALL = Path(__file__).resolve().parent / "data" / "coq"


def check_steps(steps: list[dict]) -> dict[str, list[dict]]:
    """Step records are consistent per theorem; returns them grouped."""
    by_theorem: dict[str, list[dict]] = {}
    for step in steps:
        by_theorem.setdefault(step["theorem"], []).append(step)
    for name, rows in by_theorem.items():
        n = len(rows)
        assert [r["step"] for r in rows] == list(range(n)), name
        assert [r["steps_remaining"] for r in rows] == list(range(n, 0, -1)), name
        assert rows[-1]["num_goals_after"] == 0, name
        for before, after in itertools.pairwise(rows):
            assert after["num_goals_before"] == before["num_goals_after"], name
        assert all(r["num_goals_before"] == r["state"].count("⊢") for r in rows), name
    return by_theorem


@pytest.mark.slow
async def test_extract_stdlib_files_records_replayable_trajectories() -> None:
    root = stdlib_theories()
    env = CoqEnvironment(max_processes=1)
    try:
        results = [await extract_file(env, root / rel, root)
                   for rel in ("Arith/Between.v", "Arith/Compare_dec.v", "Init/Wf.v")]
    finally:
        await env.close()
    between, compare, wf = results
    assert len(between.lemmas) >= 15 and len(compare.lemmas) >= 20 and wf.lemmas
    assert compare.skipped["defined"] >= 1 and wf.skipped["defined"] >= 1
    assert not any(r.startswith(("replay", "prefix")) for res in results for r in res.skipped)
    assert "Coq.Arith.Between.between_le" in between.lemmas
    assert any(s["tactic"] == "-" for s in between.steps)  # bullets are steps of their own
    steps = [s for res in results for s in res.steps]
    grouped = check_steps(steps)
    traces = [t for res in results for t in res.traces]
    replay = ReplayEnvironment(traces)
    assert replay.conflicts == 0
    for name, rows in grouped.items():
        async with await replay.open(Theorem(name)) as session:
            assert await session.verify([r["tactic"] for r in rows]), name


def test_cli_extract_is_resumable_and_counts_skips(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    args = ["coq", "extract", str(out), "--root", str(SMALL), "--no-progress"]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["lemmas"] == 3 and summary["files"] == 1
    assert summary["skipped"] == {"defined": 1, "no interactive proof": 1}
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    grouped = check_steps(steps)
    # Sections do not qualify names; the closing brace after the last goal is dropped.
    assert [r["tactic"] for r in grouped["Small.both"]] == [
        "split.", "-", "reflexivity.", "-", "{", "simpl.", "reflexivity."]
    assert [r["num_goals_after"] for r in grouped["Small.both"]] == [2, 2, 1, 1, 1, 1, 0]
    assert grouped["Small.use_both"][-1]["tactic"] == "apply both..."
    records = read_trace(out / "traces.jsonl")
    assert sum(r.is_root for r in records) == 3
    assert "3 lemmas" in capsys.readouterr().out
    done = out / "files" / "Small.done.json"
    stamp = done.stat().st_mtime_ns
    assert main(args) == 0  # a rerun skips the file already done
    assert done.stat().st_mtime_ns == stamp
    assert json.loads((out / "summary.json").read_text())["steps"] == summary["steps"]
