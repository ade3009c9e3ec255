"""Tactic generation with Hugging Face ``transformers`` models (seq2seq or causal).

:meth:`HFTacticGenerator.generate` decodes a whole batch of states in one ``model.generate``
call and blocks; :meth:`HFTacticGenerator.propose` runs one state in a worker thread. To serve
many concurrent searches, wrap the generator in a :class:`~prover.generators.batching.MicroBatcher`
(``make_generator("hf:PATH")`` does).

A candidate's log-prob is the sum of the model's raw log-probs of its tokens (``log_softmax``
of its logits, before repetition penalty, temperature, top-k/top-p), end-of-sequence included:
the meaning vLLM's default ``raw_logprobs`` gives, so that a preset ranks alike on both. They are
accumulated during decoding by :class:`_LogProbTracker`, which keeps one decoding step of
log-probs at a time: keeping every step's scores (``output_scores``) would need
``steps x k x vocab`` floats per state, gigabytes for a 150k-token vocabulary.

The tracker must see the logits before any processor changes them. ``generate`` puts the
processors it builds first and the caller's after them (transformers 5,
``GenerationMixin._get_logits_processor``), so the repetition penalty is not set in the
generation config but passed as a processor after the tracker, built as ``generate`` would
build it. Beam search still keeps beams by its penalized scores; only the reported log-probs
are raw, and they differ from ``generate``'s own beam scores (``sequences_scores``), which sum
penalized, unnormalized log-probs.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from prover.errors import ConfigError, GeneratorError, ProverError
from prover.generators.decoding import DecodingConfig, Hypothesis, rank_hypotheses
from prover.generators.policy_record import read_policy_record
from prover.generators.prompt_encoding import encode_prompt, pad_batch, prompt_text
from prover.generators.templates import PromptTemplate, get_template
from prover.types import Candidate, ProofState

if TYPE_CHECKING:
    import torch

Kind = Literal["auto", "seq2seq", "causal"]

DEFAULT_TEMPLATES = {"seq2seq": "state", "causal": "goal-proofstep"}
"""Template used when none is given: ReProver's bare state for seq2seq models, the
``[GOAL]/[PROOFSTEP]`` format of ReProver's vLLM generator and DoBeVi for causal ones."""

_SHARED_LOAD_KWARGS = ("trust_remote_code", "revision", "gguf_file", "local_files_only",
                       "cache_dir", "token")
"""``from_pretrained`` keyword arguments that the tokenizer needs as much as the model."""


