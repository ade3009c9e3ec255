"""A progress regressor with no neural network: ridge regression on hashed text features.

It predicts what :class:`~heuristics.progress.heuristic.ProgressHeuristic` asks of any
predictor (the steps a proof still needs after a tactic, from the state before it and the
tactic) from a bag of hashed tokens of the goal, the hypotheses and the tactic, plus a few
counts (goals, hypotheses, length). Trained by solving the ridge normal equations in one pass,
it costs seconds on the 78k steps of the Coq standard library on a CPU, which makes it the
baseline a learned encoder (``seg-prover progress train``) has to beat, and a usable heuristic
where no GPU is at hand. Targets are fitted as ``log(1 + steps)`` (step counts are heavy-tailed:
a few proofs of 100+ steps would pull a plain least-squares fit).
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from heuristics.progress.heuristic import ProgressQuery
from prover.errors import ConfigError, DataFormatError

_TOKEN = re.compile(r"[A-Za-z_][\w'.]*|\d+|[^\s\w]")


@dataclass(frozen=True)
class FeatureConfig:
    """``dims`` hashed feature slots; ``ridge`` the L2 penalty of the fit."""

    dims: int = 4096
    ridge: float = 30.0  # the best of 1, 5, 30, 100, 300 on the held-out Coq files

    def __post_init__(self) -> None:
        if isinstance(self.dims, bool) or not isinstance(self.dims, int) or self.dims < 16:
            raise ConfigError(f"FeatureConfig.dims must be an integer >= 16, got {self.dims!r}")
        if not (math.isfinite(self.ridge) and self.ridge > 0):
            raise ConfigError(f"FeatureConfig.ridge must be > 0, got {self.ridge!r}")


_COUNTS = 6  # goals, hypotheses, lengths of the state and the tactic, depth, its log


def _slot(text: str, dims: int) -> int:
    # crc32, not hash(): Python's string hash changes between processes.
    return _COUNTS + zlib.crc32(text.encode("utf-8")) % (dims - _COUNTS)


def featurize(state: str, tactic: str, dims: int, prefix: str = "") -> dict[int, float]:
    """The sparse feature vector of one query (slot -> value); ``prefix`` is the tactics
    before, one per line."""
    features: dict[int, float] = {}

    def add(token: str, weight: float = 1.0) -> None:
        slot = _slot(token, dims)
        features[slot] = features.get(slot, 0.0) + weight

    lines = state.splitlines()
    goals = [line for line in lines if line.lstrip().startswith("⊢")]
    hypotheses = [line for line in lines if ":" in line and not line.lstrip().startswith("⊢")]
    for line in goals:
        for token in _TOKEN.findall(line):
            add("g:" + token)
    for line in hypotheses:
        for token in _TOKEN.findall(line):
            add("h:" + token, 0.5)
    words = _TOKEN.findall(tactic)
    for token in words:
        add("t:" + token)
    if words:
        add("head:" + words[0], 2.0)
    for slot, value in list(features.items()):
        features[slot] = math.log1p(value)
    features[0] = float(max(1, len(goals)))
    features[1] = math.log1p(len(hypotheses))
    features[2] = math.log1p(len(state))
    features[3] = math.log1p(len(tactic))
    depth = len(prefix.splitlines())
    features[4] = math.log1p(depth)
    features[5] = min(depth, 50) / 10.0
    return features


def _matrix(queries: Sequence[ProgressQuery], dims: int) -> npt.NDArray[np.float64]:
    out = np.zeros((len(queries), dims))
    for row, (state, prefix, tactic) in enumerate(queries):
        for slot, value in featurize(state, tactic, dims, prefix).items():
            out[row, slot] = value
    return out


class FeatureProgressModel:
    """A :class:`~heuristics.progress.heuristic.ProgressPredictor`: ridge regression on
    :func:`featurize` (see the module docstring). Build with :meth:`fit` or :meth:`load`."""

    def __init__(self, weights: npt.NDArray[np.float64], bias: float,
                 config: FeatureConfig | None = None) -> None:
        self.config = config or FeatureConfig(dims=len(weights))
        if weights.shape != (self.config.dims,):
            raise ConfigError(f"weights of shape {weights.shape}, expected ({self.config.dims},)")
        self.weights = weights
        self.bias = bias

    @classmethod
    def fit(cls, queries: Sequence[ProgressQuery], steps_after: Sequence[float],
            config: FeatureConfig | None = None, *, chunk: int = 4096) -> FeatureProgressModel:
        """Fit ``log(1 + steps_after)`` by ridge regression (normal equations, in chunks)."""
        config = config or FeatureConfig()
        if not queries or len(queries) != len(steps_after):
            raise ConfigError(f"fit needs as many targets as queries (>= 1), got "
                              f"{len(queries)} queries and {len(steps_after)} targets")
        targets = np.log1p(np.asarray(steps_after, dtype=float))
        bias = float(targets.mean())
        gram = np.zeros((config.dims, config.dims))
        moment = np.zeros(config.dims)
        for start in range(0, len(queries), chunk):
            x = _matrix(queries[start:start + chunk], config.dims)
            gram += x.T @ x
            moment += x.T @ (targets[start:start + chunk] - bias)
        gram[np.diag_indices_from(gram)] += config.ridge
        weights: npt.NDArray[np.float64] = np.asarray(np.linalg.solve(gram, moment), dtype=float)
        return cls(weights, bias, config)

    def predict(self, queries: Sequence[ProgressQuery]) -> list[float]:
        if not queries:
            return []
        raw = _matrix(queries, self.config.dims) @ self.weights + self.bias
        return [float(v) for v in np.maximum(np.expm1(raw), 0.0)]

    def save(self, path: str | Path) -> None:
        np.savez(path, weights=self.weights, bias=np.array([self.bias]),
                 ridge=np.array([self.config.ridge]))

    @classmethod
    def load(cls, path: str | Path) -> FeatureProgressModel:
        try:
            data = np.load(path)
            weights = np.asarray(data["weights"], dtype=float)
            bias, ridge = float(data["bias"][0]), float(data["ridge"][0])
        except (OSError, KeyError, ValueError) as exc:
            raise DataFormatError(f"not a FeatureProgressModel file: {exc}", path=path) from exc
        return cls(weights, bias, FeatureConfig(dims=len(weights), ridge=ridge))

    def __repr__(self) -> str:
        return f"FeatureProgressModel(dims={self.config.dims}, ridge={self.config.ridge})"


__all__ = ["FeatureConfig", "FeatureProgressModel", "featurize"]
