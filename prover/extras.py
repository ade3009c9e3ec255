"""Optional dependencies: importing one that is missing says which extra installs it.

The core installs with networkx, tqdm and numpy; the rest comes with an extra of
``pip install 'seg-prover[EXTRA]'``: ``hf`` (torch, transformers, datasets, accelerate),
``lean`` (lean-dojo, lean-interact), ``ray``, ``plots`` (matplotlib), or ``all``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from prover.errors import ConfigError

EXTRAS: dict[str, str] = {
    "torch": "hf", "transformers": "hf", "datasets": "hf", "accelerate": "hf",
    "lean_dojo": "lean", "lean_interact": "lean", "ray": "ray", "matplotlib": "plots",
}
"""The extra that brings each optional top-level module (see ``pyproject.toml``)."""


class MissingExtraError(ConfigError, ImportError):
    """An optional dependency is not installed; the message names the extra to install.

    It is an ImportError too, so code that already falls back on ImportError keeps working."""


def require(module: str, *, extra: str | None = None) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtraError` naming the pip extra
    (``extra``, else the one :data:`EXTRAS` lists for its top-level package)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.partition(".")[0]
        if exc.name is not None and exc.name.partition(".")[0] != top:
            raise  # the module is there but one of its own imports failed: show that
        wanted = extra or EXTRAS.get(top, "all")
        raise MissingExtraError(
            f"{module} is not installed; it comes with the '{wanted}' extra: "
            f"pip install 'seg-prover[{wanted}]' (or seg-prover[all])") from exc


__all__ = ["EXTRAS", "MissingExtraError", "require"]
