"""The live view of a benchmark run: a tqdm bar with proved / done / total and the pass rate."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prover.cli import progress_wanted


class ProgressView:
    """Counts rows as they are written; shows them on a tqdm bar when ``enabled`` and stderr is
    a terminal (in a log file a bar is one frame per update, piling up).

    Counts are over searches (theorem attempts): the rate shown is the running pass@1.
    """

    def __init__(self, total: int, done_rows: Iterable[Mapping[str, Any]], *,
                 enabled: bool = True, description: str = "bench") -> None:
        self.total = total
        self.done = 0
        self.proved = 0
        self.errors = 0
        for row in done_rows:
            self._count(row)
        self._bar: Any = None
        if enabled and progress_wanted():
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=self.done, desc=description, unit="search",
                             dynamic_ncols=True, smoothing=0.1)
            self._bar.set_postfix_str(self.postfix(), refresh=True)

    def _count(self, row: Mapping[str, Any]) -> None:
        self.done += 1
        self.proved += row.get("status") == "proved"
        self.errors += row.get("status") == "error"

    def postfix(self) -> str:
        rate = f"{self.proved / self.done:.1%}" if self.done else "-"
        text = f"proved {self.proved} | done {self.done}/{self.total} | pass {rate}"
        return text + (f" | errors {self.errors}" if self.errors else "")

    def update(self, row: Mapping[str, Any]) -> None:
        self._count(row)
        if self._bar is not None:
            self._bar.set_postfix_str(self.postfix(), refresh=False)
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


__all__ = ["ProgressView"]
