"""Decoding settings shared by the model-backed generators, and turning decoded sequences into
ranked candidates."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from prover.errors import ConfigError
from prover.generators.base import merge_candidates
from prover.types import Candidate

Strategy = Literal["beam", "sample"]
Score = Literal["sum", "mean"]


@dataclass(frozen=True)
class DecodingConfig:
    """How candidates are decoded; ``k`` (how many) comes with each ``propose`` call.

    - ``strategy``: ``"beam"`` (beam search with ``num_beams = k``, as ReProver) or ``"sample"``
      (``k`` independent samples, as BFS-Prover and DoBeVi).
    - ``temperature``, ``top_p``, ``top_k`` (``None``: off), ``repetition_penalty``: sampling
      controls (ignored by beam search except ``repetition_penalty``, which Hugging Face's
      beam search applies and vLLM's refuses: it would be dropped silently there).
    - ``length_penalty``: beam ranking divides the summed log-prob by ``length ** penalty``; 0
      ranks by the plain sum (ReProver's ``length_penalty: 0.0``).
    - ``max_new_tokens``: tokens per candidate (128, DoBeVi).
    - ``max_input_tokens``: prompt limit; longer states are cut from the hypotheses side so the
      goal survives (2300, ReProver's ``max_seq_len``); ``None`` disables the cut.
    - ``score``: what :attr:`Candidate.logprob` holds: ``"sum"`` of token log-probs (ReProver,
      DoBeVi) or their ``"mean"`` (BFS-Prover-V2 scores tactics by mean token log-prob).
      :attr:`Candidate.mean_logprob` always holds the mean.

    One meaning of a log-prob on every backend: the model's raw log-prob of the token
    (``log_softmax`` of its logits before repetition penalty, temperature, top-k/top-p: what
    vLLM returns by default, ``--logprobs-mode raw_logprobs``), and the end-of-sequence token
    counts as a token when the model emitted it. So a preset ranks candidates alike on
    ``hf:`` and ``openai:``; the penalty and the temperature shape which candidates are found,
    not their scores. Hugging Face's own beam scores (``sequences_scores``) sum penalized,
    unnormalized log-probs instead, and vLLM's beam search keeps beams by a length-normalized
    score whose length includes the prompt; neither is reported (see
    :mod:`prover.generators.hf`, :mod:`prover.generators.openai`).
    """

    strategy: Strategy = "beam"
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int | None = None
    repetition_penalty: float = 1.0
    length_penalty: float = 0.0
    max_new_tokens: int = 128
    max_input_tokens: int | None = 2300
    score: Score = "sum"

    def __post_init__(self) -> None:
        if self.strategy not in ("beam", "sample"):
            raise ConfigError(f"DecodingConfig.strategy must be 'beam' or 'sample', "
                              f"got {self.strategy!r}")
        if self.score not in ("sum", "mean"):
            raise ConfigError(f"DecodingConfig.score must be 'sum' or 'mean', got {self.score!r}")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ConfigError(f"DecodingConfig.temperature must be > 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"DecodingConfig.top_p must be in (0, 1], got {self.top_p}")
        if self.top_k is not None and (isinstance(self.top_k, bool) or self.top_k < 1):
            raise ConfigError(f"DecodingConfig.top_k must be >= 1 or None, got {self.top_k!r}")
        if not (math.isfinite(self.repetition_penalty) and self.repetition_penalty > 0):
            raise ConfigError("DecodingConfig.repetition_penalty must be > 0, "
                              f"got {self.repetition_penalty}")
        if not math.isfinite(self.length_penalty):
            raise ConfigError(f"DecodingConfig.length_penalty must be finite, "
                              f"got {self.length_penalty}")
        for name in ("max_new_tokens", "max_input_tokens"):
            value = getattr(self, name)
            if value is None and name == "max_input_tokens":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"DecodingConfig.{name} must be an integer >= 1, got {value!r}")

    @classmethod
    def reprover(cls) -> DecodingConfig:
        """Beam search ranked by summed log-prob (lean-dojo/ReProver: num_beams = k,
        length_penalty 0.0)."""
        return cls(strategy="beam", length_penalty=0.0)

    @classmethod
    def dobevi(cls) -> DecodingConfig:
        """DoBeVi's sampling (NJUDeepEngine/llm_based_atp): temperature 1.1, top-k 50,
        top-p 0.95, repetition penalty 1.1, 128 new tokens."""
        return cls(strategy="sample", temperature=1.1, top_k=50, top_p=0.95,
                   repetition_penalty=1.1, max_new_tokens=128)

    @classmethod
    def bfs_prover_v2(cls) -> DecodingConfig:
        """BFS-Prover-V2's sampling at temperature 1.3, tactics scored by mean token log-prob
        (zeyu-zheng/BFS-Prover-V2)."""
        return cls(strategy="sample", temperature=1.3, score="mean")


@dataclass(frozen=True)
class Hypothesis:
    """One decoded sequence before ranking: its text, token ids (end-of-sequence included when
    the model emitted it), summed log-prob and token count."""

    text: str
    token_ids: tuple[int, ...]
    logprob: float
    num_tokens: int

    @property
    def mean_logprob(self) -> float:
        """Mean log-prob per token (0 for an empty sequence)."""
        return self.logprob / self.num_tokens if self.num_tokens else 0.0


def rank_hypotheses(hypotheses: Iterable[Hypothesis], k: int | None = None,
                    score: Score = "sum") -> list[Candidate]:
    """Candidates from hypotheses: empty texts dropped, duplicates merged keeping the best score,
    best first; ``logprob`` holds the ``score`` reduction and ``mean_logprob`` the mean."""
    candidates = [
        Candidate(h.text.strip(), h.logprob if score == "sum" else h.mean_logprob,
                  mean_logprob=h.mean_logprob)
        for h in hypotheses
    ]
    return merge_candidates(candidates, k)


__all__ = ["DecodingConfig", "Hypothesis", "Score", "Strategy", "rank_hypotheses"]
