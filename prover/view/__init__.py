"""The search-tree viewer: trees as compact JSON (:mod:`prover.view.tree_json`) and
self-contained HTML pages of them (:mod:`prover.view.html`)."""

from prover.view.html import render_page, write_page, write_run_view
from prover.view.tree_json import TreeDoc, doc_from_tree, read_tree, write_tree

__all__ = ["TreeDoc", "doc_from_tree", "read_tree", "render_page", "write_page",
           "write_run_view", "write_tree"]
