"""``bench`` when things go wrong: a backend that cannot start, passing errors and resume, a
typo in a spec, bad suite files, a read-only or full disk, Ctrl-C, an empty filter; and the
per-tactic timeout's one source."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from bench_suite import bench_args, plain_names, provable, read_results, write_suite

from benchmarks import results as results_module
from benchmarks.metrics import summarize
from benchmarks.minif2f import main
from benchmarks.report import build_report
from benchmarks.results import ResultsWriter, read_rows
from prover.specs import make_environment

REPO = Path(__file__).resolve().parents[1]
PLUGINS = Path(__file__).resolve().parent / "bench_plugins.py"


@pytest.fixture
def suite(tmp_path: Path) -> tuple[Path, Path]:
    return write_suite(tmp_path)


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def second_run_starts(trace: Path, tactics: Path, out: Path, *extra: str) -> None:
    """The lock was released: the same command runs to the end."""
    assert main(bench_args(trace, tactics, out, *extra)) == 0


# ---- a backend that cannot start --------------------------------------------------------------
@pytest.mark.parametrize("backend", ["UnavailableBackend", "UnavailableOnOpen"])
def test_a_backend_that_cannot_start_fails_the_command_before_any_row(
        suite: tuple[Path, Path], tmp_path: Path, backend: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    trace, tactics = suite
    out = tmp_path / "run"
    args = bench_args(trace, tactics, out, "--backend", f"{PLUGINS}:{backend}",
                      "--concurrency", "4")
    if backend == "UnavailableOnOpen":
        args += ["--backend-option", f"trace={trace}"]
    # Before: an `error` row per theorem and exit code 0, the cause only in results.jsonl.
    assert main(args) == 2
    err = one_line(capsys.readouterr().err)
    assert "prover-exe" in err and "cannot start" in err
    assert "run the same command again" in err
    assert read_rows(out / "results.jsonl") == []


def test_a_backend_lost_mid_run_stops_it_and_keeps_the_rows_written(
        suite: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace, tactics = suite
    out = tmp_path / "run"
    args = bench_args(trace, tactics, out, "--backend", f"{PLUGINS}:UnavailableOnOpen",
                      "--backend-option", f"trace={trace}", "--backend-option",
                      'broken=["t03"]')
    assert main(args) == 2
    assert "exec format error" in one_line(capsys.readouterr().err)
    assert [r["theorem"] for r in read_results(out)] == plain_names(3)  # no row for t03
    assert main(args) == 2  # the lock was released: the same command starts (and stops again)
    err = one_line(capsys.readouterr().err)
    assert "exec format error" in err and "3 rows are kept" in err
    assert len(read_results(out)) == 3


# ---- passing errors: resume runs them again ---------------------------------------------------
def test_resume_reruns_error_rows_unless_keep_errors(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    trace, tactics = write_suite(tmp_path, n=6)
    listed = tmp_path / "fail.txt"
    monkeypatch.setenv("BENCH_FAIL_FILE", str(listed))
    listed.write_text("t00\nt03\n")
    out = tmp_path / "run"
    args = bench_args(trace, tactics, out, "--backend", f"{PLUGINS}:FailWhileListed",
                      "--backend-option", f"trace={trace}")
    assert main(args) == 0
    printed = capsys.readouterr().out
    # the end of `bench`: each status counted, each distinct error with its first message
    assert "6 searches: proved 2, failed 2, budget 0, error 2" in printed
    assert ("- 2 x EnvironmentInitError: prover for t00 crashed while loading "
            "[t00 and 1 more]") in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["statuses"] == {"proved": 2, "failed": 2, "budget": 0, "error": 2}
    assert summary["errors_by_kind"][0]["theorems"] == ["t00", "t03"]

    listed.write_text("")  # the prover is fine again
    assert main([*args, "--keep-errors"]) == 0
    assert len(read_results(out)) == 6  # kept: nothing ran
    capsys.readouterr()
    # Before: resume never ran `error` rows again.
    assert main(args) == 0
    assert "6 searches: proved 4, failed 2, budget 0, error 0" in capsys.readouterr().out
    rows = read_results(out)
    assert [r["theorem"] for r in rows[6:]] == ["t00", "t03"]
    assert rows[6]["status"] == "proved" and "crashed while loading" in rows[6]["replaces_error"]
    # each theorem counts once: the new row supersedes the error
    report = build_report([out], plots=False)
    only = report.summaries[0]
    assert (only.proved, only.settled, only.errors, only.searches) == (4, 6, 0, 6)
    assert main(args) == 0 and len(read_results(out)) == 8  # nothing left to run


# ---- config.json only after every spec was built ----------------------------------------------
@pytest.mark.parametrize(("flag", "typo", "message"), [
    ("--generator", "fixd:tactics.json", "generator"),
    ("--backend", "replya", "unknown backend 'replya'"),
    ("--heuristic", "cumulativ", "unknown heuristic 'cumulativ'"),
    ("--rollout", "dept=3", "unknown field 'dept'"),
    ("--backend-option", "latency=0.1", "unexpected keyword argument 'latency'"),
])
def test_a_spec_typo_writes_nothing_and_the_corrected_command_runs(
        suite: tuple[Path, Path], tmp_path: Path, flag: str, typo: str, message: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    trace, tactics = suite
    out = tmp_path / "run"
    args = bench_args(trace, tactics, out, "--limit", "3")
    if flag in args:
        args[args.index(flag) + 1] = typo
    else:
        args += [flag, typo]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()  # not even config.json
    # Before: config.json held the typo, and this was refused as "different configuration".
    assert main(bench_args(trace, tactics, out, "--limit", "3")) == 0
    assert len(read_results(out)) == 3


# ---- bad suite files --------------------------------------------------------------------------
RECORD = {"name": "a", "header": "", "formal_statement": "theorem a : True := by"}


@pytest.mark.parametrize(("kind", "line", "field", "message"), [
    ("binary", 1, None, "binary data"),
    ("utf16", 1, None, "UTF-16 text"),
    ("utf16-nobom", 1, None, "UTF-16 text without a byte-order mark"),
    ("nested", 2, "extra", "nested too deeply"),
    ("nested-first", 1, "extra", "nested too deeply"),
])
def test_a_bad_suite_file_is_a_data_format_error(
        tmp_path: Path, kind: str, line: int, field: str | None, message: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.suites import load_suite
    from prover.errors import DataFormatError

    path = tmp_path / "suite.jsonl"
    text = json.dumps(RECORD) + "\n"
    deep = json.dumps({**RECORD, "name": "b"})[:-1] + ', "extra": ' + "[" * 50_000 + \
        "]" * 50_000 + "}\n"
    data = {"binary": bytes(range(256)) * 8, "utf16": text.encode("utf-16"),
            "utf16-nobom": (text * 3).encode("utf-16-le"), "nested": (text + deep).encode(),
            "nested-first": deep.encode()}[kind]
    path.write_bytes(data)
    # Before: UnicodeDecodeError or RecursionError, with a traceback.
    with pytest.raises(DataFormatError, match=message) as caught:
        load_suite(str(path))
    assert (caught.value.path, caught.value.line, caught.value.field) == (str(path), line, field)
    assert main(["bench", "--suite", str(path), "--backend", "replay", "--generator",
                 "fixed:x", "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    err = one_line(capsys.readouterr().err)
    assert f"{path}, line {line}" in err and message in err


def test_a_filter_that_matches_nothing_is_an_error_naming_it(
        suite: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace, tactics = suite
    out = tmp_path / "run"
    assert main(bench_args(trace, tactics, out, "--filter", "^lemma_")) == 2
    assert "--filter '^lemma_' matches none of the 9 theorems" in capsys.readouterr().err
    assert not out.exists()


# ---- a disk that cannot be written; Ctrl-C; the lock ------------------------------------------
def test_a_read_only_out_is_one_line_and_the_same_command_then_runs(
        suite: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    trace, tactics = suite
    out = tmp_path / "run"
    out.mkdir()

    def read_only(path: Any, *args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(results_module, "open", read_only, raising=False)
    assert main(bench_args(trace, tactics, out)) == 1
    err = one_line(capsys.readouterr().err)
    assert "Read-only file system" in err and str(out) in err
    assert "run the same command again to resume" in err
    monkeypatch.undo()
    second_run_starts(trace, tactics, out)


def test_a_full_disk_is_one_line_keeps_the_rows_and_the_same_command_resumes(
        suite: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    trace, tactics = suite
    out = tmp_path / "run"
    real_append = ResultsWriter.append
    written: list[int] = []

    def fill_up(self: ResultsWriter, row: Any) -> None:
        if len(written) == 3:  # the 4th row: half of it reaches the disk, then ENOSPC
            with open(self.path, "ab") as handle:
                handle.write(json.dumps(row).encode()[:20])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
        real_append(self, row)
        written.append(1)

    monkeypatch.setattr(ResultsWriter, "append", fill_up)
    assert main(bench_args(trace, tactics, out, "--concurrency", "2")) == 1
    err = one_line(capsys.readouterr().err)
    assert "No space left on device" in err
    assert "3 rows are saved" in err and "run the same command again to resume" in err
    monkeypatch.undo()
    second_run_starts(trace, tactics, out, "--concurrency", "2")  # the lock was released
    rows = read_results(out)  # the torn line was repaired
    assert sorted(r["theorem"] for r in rows) == plain_names(9)
    assert all(r["status"] == ("proved" if provable(r["theorem"]) else "failed") for r in rows)


def test_ctrl_c_in_process_releases_the_lock(
        suite: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    trace, tactics = suite
    out = tmp_path / "run"
    monkeypatch.setenv("BENCH_INTERRUPT_MARKER", str(tmp_path / "marker"))
    args = ["--heuristic", f"{PLUGINS}:interrupt_on_marked"]
    assert main(bench_args(trace, tactics, out, *args)) == 130
    err = one_line(capsys.readouterr().err)
    assert "interrupted (Ctrl-C)" in err and "3 rows are saved" in err
    second_run_starts(trace, tactics, out, *args)
    assert sorted(r["theorem"] for r in read_results(out)) == plain_names(9)


@pytest.mark.slow
def test_ctrl_c_ends_with_one_line_and_exit_130_and_the_same_command_resumes(
        tmp_path: Path) -> None:
    trace, tactics = write_suite(tmp_path, n=12)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "benchmarks.minif2f",
               *bench_args(trace, tactics, out, "--backend-option", "latency_s=0.05")]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if results.exists() and results.read_bytes().count(b"\n") >= 2:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "finished before Ctrl-C"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    line = one_line(err)
    assert "interrupted (Ctrl-C)" in line and "run the same command again to resume" in line
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    rows = read_results(out)
    assert sorted(r["theorem"] for r in rows) == plain_names(12)
    assert summarize(rows, theorems=plain_names(12)).settled == 12


# ---- the per-tactic timeout has one source ----------------------------------------------------
@pytest.mark.slow
def test_tactic_timeout_goes_to_the_backend_and_not_to_the_search(
        suite: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trace, tactics = suite
    out = tmp_path / "run"
    built = tmp_path / "built_with.txt"
    monkeypatch.setenv("BENCH_TIMEOUT_LOG", str(built))
    # Each tactic takes 0.2 s; the backend owns a 0.05 s timeout that it measures itself.
    # Before: the backend never got it, and the search's watchdog timed every tactic out.
    assert main(bench_args(trace, tactics, out, "--backend", f"{PLUGINS}:SlowTactics",
                           "--backend-option", f"trace={trace}", "--tactic-timeout", "0.05",
                           "--limit", "1")) == 0
    [row] = read_results(out)
    assert row["status"] == "proved", row
    assert built.read_text().split() == ["0.05"]
    stored = json.loads((out / "config.json").read_text())
    assert stored["config"]["search"]["tactic_timeout_s"] == 0.05  # the one value, stored


def test_tactic_timeout_keyword_of_each_builtin_backend(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    repl = make_environment("repl", {}, tactic_timeout_s=7.5)
    assert repl.tactic_timeout_s == 7.5  # type: ignore[attr-defined]
    dojo = make_environment("leandojo", {}, tactic_timeout_s=7.5)
    assert getattr(dojo, "tactic_timeout_s", None) == 7.5 or dojo.timeout_s == 8  # type: ignore[attr-defined]
    trace, tactics = write_suite(tmp_path)
    assert main(bench_args(trace, tactics, tmp_path / "run", "--backend", "repl",
                           "--backend-option", "tactic_timeout_s=3")) == 2
    assert "the per-tactic timeout has one source, --tactic-timeout" in capsys.readouterr().err


def test_replay_keeps_the_searchs_watchdog(suite: tuple[Path, Path], tmp_path: Path) -> None:
    trace, tactics = suite
    out = tmp_path / "run"
    assert main(bench_args(trace, tactics, out, "--backend-option", "latency_s=0.3",
                           "--tactic-timeout", "0.01", "--limit", "1")) == 0
    [row] = read_results(out)
    assert row["status"] == "failed"  # every tactic timed out: replay has no timeout of its own
