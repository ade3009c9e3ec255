"""Errors and output people can act on: flags named in errors, "did you mean", fail-fast model
loads, progress bars only on a terminal, plain ``--help`` with help on every flag."""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

from prover.cli import data_path, progress_wanted
from prover.errors import ConfigError
from prover.extras import MissingExtraError, require
from prover.specs import hub, make_environment, make_generator, make_heuristic, parse_rollout
from seg_prover.cli import COMMAND_MODULES, build_parser, main

MARKUP = re.compile(r"``|%%|:class:|:func:|:mod:|:meth:|:data:")


def _parsers(parser: argparse.ArgumentParser, path: str = "seg-prover"
             ) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found.extend(_parsers(child, f"{path} {name}"))
    return found


def test_every_flag_of_every_command_has_help_and_help_has_no_markup() -> None:
    parsers = _parsers(build_parser())
    assert len(parsers) > len(COMMAND_MODULES)  # every table entry added at least one command
    missing = [f"{path} {'/'.join(action.option_strings) or action.dest}"
               for path, parser in parsers for action in parser._actions
               if not isinstance(action, argparse._SubParsersAction)
               and action.help in (None, "")]
    assert missing == []
    for path, parser in parsers:
        text = parser.format_help()
        assert not MARKUP.search(text), (path, MARKUP.search(text))


def test_python_dash_m_seg_prover_is_the_command() -> None:
    proc = subprocess.run([sys.executable, "-m", "seg_prover", "--help"], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert proc.returncode == 0, proc.stderr
    assert "bench" in proc.stdout and "search" in proc.stdout


def test_bad_budget_values_name_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    trace, tactics = data_path("demo_trace.jsonl"), data_path("demo_tactics.json")
    assert main(["search", str(trace), str(tactics), "--time-limit", "0"]) == 2
    err = capsys.readouterr().err
    assert "--time-limit must be > 0" in err and "SearchConfig" not in err
    assert main(["search", str(trace), str(tactics), "--max-expansions", "0"]) == 2
    assert "--max-expansions must be" in capsys.readouterr().err


@pytest.mark.parametrize(("call", "spec", "meant"), [
    (make_generator, "fixd:tactics.txt", "fixed"),
    (make_generator, "hff:org/model", "hf"),
    (make_heuristic, "normalised:0.5", "normalized"),
    (parse_rollout, "3,2,mod=sample", "mode"),
    (make_environment, "coqq", "coq"),
])
def test_a_near_miss_says_what_was_meant(call, spec: str, meant: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=f"did you mean '{meant}'"):
        call(spec)


def test_a_near_miss_option_says_what_was_meant(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="did you mean 'temperature'"):
        make_generator(f"hf:{tmp_path}#temperatur=1.0")


def test_a_user_generator_by_module_path_works_on_the_command_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    # the README's `seg-prover search --generator pkg.mod:G` form (bench_plugins is on the
    # tests' path): the one spec parser serves search as well as bench
    trace = data_path("demo_trace.jsonl")
    code = main(["search", str(trace), "--generator", "bench_plugins:SeededGenerator",
                 "--max-expansions", "2"])
    assert code in (0, 1)
    assert "expansions=" in capsys.readouterr().out


def test_a_missing_local_checkpoint_says_the_directory_is_missing() -> None:
    with pytest.raises(ConfigError, match=r"directory .*missing-dir does not exist"):
        make_generator("hf:./missing-dir")
    with pytest.raises(ConfigError, match="does not exist"):
        make_generator("hf:/no/such/checkpoint")


def test_an_offline_hub_load_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "in_cache", lambda *a, **k: False)
    with pytest.raises(ConfigError, match="HF_HUB_OFFLINE is set"):
        make_generator("hf:some-org/not-cached-model")


def test_an_unreachable_hub_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in hub.OFFLINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(hub, "in_cache", lambda *a, **k: False)
    monkeypatch.setattr(hub, "hub_reachable", lambda *a, **k: False)
    with pytest.raises(ConfigError, match="cannot be reached"):
        make_generator("hf:some-org/not-cached-model")


def test_a_missing_extra_names_the_pip_extra() -> None:
    with pytest.raises(MissingExtraError, match=r"pip install 'seg-prover\[hf\]'"):
        require("no_such_module_for_seg_prover", extra="hf")
    with pytest.raises(ImportError):  # code that falls back on ImportError still does
        require("no_such_module_for_seg_prover", extra="hf")


def test_no_progress_bar_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert not progress_wanted(True)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert progress_wanted(True) and not progress_wanted(False)


def test_every_long_command_takes_no_progress() -> None:
    parser = build_parser()
    for argv in (["bench", "--suite", "s", "--backend", "replay", "--generator", "fixed:f",
                  "--out", "o"], ["demo"], ["coq", "extract", "out"],
                 ["policy", "train", "--data-path", "d", "--model-name", "m",
                  "--output-dir", "o"], ["progress", "train", "--data-path", "d"]):
        assert parser.parse_args([*argv, "--no-progress"]).no_progress is True, argv


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("coqidetop.opt") is None, reason="needs coqidetop.opt")
async def test_a_restart_after_a_tactic_timeout_is_logged_as_such(
        caplog: pytest.LogCaptureFixture) -> None:
    from prover.backends.coq import CoqEnvironment
    from prover.types import StateReached, TacticTimeout, Theorem

    caplog.set_level(logging.INFO, logger="prover.backends")
    env = CoqEnvironment(tactic_timeout_s=0.5, grace_s=0.3)
    try:
        theorem = Theorem("stop", "Lemma stop : True /\\ True.", {"prelude": ""})
        async with await env.open(theorem) as session:
            pid = session.pid
            assert pid is not None
            os.kill(pid, signal.SIGSTOP)  # silent: the reply deadline stops it
            assert isinstance(await session.apply(session.root, "split."), TacticTimeout)
            assert isinstance(await session.apply(session.root, "split."), StateReached)
    finally:
        await env.close()
    text = caplog.text
    assert "after a tactic timeout" in text
    assert "died" not in text
