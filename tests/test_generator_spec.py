"""make_generator specs and the ``seg-prover search --generator`` flag."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tiny_models import tiny_t5

from prover.cli import data_path
from prover.errors import ConfigError
from prover.generators.batching import MicroBatcher
from prover.generators.fixed import FixedTacticGenerator
from prover.generators.hf import HFTacticGenerator
from prover.generators.openai import OpenAICompatibleGenerator
from prover.specs import make_generator
from prover.types import ProofState
from seg_prover.cli import main

STATE = ProofState(("⊢ True",))


async def test_fixed_spec(tmp_path: Path) -> None:
    path = tmp_path / "tactics.txt"
    path.write_text("# comment\nsimp\nomega\n", encoding="utf-8")
    generator = make_generator(f"fixed:{path}")
    assert isinstance(generator, FixedTacticGenerator)
    assert [c.tactic for c in await generator.propose(STATE, 5)] == ["simp", "omega"]


async def test_knn_spec_reads_trace_files_and_folders(tmp_path: Path) -> None:
    from prover.generators.knn import KNNTacticGenerator

    trace = data_path("demo_trace.jsonl")
    generator = make_generator(f"knn:{trace}")
    assert isinstance(generator, KNNTacticGenerator)
    (tmp_path / "a.jsonl").write_text(trace.read_text(encoding="utf-8"), encoding="utf-8")
    assert isinstance(make_generator(f"knn:{tmp_path}"), KNNTacticGenerator)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"no \*\.jsonl"):
        make_generator(f"knn:{tmp_path / 'a.jsonl'},{tmp_path / 'empty'}")


async def test_hf_spec_builds_a_batched_generator(tmp_path: Path) -> None:
    model, tokenizer = tiny_t5(eos_bias=0.0)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    generator = make_generator(f"hf:{tmp_path}#preset=dobevi&max_new_tokens=4&top_k=none"
                               "&max_batch=4&max_wait_ms=1&dtype=float32&template=state")
    assert isinstance(generator, MicroBatcher)
    assert generator.max_batch == 4
    inner = generator.generator
    assert isinstance(inner, HFTacticGenerator)
    assert inner.template.name == "state" and inner.kind == "seq2seq"
    d = inner.decoding
    assert (d.strategy, d.temperature, d.top_p, d.top_k, d.max_new_tokens) == (
        "sample", 1.1, 0.95, None, 4)
    candidates = await generator.propose(STATE, 3)
    assert len(candidates) <= 3
    generator.close()


def test_openai_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "sk-abc")
    generator = make_generator("openai:http://127.0.0.1:9/v1#model=bfs&preset=bfs-prover-v2"
                               "&template=bfs-prover&api_key_env=MY_KEY&max_retries=0")
    assert isinstance(generator, OpenAICompatibleGenerator)
    assert generator.url == "http://127.0.0.1:9/v1/completions" and generator.model == "bfs"
    assert generator.decoding.temperature == 1.3 and generator.decoding.score == "mean"
    assert generator.template.name == "bfs-prover" and generator.max_retries == 0
    assert generator._headers["Authorization"] == "Bearer sk-abc"
    generator.close()


@pytest.mark.parametrize(("spec", "match"), [
    ("", "a generator spec is one of"),
    ("simp", "a generator spec is one of"),
    ("hf:", "a generator spec is one of"),
    ("gpt:foo", "unknown generator kind 'gpt'"),
    ("hf:x#bogus=1", "bad option 'bogus=1'.*options: "),
    ("hf:x#temperature=hot", "bad value for 'temperature'"),
    ("hf:x#temperature=0", "temperature must be > 0"),
    ("hf:x#preset=nope", "unknown decoding preset"),
    ("hf:x#dtype=int9", "unknown dtype"),
    ("openai:http://h:8000", "needs #model=NAME"),
    ("fixed:f.txt#x=1", "takes no options"),
    ("fixed:/no/such/file.txt", "cannot read /no/such/file.txt"),
])
def test_bad_specs_are_config_errors(spec: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make_generator(spec)


def test_cli_search_with_a_generator_spec(capsys: pytest.CaptureFixture[str]) -> None:
    trace, tactics = data_path("demo_trace.jsonl"), data_path("demo_tactics.json")
    assert main(["search", str(trace), "--generator", f"fixed:{tactics}"]) == 0
    with_flag = capsys.readouterr().out
    assert main(["search", str(trace), str(tactics)]) == 0
    assert capsys.readouterr().out.count(": proved") == with_flag.count(": proved") > 0
    assert main(["search", str(trace)]) == 2
    assert "either a TACTICS file or --generator" in capsys.readouterr().err
    assert main(["search", str(trace), str(tactics), "--generator", "fixed:x"]) == 2
    assert main(["search", str(trace), "--generator", "bogus"]) == 2
    assert "a generator spec is one of" in capsys.readouterr().err


# ---- one spec language ----------------------------------------------------------------------
def test_every_part_takes_options_after_a_hash(tmp_path: Path) -> None:
    from heuristics.builtin import NormalizedLogProb
    from prover.backends.replay import ReplayEnvironment
    from prover.specs import make_environment, make_heuristic, parse_rollout

    heuristic = make_heuristic("normalized#alpha=0.25")
    assert isinstance(heuristic, NormalizedLogProb) and heuristic.alpha == 0.25
    rollout = parse_rollout("3#mode=sample&probes=2")
    assert rollout is not None and (rollout.depth, rollout.probes, rollout.mode) == (3, 2, "sample")
    assert parse_rollout("3,2,mode=sample") == rollout
    env = make_environment("replay#latency_s=0.5", trace=str(data_path("demo_trace.jsonl")))
    assert isinstance(env, ReplayEnvironment)


def test_a_new_generator_kind_is_one_entry(tmp_path: Path) -> None:
    from prover.specs import GENERATOR_KINDS, GeneratorKind, Spec

    def echo(spec: Spec) -> FixedTacticGenerator:
        return FixedTacticGenerator([spec.target, *spec.option_dict().values()])

    kinds = {**GENERATOR_KINDS, "echo": GeneratorKind(echo, "echo:TACTIC[#k=TACTIC]")}
    generator = make_generator("echo:simp#then=rfl", kinds)
    assert isinstance(generator, FixedTacticGenerator)
    assert [c.tactic for c in asyncio.run(generator.propose(STATE, 4))] == ["simp", "rfl"]
    with pytest.raises(ConfigError, match="did you mean 'echo'"):
        make_generator("ecoh:simp", kinds)
    with pytest.raises(ConfigError, match="unknown generator kind 'echo'"):
        make_generator("echo:simp")  # not in the built-in table
