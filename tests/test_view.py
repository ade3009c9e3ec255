"""The search-tree viewer: JSON round trip, trees kept by ``bench``, the HTML pages."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from bench_suite import bench_args, plain_names, provable, read_results, write_suite
from view_trees import big_tree, small_tree

from benchmarks.minif2f import main as bench_main
from prover.config import SearchResult, SearchStats
from prover.errors import DataFormatError
from prover.view.html import render_page, write_run_view
from prover.view.tree_json import (
    PROVED,
    TREES_DIR,
    doc_from_json,
    doc_from_tree,
    doc_to_json,
    dumps,
    proof_tactics,
    read_tree,
    tree_filename,
)
from seg_prover.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_doc_holds_what_the_viewer_shows() -> None:
    tree = small_tree()
    tree.check_invariants()
    doc = doc_from_tree(tree)
    assert [n.goals for n in doc.nodes] == [v.state.goals for v in tree.nodes()]
    root, a, c, b = doc.nodes
    assert a.key == "A-key" and root.key is None  # a key is kept only where it is not the goals
    assert (root.parent, a.parent, c.parent, b.parent) == (-1, 0, 0, 1)
    assert (root.expanded, a.expanded, b.expanded, c.expanded) == (0, 1, 2, None)
    assert a.score == -0.25 and c.score is None and b.score == -0.75  # -inf: not drawable
    assert b.status == "proved" and c.status == "proved" and root.status == "proved"
    assert [(e.tactic, e.outcome, e.rollout) for e in root.errors] == [
        ("bogus </script> tactic", "error", False), ("hang", "timeout", False)]
    assert root.errors[1].latency_s == 5.0
    assert [(e.tactic, e.rollout) for e in a.errors] == [("rollout_fail", True)]
    edges = {(e.source, e.target): e for e in doc.edges}
    assert edges[(0, 2)].rollout and edges[(0, 2)].latency_s == 0.02
    assert (2, 3) in edges and (3, PROVED) in edges  # the second path and the proof edge
    assert doc.proof_path == (0, 1, 3, PROVED)
    assert proof_tactics(doc) == ["split_goal", "rewrite add_0_r", "reflexivity"]


def test_json_round_trip_is_exact_and_compact() -> None:
    tree = big_tree(300)
    result = SearchResult("big", "proved", tree.extract_proof(),
                          SearchStats(expansions=150, nodes=len(tree), wall_s=1.5), None, tree)
    doc = doc_from_tree(tree, result, attempt=2)
    text = dumps(doc)
    back = doc_from_json(json.loads(text))
    assert back == doc
    assert back.stats["expansions"] == 150 and back.attempt == 2 and back.theorem == "big"
    assert dumps(back) == text
    assert "\n" not in text and ", " not in text.replace(", x", "")
    # goals shared by many states are stored once
    data = json.loads(text)
    assert len(data["goals"]) < sum(len(n[0]) for n in data["nodes"])
    small = doc_from_tree(small_tree())
    assert doc_from_json(json.loads(dumps(small))) == small
    assert math.isinf(doc_from_json(doc_to_json(small)).nodes[0].errors[0].logprob) is False


def test_malformed_tree_files_are_data_format_errors(tmp_path: Path) -> None:
    bad = tmp_path / "t.json"
    bad.write_text('{"format": "other"}', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"t\.json"):
        read_tree(bad)
    data = doc_to_json(doc_from_tree(small_tree()))
    del data["nodes"][0][3:]
    with pytest.raises(DataFormatError, match="malformed"):
        doc_from_json(data)
    data = doc_to_json(doc_from_tree(small_tree()))
    data["edges"][0][1] = 99
    with pytest.raises(DataFormatError, match="out of range"):
        doc_from_json(data)


def test_tree_file_names_are_safe_and_distinct() -> None:
    assert tree_filename("Nat.add_comm", 0) == "Nat.add_comm.0.json"
    odd = [tree_filename(name, 1) for name in ("a/b", "a_b", "a b", "../x", "α")]
    assert len(set(odd)) == len(odd)
    assert all(re.fullmatch(r"[\w.\-]+", name, re.ASCII) and not name.startswith(".")
               for name in odd)


def _assert_self_contained(page: str) -> None:
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "<link" not in page and "@import" not in page
    assert re.search(r"<script(?![^>]*src)[^>]*>", page)


def test_page_is_self_contained_and_cannot_be_broken_by_goal_text() -> None:
    page = render_page(doc_from_tree(small_tree()))
    _assert_self_contained(page)
    # A goal or tactic with "</script>" must not end the embedded data early.
    data = page.split('<script id="tree-data" type="application/json">', 1)[1]
    data = data.split("</script>", 1)[0]
    assert "bogus \\u003c/script> tactic" in data
    assert json.loads(data)["format"] == "seg-prover-tree/1"


def test_bench_keeps_each_tree_and_view_writes_pages(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    trace, tactics = write_suite(tmp_path, n=6)
    out = tmp_path / "run"
    assert bench_main(bench_args(trace, tactics, out, "--limit", "3")) == 0
    assert bench_main(bench_args(trace, tactics, out, "--force")) == 0  # 3 rows kept, 3 new
    rows = read_results(out)
    assert sorted(r["theorem"] for r in rows) == plain_names(6)
    assert not any("_tree" in row for row in rows)  # the tree travels beside the row, not in it
    files = sorted(p.name for p in (out / TREES_DIR).iterdir())
    assert files == sorted(tree_filename(r["theorem"], r["attempt"]) for r in rows)
    for row in rows:
        doc = read_tree(out / TREES_DIR / tree_filename(row["theorem"], 0))
        assert doc.theorem == row["theorem"] and doc.status == row["status"]
        assert len(doc.nodes) == row["stats"]["nodes"]
        assert proof_tactics(doc) == (row["proof"] or [])
        assert bool(doc.proof_path) == provable(row["theorem"])
    capsys.readouterr()
    assert main(["view", str(out)]) == 0
    assert "index.html" in capsys.readouterr().out
    index = (out / "view" / "index.html").read_text(encoding="utf-8")
    _assert_self_contained(index)
    for row in rows:
        page_name = tree_filename(row["theorem"], 0).replace(".json", ".html")
        assert f'href="{page_name}"' in index
        page = (out / "view" / page_name).read_text(encoding="utf-8")
        _assert_self_contained(page)
        for tactic in row["proof"] or []:
            assert tactic in page


def test_a_rerun_error_row_without_a_tree_leaves_no_stale_tree(tmp_path: Path) -> None:
    from prover.view.tree_json import keep_row_tree

    row = {"theorem": "t", "attempt": 0, "_tree": doc_to_json(doc_from_tree(small_tree()))}
    path = keep_row_tree(tmp_path, row)
    assert path is not None and path.is_file() and "_tree" not in row
    assert keep_row_tree(tmp_path, {"theorem": "t", "attempt": 0, "status": "error"}) is None
    assert not path.exists()


def test_view_of_a_directory_without_results_names_it(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["view", str(tmp_path)]) == 2
    assert "results.jsonl" in capsys.readouterr().err
    with pytest.raises(DataFormatError):
        write_run_view(tmp_path)


def test_search_html_writes_one_page_per_search(tmp_path: Path) -> None:
    data = REPO / "prover" / "data"
    page = tmp_path / "one.html"
    assert main(["search", str(data / "demo_trace.jsonl"), str(data / "demo_tactics.json"),
                 "--theorem", "and_swap", "--html", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    _assert_self_contained(text)
    assert "and_swap" in text
    assert main(["search", str(data / "demo_trace.jsonl"), str(data / "demo_tactics.json"),
                 "--html", str(tmp_path / "all.html")]) == 0
    assert len(list(tmp_path.glob("all-*.html"))) == 3


def test_a_real_search_records_scores_and_expansion_order() -> None:
    from prover.backends.replay import ReplayEnvironment
    from prover.generators.fixed import FixedTacticGenerator
    from prover.search import BestFirstSearch

    data = REPO / "prover" / "data"
    env = ReplayEnvironment.from_jsonl(data / "demo_trace.jsonl")
    generator = FixedTacticGenerator.from_file(data / "demo_tactics.json")
    theorem = next(t for t in env.theorems() if t.name == "two_mul_demo")
    result = BestFirstSearch(env, generator).run(theorem)
    assert result.proved and result.tree is not None
    doc = doc_from_tree(result.tree, result)
    ranks = sorted(n.expanded for n in doc.nodes if n.expanded is not None)
    assert ranks == list(range(result.stats.expansions)) and doc.nodes[0].expanded == 0
    # every state pushed on the frontier keeps the heuristic's score (cumulative log-prob)
    assert all(n.score == pytest.approx(n.cumulative_logprob) for n in doc.nodes)
