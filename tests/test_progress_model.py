"""The progress regressor with real (tiny) models: training, the best checkpoint, reloading,
the scorer's batching, cache and clamping, LEANPROGRESS_MODEL, the CLI entry points, what
LeanDojo-v2 does alike (truncation, weight decay) and decoder-only models (the pad token).

The model is a 2-layer BERT built from a config, with a WordPiece tokenizer made from a vocab
file written here (single characters and their ``##`` continuations), so nothing is
downloaded and a training run takes a second or two on CPU.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import string
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    BertModel,
    BertTokenizer,
)

from heuristics.progress import (
    ProgressDataset,
    ProgressHeuristic,
    ProgressScorer,
    ProgressTrainer,
    create_sample_dataset,
)
from heuristics.progress.scorer import MODEL_ENV_VAR, resolve_device
from heuristics.progress.template import ensure_pad_token, format_progress_input
from heuristics.progress.trainer import split_sizes
from prover import ConfigError, ProofState, SearchNode
from seg_prover.cli import main

EXTRA_CHARS = "⊢∧∨¬→↔∀∃⟨⟩ℕℤℝℚ≤≥≠⁻¹₁₂√πα"


def build_tokenizer(directory: Path) -> Any:
    chars = sorted(set(string.printable.strip()) | set(EXTRA_CHARS))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *("##" + c for c in chars)]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    # transformers 5 takes the file as ``vocab=`` (a ``vocab_file=`` keyword is ignored)
    tokenizer = BertTokenizer(vocab=str(directory / "vocab.txt"))
    assert tokenizer.tokenize("⊢ ab") == ["⊢", "a", "##b"]
    return tokenizer


def tiny_config(tokenizer: Any, **kwargs: Any) -> BertConfig:
    return BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                      num_attention_heads=2, intermediate_size=64, max_position_embeddings=256,
                      **kwargs)


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare tiny BERT encoder + tokenizer (what ProgressTrainer fine-tunes)."""
    directory = tmp_path_factory.mktemp("tiny-encoder")
    tokenizer = build_tokenizer(directory)
    torch.manual_seed(0)
    BertModel(tiny_config(tokenizer)).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def tiny_regressor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained 1-label regression checkpoint (what ProgressScorer loads)."""
    directory = tmp_path_factory.mktemp("tiny-regressor")
    tokenizer = build_tokenizer(directory)
    torch.manual_seed(0)
    model = BertForSequenceClassification(tiny_config(tokenizer, num_labels=1,
                                                      problem_type="regression"))
    with torch.no_grad():
        model.classifier.bias.fill_(5.0)  # predictions around 5 steps, none clamped
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "sample.jsonl"
    create_sample_dataset(path, n=40, seed=1)
    return path


def eval_mse_history(output_dir: Path) -> tuple[dict[str, Any], list[tuple[float, float]]]:
    state = json.loads((output_dir / "trainer_state.json").read_text(encoding="utf-8"))
    history = [(entry["epoch"], entry["eval_mse"]) for entry in state["log_history"]
               if "eval_mse" in entry]
    return state, history


# ---- ProgressTrainer ----------------------------------------------------------------------
def test_constructor_parameters_and_defaults_are_leandojo_v2s() -> None:
    parameters = inspect.signature(ProgressTrainer).parameters
    assert {name: p.default for name, p in parameters.items()} == {
        "data_path": inspect.Parameter.empty, "model_name": "bert-base-uncased",
        "output_dir": "outputs", "max_length": 512, "batch_size": 8, "epochs": 3.0,
        "learning_rate": 1e-5, "eval_ratio": 0.2, "seed": 42}


@pytest.mark.parametrize("kwargs", [{"eval_ratio": 0.0}, {"eval_ratio": 1.0},
                                    {"epochs": 0}, {"batch_size": 0}, {"max_length": 0},
                                    {"learning_rate": -1e-5}, {"seed": 1.5}])
def test_bad_trainer_configs_raise(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ProgressTrainer("data.jsonl", **kwargs)


@pytest.mark.parametrize(("n", "ratio"), [(2, 0.2), (3, 0.5), (5, 0.2), (10, 0.3), (7, 0.8)])
def test_split_sizes_match_datasets(n: int, ratio: float) -> None:
    import datasets

    parts = datasets.Dataset.from_dict({"x": list(range(n))}).train_test_split(
        test_size=ratio, seed=0)
    assert split_sizes(n, ratio) == (len(parts["test"]), len(parts["train"]))


def test_a_split_with_an_empty_side_raises_before_loading_a_model(tmp_path: Path) -> None:
    data = tmp_path / "one.jsonl"
    create_sample_dataset(data, n=1)
    with pytest.raises(ConfigError, match="cannot split 1 example"):
        ProgressTrainer(data, model_name=str(tmp_path / "no-such-model")).train()
    with pytest.raises(ConfigError):
        split_sizes(10, 0.95)  # ceil(9.5) = 10 for eval, none left to train on


def test_fractional_epoch_trains_saves_and_reloads_as_a_regressor(
        tiny_encoder: Path, sample: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    metrics = ProgressTrainer(sample, model_name=str(tiny_encoder), output_dir=out,
                              max_length=128, epochs=0.5, learning_rate=1e-3).train()
    _, history = eval_mse_history(out)
    assert [epoch for epoch, _ in history] == [0.5]  # evaluated at the end of the half epoch
    assert metrics["eval_mse"] == pytest.approx(history[0][1])
    assert metrics["eval_mae"] <= math.sqrt(metrics["eval_mse"]) + 1e-9
    assert (metrics["train_examples"], metrics["eval_examples"]) == (32, 8)
    printed = capsys.readouterr().out
    assert str(out.resolve()) in printed and f"{MODEL_ENV_VAR}={out.resolve()}" in printed

    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert model.config.num_labels == 1 and model.config.problem_type == "regression"
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.tokenize("⊢ a") == ["⊢", "a"]


def test_two_epochs_keep_the_checkpoint_with_the_lowest_eval_mse(
        tiny_encoder: Path, sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    # a large learning rate makes the eval MSE move a lot between epochs
    metrics = ProgressTrainer(sample, model_name=str(tiny_encoder), output_dir=out,
                              max_length=128, epochs=2, learning_rate=0.1).train()
    state, history = eval_mse_history(out)
    assert [epoch for epoch, _ in history] == [1.0, 2.0]
    mses = [mse for _, mse in history]
    assert min(mses) < max(mses)  # otherwise "highest" and "lowest" cannot be told apart
    best_epoch = mses.index(min(mses)) + 1
    assert state["best_metric"] == pytest.approx(min(mses))
    steps_per_epoch = state["global_step"] // 2
    assert state["best_model_checkpoint"].endswith(f"checkpoint-{best_epoch * steps_per_epoch}")
    assert metrics["eval_mse"] == pytest.approx(min(mses))

    # the model saved in output_dir is that checkpoint: recompute its MSE on the eval split
    parts = ProgressDataset.from_jsonl(sample).to_hf().train_test_split(test_size=0.2, seed=42)
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    batch = tokenizer(list(parts["test"]["text"]), padding=True, truncation=True, max_length=128,
                      return_tensors="pt")
    with torch.no_grad():
        predicted = model(**batch).logits.reshape(-1)
    labels = torch.tensor(list(parts["test"]["label"]))
    assert float(((predicted - labels) ** 2).mean()) == pytest.approx(min(mses), rel=1e-4)


def test_module_entry_point_and_seg_prover_progress_train(
        tiny_encoder: Path, sample: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "heuristics.progress.train", "--help"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for flag in ("--data-path", "--model-name", "--output-dir", "--max-length", "--batch-size",
                 "--epochs", "--learning-rate", "--eval-ratio", "--seed"):
        assert flag in proc.stdout
    out = tmp_path / "cli-out"
    code = main(["progress", "train", "--data-path", str(sample), "--model-name",
                 str(tiny_encoder), "--output-dir", str(out), "--epochs", "0.25",
                 "--max-length", "64", "--batch-size", "16"])
    assert code == 0
    printed = capsys.readouterr().out
    assert '"eval_mse"' in printed and f"{MODEL_ENV_VAR}=" in printed
    assert (out / "config.json").is_file()
    assert main(["progress", "train", "--data-path", str(sample), "--eval-ratio", "1.5"]) == 2


# ---- ProgressScorer -----------------------------------------------------------------------
def count_forward_passes(scorer: ProgressScorer) -> list[int]:
    calls: list[int] = []
    scorer.model.register_forward_hook(lambda *args: calls.append(1))
    return calls


QUERIES = [(f"x : ℕ\n⊢ x + {i} = {i} + x", "intro x" if i % 2 else "", f"omega{'!' * i}")
           for i in range(5)]


def test_scorer_batches_caches_and_matches_one_at_a_time(tiny_regressor: Path) -> None:
    scorer = ProgressScorer(tiny_regressor, batch_size=32, device="cpu")
    calls = count_forward_passes(scorer)
    batched = scorer.predict(QUERIES)
    assert len(calls) == 1 and scorer.model_calls == 1
    assert all(v > 0 for v in batched) and len(set(batched)) > 1
    assert scorer.predict(list(reversed(QUERIES))) == list(reversed(batched))
    assert len(calls) == 1  # all cached
    fresh = ProgressScorer(tiny_regressor, device="cpu", cache_size=0)
    singles = [fresh.predict_one(*query) for query in QUERIES]
    assert singles == pytest.approx(batched, abs=1e-4)  # padding does not change answers

    small = ProgressScorer(tiny_regressor, batch_size=2, device="cpu")
    calls = count_forward_passes(small)
    assert small.predict([*QUERIES, QUERIES[0]]) == pytest.approx([*batched, batched[0]],
                                                                   abs=1e-4)
    assert len(calls) == 3  # 5 distinct queries in batches of 2; the repeat is not recomputed


def test_scorer_lru_cache_evicts_the_least_recently_used(tiny_regressor: Path) -> None:
    scorer = ProgressScorer(tiny_regressor, cache_size=2, device="cpu")
    calls = count_forward_passes(scorer)
    a, b, c = QUERIES[:3]
    scorer.predict([a])
    scorer.predict([b])
    scorer.predict([a])  # a is now the most recent
    scorer.predict([c])  # evicts b
    assert len(calls) == 3 and scorer.cache_info() == {"entries": 2, "capacity": 2}
    scorer.predict([a, c])
    assert len(calls) == 3
    scorer.predict([b])
    assert len(calls) == 4


def test_scorer_clamps_negative_predictions_at_zero(tmp_path: Path,
                                                    tiny_regressor: Path) -> None:
    model = AutoModelForSequenceClassification.from_pretrained(tiny_regressor)
    with torch.no_grad():
        model.classifier.bias.fill_(-100.0)
    model.save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(tiny_regressor).save_pretrained(tmp_path)
    assert ProgressScorer(tmp_path, device="cpu").predict(QUERIES) == [0.0] * len(QUERIES)


def test_scorer_loads_from_leanprogress_model(tiny_regressor: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.setenv(MODEL_ENV_VAR, str(tiny_regressor))
    scorer = ProgressScorer(device="cpu")
    assert scorer.model_path == str(tiny_regressor)
    assert scorer.predict(QUERIES[:1]) == pytest.approx(
        ProgressScorer(tiny_regressor, device="cpu").predict(QUERIES[:1]))
    monkeypatch.setenv(MODEL_ENV_VAR, str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=f"from {MODEL_ENV_VAR}"):
        ProgressScorer(device="cpu")
    monkeypatch.delenv(MODEL_ENV_VAR)
    with pytest.raises(ConfigError, match=MODEL_ENV_VAR):
        ProgressScorer()


def test_scorer_refuses_a_classifier_and_resolves_the_device(tmp_path: Path,
                                                             tiny_regressor: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_regressor)
    BertForSequenceClassification(tiny_config(tokenizer, num_labels=3)).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="3 labels"):
        ProgressScorer(tmp_path, device="cpu")
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert ProgressScorer(tiny_regressor).device == resolve_device("auto")


async def test_heuristic_makes_one_model_call_per_expansion(tiny_regressor: Path) -> None:
    scorer = ProgressScorer(tiny_regressor, device="cpu")
    calls = count_forward_passes(scorer)
    root = SearchNode(ProofState(("x : ℕ\n⊢ x = x",)))
    children = [SearchNode(ProofState((f"⊢ goal {i}",)), 1, -0.1 * i, (f"tac{i}",), root,
                           -0.1 * i) for i in range(6)]
    heuristic = ProgressHeuristic(scorer, weight=1.0)
    scores = await heuristic.score(children)
    assert len(calls) == 1
    expected = scorer.predict([(root.state.pp, "", f"tac{i}") for i in range(6)])
    assert scores == pytest.approx([-0.1 * i - s for i, s in enumerate(expected)])
    await asyncio.gather(heuristic.score(children[:3]), heuristic.score(children[3:]))
    assert len(calls) == 1  # cached


def test_long_inputs_are_cut_where_leandojo_v2_cuts_them(tiny_regressor: Path) -> None:
    # LDv2 never sets truncation_side: the tokenizer's own (right, for BERT) cuts the input
    scorer = ProgressScorer(tiny_regressor, device="cpu", max_length=32)
    inputs: list[list[int]] = []
    scorer.model.register_forward_pre_hook(
        lambda _module, _args, kwargs: inputs.extend(kwargs["input_ids"].tolist()),
        with_kwargs=True)
    goal = "\n".join(f"h{i} : x + {i} ≤ y" for i in range(40)) + "\n⊢ x ≤ y"
    queries = [(goal, "", "exact h1"), (goal, "", "simp at h2")]
    near, far = scorer.predict(queries)
    ldv2_tokenizer = AutoTokenizer.from_pretrained(tiny_regressor)
    assert ldv2_tokenizer.truncation_side == "right"
    expected = ldv2_tokenizer([format_progress_input(*q) for q in queries], truncation=True,
                              max_length=32)["input_ids"]
    assert inputs == expected
    assert ldv2_tokenizer.decode(inputs[0][1:6]) == "goal :"  # the start is kept
    assert near == far  # both end inside the hypotheses: the documented cost of matching LDv2


def test_training_reads_and_optimises_as_leandojo_v2(
        tiny_encoder: Path, sample: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    seen: list[Any] = []

    class RecordingTrainer(transformers.Trainer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            seen.append(self)

    monkeypatch.setattr(transformers, "Trainer", RecordingTrainer)
    ProgressTrainer(sample, model_name=str(tiny_encoder), output_dir=tmp_path / "out",
                    max_length=16, epochs=0.25).train()
    (trainer,) = seen
    assert trainer.args.weight_decay == 0.01  # LDv2's TrainingArguments(weight_decay=0.01)
    parts = ProgressDataset(sample).to_hf().train_test_split(test_size=0.2, seed=42)
    expected = AutoTokenizer.from_pretrained(tiny_encoder)(
        list(parts["train"]["text"]), truncation=True, max_length=16)["input_ids"]
    assert all(len(ids) == 16 for ids in expected)  # every input was cut
    assert list(trainer.train_dataset["input_ids"]) == expected


# ---- decoder-only models: the pad-token fallback --------------------------------------------
def save_decoder_only(directory: Path, arch: str, *, regressor: bool = False) -> Any:
    """A tiny GPT-2 or Llama whose tokenizer has no pad token and whose config no pad id."""
    from tiny_models import bpe_tokenizer
    from transformers import (
        GPT2Config,
        GPT2ForSequenceClassification,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
        LlamaForSequenceClassification,
    )

    tokenizer = bpe_tokenizer()
    tokenizer.pad_token = None
    head: dict[str, Any] = {"num_labels": 1, "problem_type": "regression"} if regressor else {}
    torch.manual_seed(0)
    if arch == "gpt2":
        config: Any = GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4,
                                 n_positions=256, bos_token_id=1, eos_token_id=1, **head)
        model: Any = (GPT2ForSequenceClassification if regressor else GPT2LMHeadModel)(config)
    else:
        config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                             num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                             max_position_embeddings=256, bos_token_id=1, eos_token_id=1,
                             **head)
        model = (LlamaForSequenceClassification if regressor else LlamaForCausalLM)(config)
    assert model.config.pad_token_id is None
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    assert AutoTokenizer.from_pretrained(directory).pad_token is None
    return tokenizer


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_a_decoder_only_model_trains_and_scores(arch: str, sample: Path, tmp_path: Path) -> None:
    base = tmp_path / "base"
    tokenizer = save_decoder_only(base, arch)
    out = tmp_path / "out"
    metrics = ProgressTrainer(sample, model_name=str(base), output_dir=out, max_length=64,
                              batch_size=4, epochs=0.25, learning_rate=1e-3).train()
    assert math.isfinite(metrics["eval_mse"])
    saved = AutoTokenizer.from_pretrained(out)
    assert saved.pad_token == tokenizer.eos_token  # pad = eos, as LDv2 sets it
    assert AutoModelForSequenceClassification.from_pretrained(out).config.pad_token_id == \
        saved.pad_token_id
    scorer = ProgressScorer(out, device="cpu", cache_size=0)
    batched = scorer.predict(QUERIES)
    singles = [scorer.predict_one(*query) for query in QUERIES]
    assert batched == pytest.approx(singles, abs=1e-4)  # padding does not change answers


def test_scorer_pads_a_decoder_only_checkpoint_without_a_pad_id(tmp_path: Path) -> None:
    save_decoder_only(tmp_path, "gpt2", regressor=True)
    scorer = ProgressScorer(tmp_path, device="cpu", cache_size=0)
    assert scorer.tokenizer.pad_token == "<eos>" and scorer.model.config.pad_token_id == 1
    batched = scorer.predict(QUERIES)
    assert batched == pytest.approx([scorer.predict_one(*query) for query in QUERIES],
                                    abs=1e-4)


def test_a_tokenizer_with_nothing_to_pad_with_is_refused() -> None:
    from types import SimpleNamespace

    tokenizer = SimpleNamespace(pad_token=None, eos_token=None, cls_token=None)
    model = SimpleNamespace(config=SimpleNamespace(pad_token_id=None))
    with pytest.raises(ConfigError, match="'m' has no pad, eos or cls token"):
        ensure_pad_token(tokenizer, model, source="m")
