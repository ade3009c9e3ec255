"""Training the progress regressor (LeanDojo-v2's ``ProgressTrainer``, with best = lowest MSE).

Checked against lean-dojo/LeanDojo-v2 ``lean_dojo_v2/trainer/progress_trainer.py`` (release
v1.0.9, commit 936ea0d): same defaults, template, stripping, pad-token fallback (we also set
the model's ``pad_token_id``, which it leaves unset), truncation side and
``weight_decay=0.01``. Where we differ, on purpose: LeanDojo-v2 sets
``metric_for_best_model="mse"`` without ``greater_is_better=False``, so its "best" checkpoint is
the one with the *highest* eval MSE; here the lowest wins. It pads every input to
``max_length``; here each batch is padded to its longest input (the same predictions, as the
attention mask hides padding). It logs every 50 steps; here once per epoch.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heuristics.progress.dataset import ProgressDataset
from heuristics.progress.scorer import MODEL_ENV_VAR
from heuristics.progress.template import clamp_max_length, ensure_pad_token
from prover.errors import ConfigError

log = logging.getLogger(__name__)

CHECKPOINTS_DIR = "checkpoints"
"""Sub-directory of ``output_dir`` for the per-epoch checkpoints (the best and the latest are
kept, for resuming); the best model itself is saved in ``output_dir``."""

WEIGHT_DECAY = 0.01
"""AdamW weight decay, LeanDojo-v2's ``TrainingArguments(weight_decay=0.01)``."""


