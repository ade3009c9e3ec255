"""A generator that proposes a fixed tactic list: for baselines and tests."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from prover.errors import DataFormatError
from prover.generators.base import merge_candidates
from prover.types import Candidate, ProofState

TacticList = Sequence[tuple[str, float]] | Sequence[str]


def _as_candidates(tactics: TacticList) -> list[Candidate]:
    out: list[Candidate] = []
    for item in tactics:
        if isinstance(item, str):
            out.append(Candidate(item, 0.0))
        else:
            tactic, logprob = item
            out.append(Candidate(str(tactic), float(logprob)))
    return out


class FixedTacticGenerator:
    """Proposes the same tactics everywhere, or per state.

    ``tactics`` is a list of ``(tactic, logprob)`` pairs (or plain strings, logprob 0), or a
    mapping from :attr:`ProofState.key` to such a list; a state absent from the mapping gets
    ``default`` (empty unless given). Candidates are merged and sorted by logprob, best first.
    """

    def __init__(self, tactics: TacticList | Mapping[str, TacticList],
                 default: TacticList = ()) -> None:
        self._by_state: dict[str, list[Candidate]] | None = None
        if isinstance(tactics, Mapping):
            self._by_state = {key: merge_candidates(_as_candidates(v))
                              for key, v in tactics.items()}
            self._default = merge_candidates(_as_candidates(default))
        else:
            self._default = merge_candidates(_as_candidates(tactics))
        self.calls = 0

    @classmethod
    def from_file(cls, path: str | Path) -> FixedTacticGenerator:
        """Read tactics from a file: one tactic per line (``#`` starts a comment), or a JSON list
        of strings / ``[tactic, logprob]`` pairs."""
        text = Path(path).read_text(encoding="utf-8")
        if text.lstrip().startswith("["):
            try:
                items = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DataFormatError(f"invalid JSON: {exc.msg}", path=path,
                                      line=exc.lineno) from exc
            tactics: list[tuple[str, float]] = []
            for index, item in enumerate(items):
                if isinstance(item, str):
                    tactics.append((item, 0.0))
                elif (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
                      and isinstance(item[1], (int, float))):
                    tactics.append((item[0], float(item[1])))
                else:
                    raise DataFormatError("expected a tactic string or [tactic, logprob]",
                                          path=path, field=f"[{index}]")
            return cls(tactics)
        lines = [line.strip() for line in text.splitlines()]
        return cls([line for line in lines if line and not line.startswith("#")])

    async def propose(self, state: ProofState, k: int) -> list[Candidate]:
        self.calls += 1
        pool = self._default
        if self._by_state is not None:
            pool = self._by_state.get(state.key, self._default)
        return pool[:k]


__all__ = ["FixedTacticGenerator"]
