"""The coq-stdlib suite: manifest, split, index records, online records, the Coq demo entry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks.coq_suite import (
    MergedGenerator,
    SplitSpec,
    build_manifest,
    index_records,
    load_coq_suite,
    load_manifest,
    manifest_path,
    online_records,
)
from prover.errors import ConfigError, DataFormatError
from prover.generators.fixed import FixedTacticGenerator
from prover.types import Candidate, ProofState
from seg_prover.cli import main

needs_coq = pytest.mark.skipif(shutil.which("coqidetop.opt") is None,
                               reason="coqidetop.opt not on PATH (apt-get install -y coq)")


async def test_merged_generator_merges_by_logprob() -> None:
    a = FixedTacticGenerator([("auto.", -1.0), ("simpl.", -0.5)])
    b = FixedTacticGenerator([("auto.", -0.1), ("lia.", -2.0)])
    merged = await MergedGenerator([a, b]).propose(ProofState(("⊢ True",)), 3)
    assert merged == [Candidate("auto.", -0.1), Candidate("simpl.", -0.5),
                      Candidate("lia.", -1.0 * 2)]
    with pytest.raises(ConfigError):
        MergedGenerator([])


def test_shipped_manifest_is_a_file_split_with_held_out_lemmas() -> None:
    data = load_manifest()
    index, test = set(data["index_files"]), set(data["test_files"])
    assert index and test and not index & test
    assert len(data["test"]) >= 100
    assert {entry["stdlib_file"] for entry in data["test"]} <= test
    assert set(data.get("demo", [])) <= {entry["name"] for entry in data["test"]}
    assert manifest_path().stat().st_size < 300_000


def test_bad_manifest_and_split_are_reported(tmp_path: Path) -> None:
    bad = tmp_path / "m.json"
    bad.write_text(json.dumps({"index_files": [], "test_files": []}))
    with pytest.raises(DataFormatError, match="test"):
        load_manifest(bad)
    with pytest.raises(ConfigError):
        load_coq_suite(split="valid")


@needs_coq
def test_load_coq_suite_reads_statements_from_the_installed_stdlib() -> None:
    theorems = load_coq_suite(split="test", limit=20)
    assert len(theorems) == 20
    for theorem in theorems:
        assert set(theorem.locator) == {"stdlib_file", "index"}
        short = theorem.name.rsplit(".", 1)[-1].split("@")[0]
        assert short in theorem.statement
    assert load_coq_suite(split="test", limit=20) == theorems  # a fixed order


@pytest.mark.slow
@needs_coq
def test_build_manifest_split_and_index_records(tmp_path: Path) -> None:
    out = tmp_path / "extract"
    for rel in ("Arith/Between.v", "Arith/EqNat.v", "Arith/Compare_dec.v"):
        assert main(["coq", "extract", str(out), "--files", rel, "--no-progress"]) == 0
    # Each call merges only its own files; rebuild the summary over all three.
    from prover.backends.coq_extract import merge_outputs

    merge_outputs(out, ["Arith/Between.v", "Arith/EqNat.v", "Arith/Compare_dec.v"])
    spec = SplitSpec(seed=3, test_fraction=0.34)
    data = build_manifest(out, spec)
    assert data == build_manifest(out, spec)  # deterministic
    assert len(data["test_files"]) == 2 and len(data["index_files"]) == 1
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(data))
    test_names = {entry["name"] for entry in data["test"]}
    records = index_records(out, manifest=manifest)
    assert records and not {r.theorem for r in records} & test_names
    theorems = load_coq_suite(split="test", manifest=manifest)
    assert {t.name for t in theorems} == test_names
    # Online: the lemmas before the target in its own file, and only those.
    target = max(theorems, key=lambda t: t.locator["index"])
    same_file = [t for t in theorems if t.locator["stdlib_file"] == target.locator["stdlib_file"]]
    earlier = {t.name for t in same_file if t.locator["index"] < target.locator["index"]}
    assert {r.theorem for r in online_records(out, target)} == earlier and earlier


def test_demo_falls_back_to_replay_without_coq(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import seg_prover.demo

    monkeypatch.setattr(seg_prover.demo.shutil, "which", lambda name: None)
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "coqidetop.opt is not on PATH" in out and "replay demo" in out
    assert "proved" in out


def test_demo_replay_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--replay"]) == 0
    assert "recorded Lean trace" in capsys.readouterr().out


async def test_coq_index_generator_spec_leaves_the_test_files_out(tmp_path: Path) -> None:
    from benchmarks.specs import absolute_spec, make_generator
    from prover.traces import TraceRecord, write_trace

    data = load_manifest()
    index_rel, test_rel = data["index_files"][0], data["test_files"][0]
    files = tmp_path / "extract" / "files"
    files.mkdir(parents=True)
    state = "n : nat\n⊢ n + 0 = n"
    for rel, tactic in ((index_rel, "index_tactic."), (test_rel, "held_out_tactic.")):
        stem = rel.replace("/", "__").removesuffix(".v")
        write_trace([TraceRecord(f"lemma_of_{stem}", state, None, "state", (state,)),
                     TraceRecord(f"lemma_of_{stem}", state, tactic, "proved", ())],
                    files / f"{stem}.traces.jsonl")
    spec = absolute_spec(f"coq-index:{tmp_path / 'extract'}")
    assert spec == f"coq-index:{(tmp_path / 'extract').resolve()}"
    generator = make_generator(spec)
    tactics = [c.tactic for c in await generator.propose(ProofState((state,)), 8)]
    assert tactics == ["index_tactic."]
    with pytest.raises(ConfigError, match="not a 'seg-prover coq extract' output"):
        make_generator(f"coq-index:{tmp_path}")


async def test_coq_index_generator_never_proposes_bullets_braces_or_focus(tmp_path: Path
                                                                          ) -> None:
    # Before: "-", "+", "*", "{", "}" were 189 of the 800 top-8 candidates at 100 stdlib
    # roots, and "-" the first choice at 46 of them.
    from benchmarks.specs import make_generator
    from prover.traces import TraceRecord, write_trace

    index_rel = load_manifest()["index_files"][0]
    files = tmp_path / "extract" / "files"
    files.mkdir(parents=True)
    state = "n : nat\n⊢ n + 0 = n /\\ True"
    steps = ["-", "+", "*", "--", "{", "}", "2: {", "Focus 2.", "Unfocus.", "split.",
             "- auto."]
    records = [TraceRecord("lemma", state, None, "state", (state,))]
    records += [TraceRecord("lemma", state, tactic, "state", (state,)) for tactic in steps]
    write_trace(records, files / f"{index_rel.replace('/', '__').removesuffix('.v')}"
                                 f".traces.jsonl")
    generator = make_generator(f"coq-index:{tmp_path / 'extract'}")
    tactics = [c.tactic for c in await generator.propose(ProofState((state,)), 8)]
    assert sorted(tactics) == ["auto.", "split."]