@dataclass(frozen=True)
class ProgressTrainer:
    """Fine-tunes an encoder to predict ``steps_remaining`` (regression, MSE loss).

    The defaults are LeanDojo-v2's (bert-base-uncased, ``outputs``, 512 tokens, batch 8,
    3 epochs, lr 1e-5, 20% eval, seed 42), and so is the weight decay of 0.01.
    ``model_name`` may be an encoder or a decoder-only model: a tokenizer without a pad token
    gets one (:func:`~heuristics.progress.template.ensure_pad_token`). Inputs longer than
    ``max_length`` are cut on the tokenizer's truncation side, as in LeanDojo-v2 (see
    :mod:`heuristics.progress.template`). ``epochs`` may be fractional; ``eval_ratio`` must
    leave at least one example on each side of the split. No reporting integration is used.
    """

    data_path: str | Path
    model_name: str = "bert-base-uncased"
    output_dir: str | Path = "outputs"
    max_length: int = 512
    batch_size: int = 8
    epochs: float = 3.0
    learning_rate: float = 1e-5
    eval_ratio: float = 0.2
    seed: int = 42

    def __post_init__(self) -> None:
        for name in ("max_length", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"ProgressTrainer.{name} must be an integer >= 1, "
                                  f"got {value!r}")
        for name in ("epochs", "learning_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"ProgressTrainer.{name} must be a number > 0, got {value!r}")
        ratio = self.eval_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) \
                or not 0 < ratio < 1:
            raise ConfigError(f"ProgressTrainer.eval_ratio must be in (0, 1): the best "
                              f"checkpoint is chosen on the eval split; got {ratio!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"ProgressTrainer.seed must be an integer, got {self.seed!r}")

    def train(self, *, progress: bool = True) -> dict[str, float]:
        """Train, keep the checkpoint with the lowest eval MSE, save it with its tokenizer to
        ``output_dir``, print where, and return its eval metrics (``eval_mse``, ``eval_mae``,
        ``eval_loss``) with ``train_loss``, ``epoch`` and the split sizes. ``progress``: the
        ``transformers`` bar, drawn only when stderr is a terminal."""
        import numpy as np

        from prover.cli import progress_wanted
        from prover.extras import require

        torch = require("torch", extra="hf")
        require("transformers", extra="hf")
        from transformers import (
            AutoModelForSequenceClassification,
            AutoTokenizer,
            Trainer,
            TrainingArguments,
            set_seed,
        )

        data = ProgressDataset.from_jsonl(self.data_path)
        n_eval, n_train = split_sizes(len(data), self.eval_ratio)
        parts = data.to_hf().train_test_split(test_size=self.eval_ratio, seed=self.seed)
        set_seed(self.seed)
        tokenizer = AutoTokenizer.from_pretrained(self.model_name)
        model = AutoModelForSequenceClassification.from_pretrained(
            self.model_name, num_labels=1, problem_type="regression")
        ensure_pad_token(tokenizer, model, source=self.model_name)
        max_length = clamp_max_length(self.max_length, model.config)

        def tokenize(batch: dict[str, list[Any]]) -> Any:
            return tokenizer(batch["text"], truncation=True, max_length=max_length)

        train_set = parts["train"].map(tokenize, batched=True, remove_columns=["text"])
        eval_set = parts["test"].map(tokenize, batched=True, remove_columns=["text"])
        output_dir = Path(self.output_dir).resolve()
        args = TrainingArguments(
            output_dir=str(output_dir / CHECKPOINTS_DIR),
            num_train_epochs=float(self.epochs),
            per_device_train_batch_size=self.batch_size,
            per_device_eval_batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            weight_decay=WEIGHT_DECAY,
            seed=self.seed,
            data_seed=self.seed,
            eval_strategy="epoch",
            save_strategy="epoch",
            logging_strategy="epoch",
            load_best_model_at_end=True,
            metric_for_best_model="mse",
            greater_is_better=False,
            save_total_limit=1,
            report_to="none",
            disable_tqdm=not progress_wanted(progress),
            # pinning only helps host-to-GPU copies; on CPU torch warns that it is unused
            dataloader_pin_memory=torch.cuda.is_available(),
        )
        trainer = Trainer(model=model, args=args, train_dataset=train_set,
                          eval_dataset=eval_set, processing_class=tokenizer,
                          compute_metrics=regression_metrics,
                          callbacks=[_epoch_report()])
        log.info("training on %d examples, evaluating on %d (%d lines skipped)", n_train,
                 n_eval, data.skipped)
        train_output = trainer.train()
        trainer.save_model(str(output_dir))
        tokenizer.save_pretrained(str(output_dir))
        trainer.state.save_to_json(str(output_dir / "trainer_state.json"))
        final = trainer.evaluate()
        metrics: dict[str, float] = {k: float(v) for k, v in final.items()
                                     if isinstance(v, (int, float)) and np.isfinite(v)}
        metrics.update(train_loss=float(train_output.training_loss),
                       epoch=float(trainer.state.epoch or 0.0), train_examples=float(n_train),
                       eval_examples=float(n_eval), skipped_lines=float(data.skipped))
        print(f"Saved the best progress model (eval MSE {metrics.get('eval_mse', math.nan):.4f}, "
              f"MAE {metrics.get('eval_mae', math.nan):.4f}) to {output_dir}")
        print(f"To use it in search, set {MODEL_ENV_VAR}={output_dir}")
        return metrics


def split_sizes(n: int, eval_ratio: float) -> tuple[int, int]:
    """``(n_eval, n_train)`` as ``datasets.Dataset.train_test_split(test_size=eval_ratio)``
    computes them (eval rounded up, train the rest); an empty side raises ConfigError, before
    any model is loaded (datasets would raise a bare ValueError for an empty train side)."""
    n_eval = math.ceil(eval_ratio * n)
    n_train = n - n_eval
    if n_eval < 1 or n_train < 1:
        raise ConfigError(f"cannot split {n} example(s) with eval_ratio={eval_ratio}: both the "
                          f"train and the eval split need at least one example")
    return n_eval, n_train


def regression_metrics(eval_prediction: Any) -> dict[str, float]:
    """MSE and MAE of raw (unclamped) predictions against labels."""
    import numpy as np

    predictions = np.asarray(eval_prediction.predictions, dtype=np.float64).reshape(-1)
    labels = np.asarray(eval_prediction.label_ids, dtype=np.float64).reshape(-1)
    errors = predictions - labels
    return {"mse": float(np.mean(errors ** 2)), "mae": float(np.mean(np.abs(errors)))}


def _epoch_report() -> Any:
    """A callback that logs each epoch's eval MSE and MAE (transformers imported on use)."""
    from transformers import TrainerCallback

    class EpochReport(TrainerCallback):
        def on_evaluate(self, args: Any, state: Any, control: Any,
                        metrics: dict[str, float] | None = None, **kwargs: Any) -> None:
            if metrics and "eval_mse" in metrics:
                log.info("epoch %.2f: eval MSE %.4f, MAE %.4f", state.epoch or 0.0,
                         metrics["eval_mse"], metrics.get("eval_mae", math.nan))

    return EpochReport()


__all__ = ["CHECKPOINTS_DIR", "WEIGHT_DECAY", "ProgressTrainer", "regression_metrics",
           "split_sizes"]
