"""Public names are pinned; importing the package has no heavy side effects; the CLI runs."""

from __future__ import annotations

import subprocess
import sys

import heuristics
import prover
import prover.backends
import prover.backends.coq
import prover.backends.lean_layout
import prover.generators
import prover.view
import rollout
import rollout.tactic_text
from seg_prover.cli import main

PINNED = {
    prover: {
        "BackendUnavailableError", "DEFAULT_BANNED_TACTICS", "BestFirstSearch", "Candidate",
        "ConfigError",
        "DataFormatError", "Environment", "EnvironmentCrashError", "EnvironmentInitError",
        "FixedTacticGenerator", "GeneratorError", "Outcome", "ProofState", "Proved",
        "ProverError", "RecordingEnvironment", "ReplayEnvironment", "SearchConfig",
        "SearchNode", "SearchResult", "SearchStats", "SearchTree", "Session", "StateReached",
        "TacticError", "TacticGenerator", "TacticTimeout", "Theorem", "__version__",
    },
    prover.backends.lean_layout: {"join_lean_tactics", "split_lean_tactics"},
    rollout.tactic_text: {"LANGUAGES", "Language", "join_tactics", "language_of",
                          "split_tactics"},
    prover.backends.coq: {
        "VERIFY_NAME", "CoqConfig", "CoqDocument", "CoqEnvironment", "CoqHandle", "CoqSession",
        "Verdict", "coq_lib_dir", "document_for", "file_args", "make_state",
        "parse_assumptions", "project_args", "stdlib_theories", "verify_proof",
    },
    prover.view: {"TreeDoc", "doc_from_tree", "read_tree", "render_page", "write_page",
                  "write_run_view", "write_tree"},
    heuristics: {
        "NEVER", "CumulativeLogProb", "FunctionHeuristic", "Heuristic", "NodeScoreFn",
        "NormalizedLogProb", "Weighted", "as_heuristic",
    },
}


def test_all_is_pinned_and_resolvable() -> None:
    for module, names in PINNED.items():
        assert set(module.__all__) == names, module.__name__
    for module in (prover, heuristics, rollout, prover.backends, prover.generators):
        for name in module.__all__:
            assert hasattr(module, name) or name in getattr(module, "_LAZY", {}), (module, name)


def test_rollout_exports_design_names() -> None:
    assert {"GoalCountTrigger", "PolicyTrainer", "RolloutConfig", "RolloutTrigger"} <= set(
        rollout.__all__)


def test_import_prover_is_light() -> None:
    code = ("import sys, prover, prover.backends, prover.generators, heuristics, rollout;"
            "heavy = [m for m in ('torch', 'transformers', 'lean_dojo', 'ray', 'lean_interact')"
            " if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cli_version_and_replay_search(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from prover.cli import data_path

    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert prover.__version__ in capsys.readouterr().out
    code = main(["search", str(data_path("demo_trace.jsonl")), str(data_path("demo_tactics.json")),
                 "--theorem", "two_mul_demo", "--tree-out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "two_mul_demo: proved" in out and "induction n" in out
    assert (tmp_path / "two_mul_demo.json").is_file()


def test_cli_reports_bad_input_without_traceback(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"theorem": "t"}\n', encoding="utf-8")
    tactics = tmp_path / "tactics.txt"
    tactics.write_text("simp\n", encoding="utf-8")
    assert main(["search", str(bad), str(tactics)]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl, line 1" in err and "'state'" in err


def test_the_core_never_imports_benchmarks_or_the_command() -> None:
    # Lazy imports count: `prover` is the engine, `benchmarks` and `seg_prover` sit on top.
    import ast
    from pathlib import Path

    root = Path(prover.__file__).parent
    upward = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            upward += [f"{path.relative_to(root)}: {n}" for n in names
                       if n.split(".")[0] in ("benchmarks", "seg_prover")]
    assert upward == []


def test_python_dash_m_seg_prover_runs_a_search() -> None:
    from prover.cli import data_path

    proc = subprocess.run([sys.executable, "-m", "seg_prover", "search",
                           str(data_path("demo_trace.jsonl")), str(data_path("demo_tactics.json")),
                           "--theorem", "two_mul_demo"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "two_mul_demo: proved" in proc.stdout
