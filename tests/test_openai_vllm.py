"""OpenAICompatibleGenerator against a stand-in that behaves as vLLM's server does
(``vllm_standin``): what a candidate's log-prob means under sampling and beam search, stop
strings that beam search ignores, the log-prob limit of beam search, long prompts."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from vllm_standin import Sequence, VLLMStandIn

from prover.errors import ConfigError, GeneratorError
from prover.generators.decoding import DecodingConfig
from prover.generators.openai import OpenAICompatibleGenerator
from prover.types import Candidate, ProofState

STATE = ProofState(("x : ℕ\n⊢ x + 0 = x",))


@pytest.fixture
def vllm() -> Iterator[VLLMStandIn]:
    server = VLLMStandIn()
    yield server
    server.close()


def generator(server: VLLMStandIn, **kwargs: Any) -> OpenAICompatibleGenerator:
    options: dict[str, Any] = {"max_retries": 0, "timeout_s": 5.0}
    options.update(kwargs)
    return OpenAICompatibleGenerator(server.url, "prover-7b", **options)


async def test_sampling_logprob_is_the_sum_of_raw_token_logprobs_eos_included(
        vllm: VLLMStandIn) -> None:
    vllm.samples = [Sequence(("simp",), (-0.5,), eos_logprob=-0.25),
                    Sequence(("om", "ega", "\n", "rfl"), (-0.1, -0.2, -0.3, -0.4))]
    gen = generator(vllm, stop=("\n",), decoding=DecodingConfig.dobevi())
    candidates = await gen.propose(STATE, 2)
    # raw log-probs as the server gives them (repetition penalty and temperature are not in
    # them), the end-of-sequence token's counted, the stop string's tokens counted
    assert candidates == [Candidate("omega", pytest.approx(-0.6), pytest.approx(-0.2)),
                          Candidate("simp", -0.75, pytest.approx(-0.375))]
    (body,) = vllm.requests
    assert body["stop"] == ["\n"] and body["repetition_penalty"] == 1.1
    gen.close()


async def test_beam_choices_are_cut_at_the_stop_string_and_count_eos(vllm: VLLMStandIn) -> None:
    vllm.beams = [Sequence(("simp", "\n", "exact", " h"), (-0.1, -0.2, -0.3, -0.4)),
                  Sequence(("rfl",), (-0.5,), eos_logprob=-0.05)]
    gen = generator(vllm, stop=("\n",), decoding=DecodingConfig.reprover())
    candidates = await gen.propose(STATE, 2)
    assert candidates == [Candidate("simp", pytest.approx(-0.3), pytest.approx(-0.15)),
                          Candidate("rfl", pytest.approx(-0.55), pytest.approx(-0.275))]
    (body,) = vllm.requests
    assert body["use_beam_search"] is True and body["include_stop_str_in_output"] is True
    assert body["length_penalty"] == 0.0  # ReProver ranks by the plain sum
    # what vLLM's beam search would drop silently is not sent
    assert not {"stop", "top_k", "repetition_penalty"} & set(body)
    gen.close()


async def test_beam_width_beyond_the_servers_max_logprobs_is_refused(vllm: VLLMStandIn) -> None:
    vllm.beams = [Sequence((f"t{i}",), (-0.1 * i,), eos_logprob=-0.01) for i in range(12)]
    gen = generator(vllm, decoding=DecodingConfig.reprover())
    assert len(await gen.propose(STATE, 10)) == 10
    with pytest.raises(ConfigError, match="--max-logprobs") as caught:
        await gen.propose(STATE, 11)
    assert "server_max_logprobs" in str(caught.value)
    assert len(vllm.requests) == 1  # the refused request was never sent
    vllm.max_logprobs = 24
    wider = generator(vllm, decoding=DecodingConfig.reprover(), server_max_logprobs=24)
    assert len(await wider.propose(STATE, 12)) == 12
    with pytest.raises(ConfigError, match="repetition_penalty"):
        generator(vllm, decoding=DecodingConfig(strategy="beam", repetition_penalty=1.2))
    gen.close()
    wider.close()


async def test_long_prompts_are_truncated_by_the_server_keeping_the_goal(
        vllm: VLLMStandIn) -> None:
    vllm.max_model_len, vllm.samples = 60, [Sequence(("simp",), (-0.5,), eos_logprob=-0.1)]
    hyps = "\n".join(f"h{i} : p{i}" for i in range(100))
    state = ProofState((hyps + "\n⊢ q",))
    gen = generator(vllm, template="state",
                    decoding=DecodingConfig(strategy="sample", max_input_tokens=40,
                                            max_new_tokens=16))
    assert [c.tactic for c in await gen.propose(state, 1)] == ["simp"]
    assert vllm.requests[0]["truncate_prompt_tokens"] == 40
    assert vllm.prompts[0][-3:] == ["p99", "⊢", "q"] and len(vllm.prompts[0]) == 40
    gen.close()


async def test_a_prompt_still_too_long_gives_no_candidates_not_an_error(
        vllm: VLLMStandIn, caplog: pytest.LogCaptureFixture) -> None:
    vllm.max_model_len, vllm.samples = 60, [Sequence(("simp",), (-0.5,))]
    state = ProofState(("\n".join(f"h{i} : p{i}" for i in range(100)) + "\n⊢ q",))
    gen = generator(vllm, template="state",
                    decoding=DecodingConfig(strategy="sample", max_input_tokens=None))
    with caplog.at_level(logging.WARNING):
        assert await gen.propose(state, 1) == []
    assert "context length" in caplog.text
    # a truncation size the server can never take is a configuration error, said as such
    too_big = generator(vllm, decoding=DecodingConfig(strategy="sample", max_input_tokens=100))
    with pytest.raises(GeneratorError, match="max_input_tokens"):
        await too_big.propose(STATE, 1)
    gen.close()
    too_big.close()


def test_the_spec_takes_the_servers_max_logprobs() -> None:
    from prover.specs import make_generator

    made = make_generator("openai:http://127.0.0.1:8000/v1#model=m&strategy=beam"
                          "&server_max_logprobs=64")
    assert isinstance(made, OpenAICompatibleGenerator) and made.server_max_logprobs == 64
    made.close()
