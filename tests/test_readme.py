"""The README cannot drift from the code: its tagged blocks run, and every command, flag,
generator kind, template and preset it names exists."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from prover.generators.templates import TEMPLATES
from prover.specs.generators import GENERATOR_KINDS, PRESETS
from seg_prover.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
TAG = "<!-- readme-test -->"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def tagged_blocks(language: str) -> list[str]:
    blocks = []
    for match in BLOCK.finditer(README):
        before = README[:match.start()].rstrip().splitlines()
        if match.group(1) == language and before and before[-1].strip() == TAG:
            blocks.append(match.group(2))
    return blocks


def all_blocks(language: str) -> list[str]:
    return [m.group(2) for m in BLOCK.finditer(README) if m.group(1) == language]


def command_lines() -> list[str]:
    """Every shell command line of the README (continuations joined, comments dropped)."""
    lines: list[str] = []
    for block in all_blocks("bash"):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def workdir(tmp_path: Path) -> Path:
    """A directory that looks like the repository root to the README's relative paths, with
    ``../shared`` beside it; what the commands write stays in ``tmp_path``."""
    work = tmp_path / "work"
    work.mkdir()
    for name in ("prover", "heuristics", "rollout", "benchmarks", "seg_prover", "docs"):
        (work / name).symlink_to(ROOT / name)
    (tmp_path / "shared").symlink_to((ROOT.parent / "shared").resolve())
    return work


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_readme_starts_with_the_install_and_test_commands() -> None:
    first = all_blocks("bash")[0].splitlines()
    commands = [line for line in first if line and not line.startswith("#")]
    assert len(commands) == 2
    assert commands[0].endswith("seg-prover demo")
    assert 'pip install -e ".[all,test]"' in commands[0]
    assert "--index-url https://download.pytorch.org/whl/cpu" in commands[0]
    assert commands[1] == "python -m pytest"
    assert "python -m pytest" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


@pytest.mark.skipif(not (ROOT.parent / "shared" / "data").is_dir(), reason="needs ../shared/data")
def test_tagged_shell_blocks_run(tmp_path: Path) -> None:
    blocks = tagged_blocks("bash")
    assert blocks, "no tagged shell block"
    work = workdir(tmp_path)
    for block in blocks:
        script = block.replace("seg-prover ", f"{sys.executable} -m seg_prover ")
        result = run(["bash", "-euo", "pipefail", "-c", script], work)
        assert result.returncode == 0, f"{block}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    assert list((work / "runs").glob("demo*.html")) and (work / "runs" / "seg.jsonl").is_file()


def test_tagged_python_blocks_run(tmp_path: Path) -> None:
    blocks = tagged_blocks("python")
    assert len(blocks) >= 2
    work = workdir(tmp_path)
    for number, block in enumerate(blocks):
        path = tmp_path / f"block{number}.py"
        path.write_text(block, encoding="utf-8")
        result = run([sys.executable, str(path)], work)
        assert result.returncode == 0, f"{block}\n{result.stderr[-2000:]}"
        assert "proved" in result.stdout


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_command_and_flag_named_exists() -> None:
    root = build_parser()
    checked = 0
    for line in command_lines():
        for match in re.finditer(r"seg-prover ((?:[a-z][\w-]* ?)+)(.*?)(?:&&|\||;|$)", line):
            words = match.group(1).split()
            parser = root
            used = []
            for word in words:
                sub = _subparsers(parser)
                if word not in sub:
                    break
                parser = sub[word]
                used.append(word)
            assert used, f"`seg-prover {words[0]}` is not a command: {line}"
            flags = re.findall(r"(?<![\w-])(--[a-z][\w-]*)", match.group(1) + match.group(2))
            known = {opt for action in parser._actions for opt in action.option_strings}
            for flag in flags:
                assert flag in known, f"seg-prover {' '.join(used)} has no {flag}: {line}"
            checked += 1
    assert checked >= 20


def test_every_generator_kind_template_and_preset_named_exists() -> None:
    kinds = set(GENERATOR_KINDS) | {"coq-index"}
    specs = [spec for line in command_lines() if "seg-prover " in line
             for spec in re.findall(r"--generator '?([^\s']+)", line)]
    assert len(specs) >= 5
    for spec in specs:
        kind = spec.split(":", 1)[0].split("#", 1)[0]
        if kind.isupper() or "." in kind or "/" in kind or kind == "SPEC":
            continue  # a placeholder or a user's object
        assert kind in kinds, f"unknown generator kind in the README: {spec}"
    for name in re.findall(r"template=([\w.-]+)", README):
        if name not in ("TEXT", "PromptTemplate"):
            assert name in TEMPLATES, f"unknown template {name}"
    for name in re.findall(r"preset=([\w.-]+)", README):
        assert name in PRESETS, f"unknown preset {name}"
    for name in re.findall(r"`([\w.-]+)` \(", README.split("Built-in templates:", 1)[1][:600]):
        assert name in TEMPLATES, f"the README lists a template that does not exist: {name}"
    listed = README.split("Built-in templates:", 1)[1][:600]
    assert set(TEMPLATES) <= set(re.findall(r"`([\w.-]+)`", listed))
