"""Loading a trained progress regressor and predicting remaining steps in batches.

``LEANPROGRESS_MODEL`` (the variable LeanDojo-v2 uses for the same checkpoints) is read here,
in :func:`model_path_from_env`, and nowhere else.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from heuristics.progress.heuristic import ProgressQuery
from heuristics.progress.template import (
    clamp_max_length,
    ensure_pad_token,
    format_progress_input,
)
from prover.errors import ConfigError

log = logging.getLogger(__name__)

MODEL_ENV_VAR = "LEANPROGRESS_MODEL"
"""Environment variable naming the checkpoint directory when no path is given."""


def model_path_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The checkpoint named by ``LEANPROGRESS_MODEL`` (``None`` when unset or empty)."""
    value = (os.environ if environ is None else environ).get(MODEL_ENV_VAR, "").strip()
    return value or None


def resolve_device(device: str) -> str:
    """``"auto"`` becomes ``"cuda"`` when a GPU is visible, else ``"cpu"``; others pass."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class ProgressScorer:
    """A trained regressor that predicts the steps left after a tactic (clamped at 0).

    ``model_path`` is a directory written by :class:`~heuristics.progress.ProgressTrainer` or by
    LeanDojo-v2's (model + tokenizer); ``None`` reads ``LEANPROGRESS_MODEL``. ``predict``
    tokenises with the training template, cuts inputs longer than ``max_length`` on the
    tokenizer's truncation side as training did (:mod:`heuristics.progress.template`),
    runs the model on up to ``batch_size`` inputs per forward pass and keeps
    the last ``cache_size`` answers (LRU), so a state re-reached by another path costs nothing.
    It is thread-safe: :class:`ProgressHeuristic` calls it from worker threads.
    ``model_calls`` counts forward passes.
    """

    def __init__(self, model_path: str | Path | None = None, *, device: str = "auto",
                 batch_size: int = 32, max_length: int = 512, cache_size: int = 4096) -> None:
        for name, value, low in (("batch_size", batch_size, 1), ("max_length", max_length, 1),
                                 ("cache_size", cache_size, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"ProgressScorer.{name} must be an integer >= {low}, "
                                  f"got {value!r}")
        from_env = model_path is None
        if model_path is None:
            model_path = model_path_from_env()
            if model_path is None:
                raise ConfigError(f"no progress model: pass model_path or set {MODEL_ENV_VAR} to "
                                  f"a checkpoint directory written by ProgressTrainer")
        self.model_path = str(model_path)
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.cache_size = cache_size
        self.tokenizer, self.model = _load(self.model_path, self.device, from_env)
        self.max_length = clamp_max_length(max_length, self.model.config)
        self.model_calls = 0
        self._cache: OrderedDict[ProgressQuery, float] = OrderedDict()
        self._lock = threading.Lock()

    def predict(self, queries: Sequence[ProgressQuery]) -> list[float]:
        """Predicted steps remaining (>= 0) for each ``(goal, prefix, tactic)``, in order."""
        queries = [tuple(q) for q in queries]  # type: ignore[misc]
        results: dict[ProgressQuery, float] = {}
        with self._lock:
            for query in queries:
                if query in self._cache:
                    self._cache.move_to_end(query)
                    results[query] = self._cache[query]
        missing = list(dict.fromkeys(q for q in queries if q not in results))
        for start in range(0, len(missing), self.batch_size):
            chunk = missing[start:start + self.batch_size]
            for query, value in zip(chunk, self._forward(chunk)):
                results[query] = value
        if missing and self.cache_size:
            with self._lock:
                for query in missing:
                    self._cache[query] = results[query]
                    self._cache.move_to_end(query)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return [results[query] for query in queries]

    def predict_one(self, goal: str, prefix: str, tactic: str) -> float:
        """:meth:`predict` for a single query."""
        return self.predict([(goal, prefix, tactic)])[0]

    def _forward(self, chunk: Sequence[ProgressQuery]) -> list[float]:
        import torch

        texts = [format_progress_input(*query) for query in chunk]
        batch = self.tokenizer(texts, padding=True, truncation=True,
                               max_length=self.max_length, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            logits = self.model(**batch).logits
        with self._lock:
            self.model_calls += 1
        return [max(0.0, float(v)) for v in logits.reshape(-1).float().cpu().tolist()]

    def cache_info(self) -> dict[str, int]:
        """Entries held and the capacity of the LRU cache."""
        with self._lock:
            return {"entries": len(self._cache), "capacity": self.cache_size}

    def __repr__(self) -> str:
        return f"ProgressScorer({self.model_path!r}, device={self.device!r})"


def _load(path: str, device: str, from_env: bool) -> tuple[Any, Any]:
    from prover.extras import require

    require("transformers", extra="hf")
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    origin = f" (from {MODEL_ENV_VAR})" if from_env else ""
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSequenceClassification.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load a progress model from {path!r}{origin}: {exc}") from exc
    if model.config.num_labels != 1:
        raise ConfigError(f"{path!r}{origin} is not a progress regressor: it has "
                          f"{model.config.num_labels} labels, expected 1")
    # a decoder-only checkpoint saved by LeanDojo-v2 has a pad token but no pad_token_id
    ensure_pad_token(tokenizer, model, source=path + origin)
    model.to(device)
    model.eval()
    log.info("loaded progress model %s on %s", path, device)
    return tokenizer, model


__all__ = ["MODEL_ENV_VAR", "ProgressScorer", "model_path_from_env", "resolve_device"]
