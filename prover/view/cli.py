"""``seg-prover view RUN_DIR``: the HTML view of a ``bench`` run, and ``search --html``'s page."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prover.config import SearchResult
from prover.view.html import VIEW_DIR, write_page, write_run_view
from prover.view.tree_json import doc_from_tree, tree_filename


def write_result_pages(results: Sequence[SearchResult], path: str | Path) -> list[Path]:
    """``search --html FILE``: the page of each search's tree; one result goes to ``FILE``,
    several to ``FILE``'s stem plus each theorem's safe name (``out-<theorem>.html``)."""
    target = Path(path)
    written = []
    for result in results:
        if result.tree is None:
            continue
        page = target if len(results) == 1 else target.with_name(
            f"{target.stem}-{tree_filename(result.theorem, 0)[: -len('.0.json')]}"
            f"{target.suffix or '.html'}")
        written.append(write_page(doc_from_tree(result.tree, result), page))
    return written


def _cmd_view(args: argparse.Namespace) -> int:
    index = write_run_view(args.run_dir, args.out)
    print(f"wrote {index} (open it in a browser; it needs no network)")
    return 0


def register(sub: Any) -> None:
    """Add ``view`` to the ``seg-prover`` subcommands."""
    view = sub.add_parser("view", help="write a self-contained HTML view of a bench run's "
                          "search trees (an index page and one page per theorem)")
    view.add_argument("run_dir", metavar="RUN_DIR", help="a 'seg-prover bench' run directory")
    view.add_argument("--out", default=None,
                      help=f"directory for the pages (default: RUN_DIR/{VIEW_DIR})")
    view.set_defaults(func=_cmd_view)


__all__ = ["register", "write_result_pages"]
