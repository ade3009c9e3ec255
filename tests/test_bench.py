"""The benchmark runner: rows, resume after SIGKILL, torn lines, config checks, user code,
errors in the denominator, seeds, and the report."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bench_suite import (
    bench_args,
    comparable,
    plain_names,
    provable,
    read_results,
    write_suite,
)

from benchmarks.config import BenchConfig
from benchmarks.metrics import pass_at_k, summarize, wilson_interval
from benchmarks.minif2f import main
from benchmarks.report import build_report
from benchmarks.results import read_rows
from benchmarks.runner import run_benchmark
from benchmarks.suites import load_suite
from prover.config import SearchConfig
from prover.errors import ConfigError, DataFormatError
from prover.specs import load_object, make_heuristic, parse_rollout
from seg_prover.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
PLUGINS = Path(__file__).resolve().parent / "bench_plugins.py"


@pytest.fixture
def suite(tmp_path: Path) -> tuple[Path, Path]:
    return write_suite(tmp_path)


def expected_status(name: str) -> str:
    return "proved" if provable(name) else "failed"


# ---- one row per theorem ----------------------------------------------------------------------
def test_bench_writes_one_row_per_theorem(suite: tuple[Path, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    trace, tactics = suite
    out = tmp_path / "run"
    assert main(bench_args(trace, tactics, out, "--concurrency", "3")) == 0
    rows = read_results(out)
    assert sorted(r["theorem"] for r in rows) == plain_names(9)
    for row in rows:
        assert row["status"] == expected_status(row["theorem"]), row
        assert row["attempt"] == 0 and row["seed"] == 0 and row["worker"] == "local"
        assert row["versions"]["seg-prover"] and row["versions"]["python"]
        assert set(row["stats"]) >= {"expansions", "env_calls", "generator_calls", "wall_s"}
    proved = [r for r in rows if r["status"] == "proved"]
    assert all(r["proof"] == ["good", "finish"] and r["stats"]["expansions"] == 4 for r in proved)
    stored = json.loads((out / "config.json").read_text())
    assert {r["config_hash"] for r in rows} == {stored["config_hash"]}
    assert stored["theorems"] == plain_names(9)
    table = capsys.readouterr().out
    assert "| run |" in table and "6/9" in table


def test_cli_registers_bench_and_report() -> None:
    parser = build_parser()
    args = parser.parse_args(["bench", "--suite", "s", "--backend", "replay", "--generator",
                              "fixed:f", "--out", "o", "--max-expansions", "7", "--ray"])
    assert args.max_expansions == 7 and args.ray == "" and args.concurrency == 1
    assert parser.parse_args(["report", "a", "b"]).run_dirs == ["a", "b"]


# ---- resume -----------------------------------------------------------------------------------
def _bench_cmd(trace: Path, tactics: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "benchmarks.minif2f",
            *bench_args(trace, tactics, out, "--concurrency", "2", "--backend-option",
                        "latency_s=0.04")]


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_matches_uninterrupted_run(tmp_path: Path) -> None:
    trace, tactics = write_suite(tmp_path, n=15)
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log = tmp_path / "killed.log"
    with open(log, "wb") as stderr:
        proc = subprocess.Popen(_bench_cmd(trace, tactics, killed), cwd=tmp_path, env=env,
                                stdout=subprocess.DEVNULL, stderr=stderr)
    results = killed / "results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if results.exists() and results.read_bytes().count(b"\n") >= 3:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the runner finished before it could be killed: " + \
        log.read_text()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = read_rows(results)
    assert 3 <= len(partial) < 15, len(partial)

    for out in (killed, clean):
        done = subprocess.run(_bench_cmd(trace, tactics, out), cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    resumed, uninterrupted = read_results(killed), read_results(clean)
    keys = [(r["theorem"], r["attempt"]) for r in resumed]
    assert sorted(keys) == [(n, 0) for n in plain_names(15)]  # every theorem exactly once
    # rows written before the kill are kept as they were, not redone
    assert resumed[:len(partial)] == partial
    assert comparable(resumed) == comparable(uninterrupted)
    a = summarize(resumed, theorems=plain_names(15))
    b = summarize(uninterrupted, theorems=plain_names(15))
    assert (a.proved, a.settled, a.errors, a.pass_at_k) == (b.proved, b.settled, b.errors,
                                                            b.pass_at_k) == (10, 15, 0, 10 / 15)


def test_torn_last_line_is_discarded_and_redone(suite: tuple[Path, Path], tmp_path: Path
                                                ) -> None:
    trace, tactics = suite
    out = tmp_path / "run"
    assert main(bench_args(trace, tactics, out, "--limit", "4")) == 0
    file = out / "results.jsonl"
    text = file.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    torn_row = json.loads(lines[-1])
    file.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2], encoding="utf-8")
    assert len(read_rows(file)) == 3  # read-only: the torn tail is skipped, the file untouched
    assert main(bench_args(trace, tactics, out, "--limit", "4")) == 0
    rows = read_results(out)  # every line parses again
    assert sorted(r["theorem"] for r in rows) == plain_names(4)
    assert rows[-1]["theorem"] == torn_row["theorem"]  # the torn one was redone

    # A complete last object that lost its newline is torn too: the write was cut short.
    file.write_text(file.read_text(encoding="utf-8").rstrip("\n"), encoding="utf-8")
    assert len(read_rows(file)) == 3


def test_a_kill_at_any_byte_loses_at_most_the_row_being_written(tmp_path: Path) -> None:
    rows = [{"theorem": f"thm_{i}", "attempt": 0, "proof": ["intro ⟨a, b⟩"]} for i in range(3)]
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    file = tmp_path / "results.jsonl"
    for cut in range(len(data) + 1):
        file.write_bytes(data[:cut])
        kept = read_rows(file, repair=True)
        complete = data[:cut].count(b"\n")
        assert kept == rows[:complete], cut
        assert file.read_bytes() == data[:data[:cut].rfind(b"\n") + 1], cut


def test_bad_line_in_the_middle_is_an_error_not_a_silent_drop(tmp_path: Path) -> None:
    file = tmp_path / "results.jsonl"
    row = json.dumps({"theorem": "a", "attempt": 0, "status": "proved"})
    file.write_text(f"{row}\n{{oops\n{row.replace('a', 'b')}\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="line 2"):
        read_rows(file)


def test_config_change_is_refused_unless_forced(suite: tuple[Path, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    trace, tactics = suite
    out = tmp_path / "run"
    assert main(bench_args(trace, tactics, out, "--limit", "3")) == 0
    before = (out / "results.jsonl").read_text()
    capsys.readouterr()
    assert main(bench_args(trace, tactics, out, "--limit", "3", "--max-expansions", "2")) == 2
    err = capsys.readouterr().err
    assert "different configuration" in err and "max_expansions: 600 -> 2" in err
    assert "--force" in err
    assert (out / "results.jsonl").read_text() == before  # nothing was run or written

    # widening the selection is a change too; --force continues and keeps the old rows
    assert main(bench_args(trace, tactics, out, "--limit", "5")) == 2
    assert "theorems: 3 stored -> 5 selected" in capsys.readouterr().err
    assert main(bench_args(trace, tactics, out, "--limit", "5", "--force")) == 0
    rows = read_results(out)
    assert [r["theorem"] for r in rows] == plain_names(5)
    assert len({r["config_hash"] for r in rows}) == 2  # rows carry the hash of their config
    # the same command again is a no-op resume
    assert main(bench_args(trace, tactics, out, "--limit", "5")) == 0
    assert len(read_results(out)) == 5


def test_execution_options_are_not_part_of_the_config(suite: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    trace, tactics = suite
    out = tmp_path / "run"
    assert main(bench_args(trace, tactics, out, "--limit", "2")) == 0
    assert main(bench_args(trace, tactics, out, "--limit", "2", "--concurrency", "4")) == 0


def test_second_runner_on_the_same_dir_is_refused(suite: tuple[Path, Path],
                                                  tmp_path: Path) -> None:
    trace, tactics = suite
    config = BenchConfig(str(trace), "replay", f"fixed:{tactics}")
    fcntl = pytest.importorskip("fcntl")
    (tmp_path / "run").mkdir()
    with open(tmp_path / "run" / ".lock", "a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ConfigError, match="another runner"):
            run_benchmark(config, tmp_path / "run", progress=False)


# ---- user code and errors ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["fewest_bad", "FewestBad"])
def test_user_heuristic_by_path_changes_the_result(suite: tuple[Path, Path], tmp_path: Path,
                                                   name: str) -> None:
    trace, tactics = suite
    budget = ["--max-expansions", "3", "--limit", "3"]
    assert main(bench_args(trace, tactics, tmp_path / "base", *budget)) == 0
    assert main(bench_args(trace, tactics, tmp_path / "user", *budget,
                           "--heuristic", f"{PLUGINS}:{name}")) == 0
    base, user = read_results(tmp_path / "base"), read_results(tmp_path / "user")
    # cumulative log-prob walks the 'bad' dead end first and runs out of budget ...
    assert {r["status"] for r in base} == {"budget"}
    # ... the user's heuristic goes for 'good' and proves the provable theorems in 2 expansions
    # (t02 has no proof: it tries 'good', then the dead end, and runs out)
    assert [(r["status"], r["stats"]["expansions"]) for r in user] == \
        [("proved", 2), ("proved", 2), ("budget", 3)]


def test_user_heuristic_by_dotted_module_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(PLUGINS.parent))
    heuristic = make_heuristic("bench_plugins:fewest_bad")
    assert type(heuristic).__name__ == "FunctionHeuristic"
    assert type(make_heuristic("bench_plugins:FewestBad")).__name__ == "FewestBad"


@pytest.mark.parametrize(("spec", "message"), [
    ("cumulativ", "unknown heuristic 'cumulativ': expected one of cumulative"),
    ("normalized:x", "alpha must be a number"),
    ("no_such_module_xyz:fn", "cannot import module 'no_such_module_xyz'"),
    ("bench_plugins.py:nope", "not found"),
    ("json:JSONDecodeError", "JSONDecodeError() failed"),
    ("math:pi", "not a Heuristic"),
])
def test_bad_heuristic_names_raise_config_error(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_heuristic(spec)


def test_bad_heuristic_fails_before_any_search(suite: tuple[Path, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    trace, tactics = suite
    assert main(bench_args(trace, tactics, tmp_path / "run", "--heuristic", "bogus")) == 2
    assert "unknown heuristic 'bogus'" in capsys.readouterr().err
    assert read_rows(tmp_path / "run" / "results.jsonl") == []


def test_errors_are_rows_and_count_in_the_denominator(tmp_path: Path) -> None:
    trace, tactics = write_suite(tmp_path, n=6, extra=["boom"])
    out = tmp_path / "run"
    assert main(bench_args(trace, tactics, out, "--backend", f"{PLUGINS}:FlakyReplay",
                           "--backend-option", f"trace={trace}",
                           "--backend-option", 'fail=["t00"]',
                           "--heuristic", f"{PLUGINS}:crash_on_boom")) == 0
    rows = {r["theorem"]: r for r in read_results(out)}
    assert len(rows) == 7
    env_failure, user_bug = rows["t00"], rows["boom"]
    assert env_failure["status"] == "error"
    assert "EnvironmentInitError: cannot start a prover for t00" in env_failure["message"]
    assert user_bug["status"] == "error"
    assert user_bug["message"] == "ZeroDivisionError: user heuristic bug"
    assert "crash_on_boom" in user_bug["traceback"]
    summary = summarize(rows.values(), theorems=list(rows))
    # t01, t03, t04 proved; t02, t05 unprovable; t00 and boom errors: 3 of 7, not 3 of 5
    assert (summary.proved, summary.settled, summary.errors) == (3, 7, 2)
    assert summary.pass_at_k == pytest.approx(3 / 7)


def test_attempts_use_a_seed_each(suite: tuple[Path, Path], tmp_path: Path) -> None:
    trace, _ = suite
    generator_cls = load_object(f"{PLUGINS}:SeededGenerator", "generator")
    generator_cls.seeds_requested.clear()
    out = tmp_path / "run"
    assert main(["bench", "--suite", str(trace), "--backend", "replay", "--generator",
                 f"{PLUGINS}:SeededGenerator", "--out", str(out), "--no-progress",
                 "--attempts", "3", "--seed", "10", "--limit", "2", "--max-expansions", "2",
                 "--rollout", "2,1,mode=sample"]) == 0
    rows = read_results(out)
    assert sorted(generator_cls.seeds_requested) == [10, 11, 12]
    assert sorted((r["theorem"], r["attempt"], r["seed"]) for r in rows) == [
        (t, a, 10 + a) for t in plain_names(2) for a in range(3)]
    # attempts are attempt-major: all first attempts come first
    assert [r["attempt"] for r in rows] == [0, 0, 1, 1, 2, 2]
    # the seed changed the sampling: odd seeds put 'good' first and prove within 2 expansions
    by_seed = {r["seed"]: r["status"] for r in rows if r["theorem"] == "t00"}
    assert by_seed == {10: "budget", 11: "proved", 12: "budget"}
    summary = summarize(rows, k=3, theorems=plain_names(2))
    assert summary.pass_at_k == 1.0 and summary.pass_at_1 == pytest.approx(1 / 3)
    table = build_report([out], plots=False).markdown.splitlines()
    assert table[0].startswith("| run | pass@3 [95% CI] | pass@1 | proved/total |")
    assert table[2].startswith("| run | 100.0% [34.2%, 100.0%] | 33.3% | 2/2 | 0 |")


# ---- specs and metrics ------------------------------------------------------------------------
def test_parse_rollout() -> None:
    assert parse_rollout("off") is None and parse_rollout("0") is None
    cfg = parse_rollout("3,2,mode=sample,budget_share=0.25")
    assert cfg is not None and (cfg.depth, cfg.probes, cfg.mode, cfg.budget_share) == \
        (3, 2, "sample", 0.25)
    with pytest.raises(ConfigError, match="unknown field 'dept'"):
        parse_rollout("dept=3")
    with pytest.raises(ConfigError, match="depth"):
        parse_rollout("-1")


def test_wilson_interval_and_pass_at_k() -> None:
    low, high = wilson_interval(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    assert wilson_interval(0, 10)[0] == 0.0 and round(wilson_interval(0, 10)[1], 4) == 0.2775
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)
    assert pass_at_k(4, 0, 4) == 0.0 and pass_at_k(4, 3, 2) == 1.0


def test_summary_of_a_partial_run_counts_only_settled_theorems() -> None:
    rows = [{"theorem": "a", "attempt": 0, "status": "proved"},
            {"theorem": "a", "attempt": 1, "status": "failed"},
            {"theorem": "b", "attempt": 0, "status": "failed"}]
    summary = summarize(rows, k=2, theorems=["a", "b", "c"])
    assert (summary.settled, summary.proved, summary.total, summary.complete) == (1, 1, 3, False)
    assert math.isclose(summary.pass_at_1, 0.5)


def test_bench_config_roundtrip_and_validation() -> None:
    config = BenchConfig("s", "replay", "fixed:f", search=SearchConfig(max_expansions=5),
                         backend_options={"latency_s": 0.1}, attempts=2, filter="^t")
    again = BenchConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and again.config_hash() == config.config_hash()
    with pytest.raises(ConfigError, match="attempts"):
        BenchConfig("s", "replay", "fixed:f", attempts=0)
    with pytest.raises(ConfigError, match="regex"):
        BenchConfig("s", "replay", "fixed:f", filter="(")


def test_filter_and_limit_select_theorems(suite: tuple[Path, Path], tmp_path: Path) -> None:
    trace, tactics = suite
    out = tmp_path / "run"
    assert main(bench_args(trace, tactics, out, "--filter", "t0[2-6]", "--limit", "3")) == 0
    assert [r["theorem"] for r in read_results(out)] == ["t02", "t03", "t04"]


def test_progress_bar_shows_proved_done_and_rate(suite: tuple[Path, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    trace, tactics = suite
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # a bar is drawn on terminals only
    args = [a for a in bench_args(trace, tactics, tmp_path / "run") if a != "--no-progress"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "proved 6 | done 9/9 | pass 66.7%" in err


# ---- report -----------------------------------------------------------------------------------
def test_report_table_comparison_and_plots(suite: tuple[Path, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    trace, tactics = suite
    budget = ["--max-expansions", "3"]
    assert main(bench_args(trace, tactics, tmp_path / "cumulative", *budget)) == 0
    assert main(bench_args(trace, tactics, tmp_path / "fewest-bad", *budget,
                           "--heuristic", f"{PLUGINS}:fewest_bad")) == 0
    capsys.readouterr()
    plots = tmp_path / "plots"
    assert main(["report", str(tmp_path / "cumulative"), str(tmp_path / "fewest-bad"),
                 "--out", str(plots)]) == 0
    text = capsys.readouterr().out
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| run | pass@1 [95% CI] | proved/total | errors | median wall s")
    assert table[1].startswith("| cumulative | 0.0% [0.0%, 29.9%] | 0/9 | 0 |")
    assert table[2].startswith("| fewest-bad | 66.7% [35.4%, 87.9%] | 6/9 | 0 |")
    # per theorem: proved ones 2 expansions / 5 tactics answered (the proof's sibling behind it
    # is cancelled before it reaches the prover: not an env call), unprovable ones 3 / 9
    assert table[2].endswith("| 2.3 | 6.3 | 2.3 | 0.0 |")  # expansions, env/gen calls, rollouts
    assert "only fewest-bad: 6" in text
    assert "proved by fewest-bad only: `t00`, `t01`, `t03`" in text
    for name in ("proved_vs_time.png", "proved_vs_expansions.png"):
        data = (plots / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert (plots / "report.md").read_text().startswith("| run |")


def test_report_of_a_missing_run_is_a_clear_error(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "not a benchmark run" in capsys.readouterr().err


# ---- suites -----------------------------------------------------------------------------------
def test_user_suite_by_path_with_a_replay_trace_option(suite: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    trace, tactics = suite
    out = tmp_path / "run"
    args = bench_args(trace, tactics, out, "--backend-option", f"trace={trace}")
    args[args.index("--suite") + 1] = f"{PLUGINS}:two_theorems"
    assert main(args) == 0
    assert [(r["theorem"], r["status"]) for r in read_results(out)] == \
        [("t01", "proved"), ("t02", "failed")]
    with pytest.raises(ConfigError, match=r"list of prover\.types\.Theorem"):
        load_suite(f"{PLUGINS}:fewest_bad")


def test_minif2f_jsonl_suite(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / "minif2f" / "minif2f_test.jsonl"
    suite = load_suite(str(path))
    assert len(suite.theorems) == 244 and suite.trace is None
    first = suite.theorems[0]
    assert first.statement.rstrip().endswith(":= by") and "leandojo" in first.locator
    variant = load_suite(f"{path}#variant=lean_dojo_mew_v4.7.0")
    assert variant.theorems[0].locator["leandojo"]["url"] != first.locator["leandojo"]["url"]
    # theorems missing from the replay trace are environment failures: rows, in the denominator
    out = tmp_path / "run"
    demo = REPO / "prover" / "data"
    assert main(["bench", "--suite", str(path), "--backend", "replay", "--backend-option",
                 f"trace={demo / 'demo_trace.jsonl'}", "--generator",
                 f"fixed:{demo / 'demo_tactics.json'}", "--limit", "3", "--out", str(out),
                 "--no-progress"]) == 0
    rows = read_results(out)
    assert [r["theorem"] for r in rows] == [t.name for t in suite.theorems[:3]]
    assert all(r["status"] == "error" and "not in the replay trace" in r["message"]
               for r in rows)
    assert summarize(rows, theorems=[r["theorem"] for r in rows]).settled == 3


def test_a_variant_suite_leaves_out_records_without_it_and_says_so(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    dojo = {"url": "https://github.com/x/y", "commit": "c" * 40, "file_path": "A.lean",
            "full_name": "a"}
    records = [{"name": "a", "header": "", "formal_statement": "theorem a : True := by",
                "variants": {"old": dojo}},
               {"name": "b", "header": "", "formal_statement": "theorem b : True := by",
                "variants": {"old": None}}]
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    suite = load_suite(f"{path}#variant=old")
    assert suite.names == ["a"] and suite.skipped == ("b",)
    assert "1 of 2 records have no variant 'old' and are left out: b" in caplog.text
    assert suite.select(limit=1).skipped == ("b",)  # still known after selection
    assert load_suite(str(path)).skipped == ()  # no variant asked for: every record counts
    with pytest.raises(DataFormatError, match="2 records lack it"):
        load_suite(f"{path}#variant=nope")  # a variant no record has is still an error


def test_minif2f_valid_leandojo_suite_skips_imo_2006_p3(shared_data: Path) -> None:
    path = shared_data / "minif2f" / "minif2f_valid.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    suite = load_suite(f"{path}#variant=lean_dojo_mew_v4.7.0")
    assert suite.skipped == ("imo_2006_p3",) and len(suite.theorems) == 243
    assert "imo_2006_p3" not in suite.names


# ---- the library API takes objects ---------------------------------------------------------------
def test_run_benchmark_takes_generator_and_heuristic_objects(suite: tuple[Path, Path],
                                                              tmp_path: Path) -> None:
    from bench_plugins import FewestBad

    from benchmarks.config import BenchConfig
    from prover.generators.fixed import FixedTacticGenerator

    trace, tactics = suite
    by_spec = run_benchmark(BenchConfig(suite=str(trace), backend="replay",
                                        generator=f"fixed:{tactics}"),
                            tmp_path / "spec", progress=False)
    config = BenchConfig(suite=str(trace), backend="replay",
                         generator=FixedTacticGenerator.from_file(tactics),
                         heuristic=FewestBad())
    by_object = run_benchmark(config, tmp_path / "object", progress=False)
    assert by_object.proved == by_spec.proved == 6
    stored = json.loads((tmp_path / "object" / "config.json").read_text())
    assert stored["config"]["generator"] == "object:prover.generators.fixed.FixedTacticGenerator"
    assert stored["config"]["heuristic"].endswith("FewestBad")
    with pytest.raises(ConfigError, match="TacticGenerator"):
        BenchConfig(suite=str(trace), backend="replay", generator=42)  # type: ignore[arg-type]
