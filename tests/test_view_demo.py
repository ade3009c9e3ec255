"""``seg-prover demo`` shows the product: multi-step Coq proofs found by a real search with
rollouts, each tree written as an HTML page. Needs ``coqidetop.opt``; the first run replays the
demo's index files (about 20 s), so it is marked slow."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks.coq_demo import DEMO_LEMMAS, demo_theorems
from seg_prover.cli import main

needs_coq = pytest.mark.skipif(shutil.which("coqidetop.opt") is None,
                               reason="coqidetop.opt not on PATH (apt-get install -y coq)")


def test_demo_lemmas_are_stated_for_the_coq_backend() -> None:
    theorems = demo_theorems()
    assert [t.name for t in theorems] == [name for name, _ in DEMO_LEMMAS]
    for theorem in theorems:
        assert theorem.statement.startswith(f"Lemma {theorem.name} :")
        assert theorem.statement.endswith(".") and "Require Import" in theorem.locator["header"]


@pytest.mark.slow
@needs_coq
def test_demo_searches_several_steps_with_rollouts_and_writes_views(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    cache = Path.home() / ".cache"
    if not (cache / "seg-prover" / "coq-demo").is_dir():
        cache = tmp_path / "cache"  # extract into the test's own directory, not the home
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    views = tmp_path / "cache-views"
    monkeypatch.setattr("benchmarks.coq_demo.demo_view_dir", lambda: views)
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert f"proved and verified {len(DEMO_LEMMAS)}/{len(DEMO_LEMMAS)} lemmas" in out
    blocks = out.split("\n\n", 1)[1]
    assert "rollout(s) fired where the goal count changed (after 'split.'" in out
    for name, _ in DEMO_LEMMAS:
        section = blocks.split(f"{name}: proved", 1)[1].split("search tree:", 1)[0]
        proof = [line.strip() for line in section.splitlines()
                 if line.startswith("    ") and line.strip()]
        assert len(proof) >= 3, (name, proof)  # several steps, not one closing tactic
        expansions = int(section.split("expansions=", 1)[1].split()[0])
        assert expansions >= 3, (name, expansions)
        page = (views / f"{name}.html").read_text(encoding="utf-8")
        assert all(tactic in page for tactic in proof)
        assert str(views / f"{name}.html") in out
    assert (views / "index.html").is_file()
    assert "Next: " in out