class _LogProbTracker:
    """A logits processor that sums each sequence's token log-probs while ``generate`` runs.

    ``generate`` calls it once per step with every running row's full sequence. A row is known
    by its batch item and generated prefix; its sum is its parent prefix's sum plus the previous
    step's log-prob of its last token. Matching by prefix rather than by row index follows beam
    search, which reorders rows every step. Only the previous step's log-probs are kept, plus the
    log-prob of ending (each end-of-sequence id) after every prefix.
    """

    def __init__(self, start: int, group: int, eos_ids: Sequence[int]) -> None:
        self.start = start
        self.group = group
        self.eos_ids = list(eos_ids)
        self.eos_index = {token: i for i, token in enumerate(self.eos_ids)}
        self.sums: dict[tuple[int, tuple[int, ...]], float] = {}
        self.end_logprobs: dict[tuple[int, tuple[int, ...]], list[float]] = {}
        self.prev_rows: dict[tuple[int, tuple[int, ...]], int] = {}
        self.prev_logprobs: torch.Tensor | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        import torch

        logprobs = torch.log_softmax(scores.float(), dim=-1)
        rows: dict[tuple[int, tuple[int, ...]], int] = {}
        pending: list[tuple[tuple[int, tuple[int, ...]], int, int]] = []
        for row, tokens in enumerate(input_ids[:, self.start:].tolist()):
            key = (row // self.group, tuple(tokens))
            if key in rows:
                continue
            if tokens:
                parent = (key[0], key[1][:-1])
                parent_row = self.prev_rows.get(parent)
                if parent_row is None or tokens[-1] in self.eos_index:
                    continue  # a finished sample padded after its end
                pending.append((key, parent_row, tokens[-1]))
            else:
                self.sums[key] = 0.0
            rows[key] = row
        if pending:
            assert self.prev_logprobs is not None
            gathered = self.prev_logprobs[[p for _, p, _ in pending],
                                          [t for _, _, t in pending]].tolist()
            for (key, _, _), value in zip(pending, gathered):
                self.sums[key] = self.sums[(key[0], key[1][:-1])] + value
        if self.eos_ids and rows:
            ends = logprobs[list(rows.values())][:, self.eos_ids].tolist()
            for key, values in zip(rows, ends):
                self.end_logprobs[key] = values
        self.prev_rows, self.prev_logprobs = rows, logprobs
        return scores

    def total(self, item: int, tokens: Sequence[int], eos: int | None) -> float:
        """Summed log-prob of ``tokens`` (then ``eos``, if it ended) for batch item ``item``."""
        key = (item, tuple(tokens))
        if eos is not None:
            return self.sums[key] + self.end_logprobs[key][self.eos_index[eos]]
        if key in self.sums:
            return self.sums[key]
        # The last token was chosen after the last call: read it from the last step.
        parent = (item, key[1][:-1])
        assert self.prev_logprobs is not None
        return self.sums[parent] + float(
            self.prev_logprobs[self.prev_rows[parent], tokens[-1]])


def _auto_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _auto_dtype(device: str) -> torch.dtype:
    import torch

    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


class HFTacticGenerator:
    """A :class:`~prover.generators.base.TacticGenerator` over a ``transformers`` model.

    Build it with :meth:`from_pretrained`, or pass an already built ``model`` and ``tokenizer``.
    ``kind`` is ``"seq2seq"`` (encoder-decoder, e.g. ReProver's ByT5) or ``"causal"``
    (decoder-only, e.g. BFS-Prover, InternLM2.5-StepProver); ``"auto"`` reads
    ``model.config.is_encoder_decoder``. ``template`` is a :class:`PromptTemplate`, a built-in
    name (:data:`~prover.generators.templates.TEMPLATES`) or a format string with ``{state}``;
    by default :data:`DEFAULT_TEMPLATES` per kind.

    For a causal model the tokenizer is switched to left padding (so every prompt ends where
    generation starts) and, if it has no pad token, pads with its end-of-sequence token.
    ``generate`` calls are serialized by a lock: one model, one decoding at a time.
    """

    def __init__(self, model: Any, tokenizer: Any, *, kind: Kind = "auto",
                 template: str | PromptTemplate | None = None,
                 decoding: DecodingConfig | None = None) -> None:
        if kind not in ("auto", "seq2seq", "causal"):
            raise ConfigError(f"kind must be 'auto', 'seq2seq' or 'causal', got {kind!r}")
        is_encoder_decoder = bool(getattr(model.config, "is_encoder_decoder", False))
        resolved = ("seq2seq" if is_encoder_decoder else "causal") if kind == "auto" else kind
        if (resolved == "seq2seq") != is_encoder_decoder:
            raise ConfigError(f"kind={kind!r} but the model is "
                              f"{'an encoder-decoder' if is_encoder_decoder else 'decoder-only'}")
        self.kind: Literal["seq2seq", "causal"] = resolved
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.template = get_template(template if template is not None
                                     else DEFAULT_TEMPLATES[resolved])
        self.decoding = decoding or DecodingConfig()
        self.name = str(getattr(model, "name_or_path", "") or type(model).__name__)
        if self.kind == "causal":
            tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            if tokenizer.eos_token is None:
                raise ConfigError(f"tokenizer of {self.name} has neither a pad nor an eos token")
            tokenizer.pad_token = tokenizer.eos_token
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(cls, name_or_path: str, kind: Kind = "auto",
                        template: str | PromptTemplate | None = None,
                        decoding: DecodingConfig | None = None, *,
                        device: str | None = None, dtype: Any = "auto",
                        **load_kwargs: Any) -> HFTacticGenerator:
        """Load a model and its tokenizer with the ``transformers`` Auto classes.

        ``device`` defaults to CUDA when present, else CPU; ``dtype="auto"`` picks bfloat16 (or
        float16) on CUDA and float32 on CPU. ``load_kwargs`` go to the model's
        ``from_pretrained`` (``trust_remote_code``, ``revision``, ``gguf_file``, ... also to the
        tokenizer's). With no ``template``, a checkpoint written by :class:`rollout.PolicyTrainer`
        is served with the template it was trained on (its
        :mod:`~prover.generators.policy_record`).
        """
        from prover.extras import require

        transformers = require("transformers", extra="hf")
        if template is not None:  # a typo must fail now, not after a multi-GB download
            get_template(template)
        else:
            record = read_policy_record(name_or_path)
            template = record.template if record is not None else None
        device = device or _auto_device()
        if dtype == "auto":
            dtype = _auto_dtype(device)
        shared = {key: load_kwargs[key] for key in _SHARED_LOAD_KWARGS if key in load_kwargs}
        try:
            config = transformers.AutoConfig.from_pretrained(name_or_path, **shared)
            encoder_decoder = bool(getattr(config, "is_encoder_decoder", False))
            seq2seq = encoder_decoder if kind == "auto" else kind == "seq2seq"
            auto: Any = (transformers.AutoModelForSeq2SeqLM if seq2seq
                         else transformers.AutoModelForCausalLM)
            model = auto.from_pretrained(name_or_path, dtype=dtype, **load_kwargs).to(device)
            tokenizer = transformers.AutoTokenizer.from_pretrained(name_or_path, **shared)
        except (OSError, ValueError) as exc:
            raise GeneratorError(f"could not load model {name_or_path!r}: {exc}") from exc
        return cls(model, tokenizer, kind=kind, template=template, decoding=decoding)

    # ---- prompts ----------------------------------------------------------------------------
    def prompt(self, state: ProofState) -> str:
        """The model input for ``state``: the template applied to the state, cut to
        ``decoding.max_input_tokens`` from the hypotheses side (see
        :func:`~prover.generators.templates.truncate_goals`)."""
        return prompt_text(self.template, state.goals, self.tokenizer,
                           self.decoding.max_input_tokens)

    def count_tokens(self, text: str) -> int:
        """Tokens the model reads for ``text`` (special tokens included)."""
        return len(encode_prompt(self.tokenizer, text))

    # ---- decoding ---------------------------------------------------------------------------
    def _generation_config(self, k: int) -> Any:
        import transformers

        base = self.model.generation_config
        options: dict[str, Any] = {
            "max_new_tokens": self.decoding.max_new_tokens,
            "num_return_sequences": k,
            "eos_token_id": (base.eos_token_id if base.eos_token_id is not None
                             else self.tokenizer.eos_token_id),
            "pad_token_id": (base.pad_token_id if base.pad_token_id is not None
                             else self.tokenizer.pad_token_id),
            "bos_token_id": base.bos_token_id,
            "decoder_start_token_id": base.decoder_start_token_id,
        }
        if self.decoding.strategy == "beam":
            options.update(num_beams=k, do_sample=False,
                           length_penalty=self.decoding.length_penalty, early_stopping=False)
        else:
            options.update(num_beams=1, do_sample=True, temperature=self.decoding.temperature,
                           top_p=self.decoding.top_p, top_k=self.decoding.top_k or 0)
        # A fresh config: processors a checkpoint's generation_config.json may switch on
        # (no_repeat_ngram_size, min_length, ...) would change the log-probs we report.
        return transformers.GenerationConfig(**options)

    @staticmethod
    def _eos_ids(config: Any) -> list[int]:
        eos = config.eos_token_id
        if eos is None:
            return []
        return [int(eos)] if isinstance(eos, int) else [int(e) for e in eos]

    def hypotheses(self, states: Sequence[ProofState], k: int) -> list[list[Hypothesis]]:
        """Decode ``k`` sequences for each state in one batched ``generate`` call (blocking).

        Returns, per state, every decoded sequence with its token ids and summed log-prob,
        before duplicates and empty texts are removed.
        """
        if k < 1 or not states:
            return [[] for _ in states]
        import torch
        import transformers

        config = self._generation_config(k)
        eos_ids = self._eos_ids(config)
        device = next(self.model.parameters()).device
        # The lock also covers the tokenizer: a fast tokenizer used from two threads at once
        # can fail with "Already borrowed" (encode and decode alike).
        with self._lock, torch.inference_mode():
            prompts = [self.prompt(state) for state in states]
            batch = pad_batch(self.tokenizer, [encode_prompt(self.tokenizer, prompt)
                                               for prompt in prompts])
            batch = {name: tensor.to(device) for name, tensor in batch.items()}
            prompt_len = int(batch["input_ids"].shape[1])
            start = 1 if self.kind == "seq2seq" else prompt_len
            tracker = _LogProbTracker(start, k, eos_ids)
            processors: list[Any] = [tracker]
            penalty = self.decoding.repetition_penalty
            if penalty != 1.0:
                # as generate builds it: left padding is skipped, the prompt is penalized
                pads = None
                if self.kind == "causal":
                    pads = (batch["attention_mask"] != 0).int().argmax(dim=1)
                    pads = pads.repeat_interleave(k)  # generate expands rows before this
                processors.append(transformers.RepetitionPenaltyLogitsProcessor(
                    penalty, prompt_ignore_length=pads))
            sequences = self.model.generate(
                **batch, generation_config=config,
                logits_processor=transformers.LogitsProcessorList(processors))
            return self._collect(sequences[:, start:].tolist(), tracker, len(states), k)

    def _collect(self, generated: list[list[int]], tracker: _LogProbTracker, count: int,
                 k: int) -> list[list[Hypothesis]]:
        """Cut each generated row at its first end-of-sequence token, decode it, and look up its
        log-prob; row ``r`` belongs to state ``r // k``."""
        eos_set = set(tracker.eos_ids)
        results: list[list[Hypothesis]] = [[] for _ in range(count)]
        for row, tokens in enumerate(generated):
            item = row // k
            end = next((i for i, token in enumerate(tokens) if token in eos_set), None)
            body = tokens if end is None else tokens[:end]
            eos = None if end is None else tokens[end]
            try:
                logprob = tracker.total(item, body, eos)
            except KeyError as exc:
                raise GeneratorError(f"{self.name}: no log-prob recorded for a decoded "
                                     "sequence (unsupported decoding mode?)") from exc
            token_ids = tuple(body) if eos is None else (*body, eos)
            text = self.tokenizer.decode(body, skip_special_tokens=True)
            results[item].append(Hypothesis(text, token_ids, logprob, len(token_ids)))
        return results

    def generate(self, states: Sequence[ProofState], k: int) -> list[list[Candidate]]:
        """Up to ``k`` candidates per state, best first, decoded in one batch (blocking).

        Empty tactics are dropped and duplicates merged keeping the best; failures of the model
        raise :class:`GeneratorError`.
        """
        try:
            batches = self.hypotheses(states, k)
        except ProverError:
            raise
        except Exception as exc:
            raise GeneratorError(f"{self.name} failed on a batch of {len(states)} states: "
                                 f"{exc!r}") from exc
        return [rank_hypotheses(hyps, k, self.decoding.score) for hyps in batches]

    async def propose(self, state: ProofState, k: int) -> list[Candidate]:
        """Candidates for one state, decoded in a worker thread (unbatched; see
        :class:`~prover.generators.batching.MicroBatcher` for batching)."""
        return (await asyncio.to_thread(self.generate, [state], k))[0]

    def __repr__(self) -> str:
        return (f"HFTacticGenerator({self.name!r}, kind={self.kind!r}, "
                f"template={self.template.name!r}, decoding={self.decoding!r})")


__all__ = ["DEFAULT_TEMPLATES", "HFTacticGenerator", "Kind"]
