"""Checks on an ``hf:`` target before any model library loads: a missing local directory, and
a hub model that cannot be downloaded (offline mode, or no network), fail at once with a message
that says which it is, instead of a long retry loop or a hub-id naming rule."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

from prover.errors import ConfigError

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
"""Environment variables that put huggingface_hub / transformers in offline mode."""

REACH_TIMEOUT_S = 3.0
"""How long to wait for the hub's address and a TCP connection before calling it unreachable."""


def looks_local(target: str) -> bool:
    """True when ``target`` is written as a path (``./x``, ``../x``, ``/x``, ``~/x``, ``x/``, or
    more than one ``/``), which a hub id (``name`` or ``org/name``) never is."""
    return (target.startswith((".", "/", "~")) or target.endswith(("/", os.sep))
            or target.count("/") > 1 or (os.sep != "/" and os.sep in target))


def offline_mode() -> str | None:
    """The variable that sets offline mode, or None."""
    for name in OFFLINE_VARIABLES:
        if os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on"):
            return name
    return None


def in_cache(repo_id: str, revision: str | None = None) -> bool:
    """True when the hub model's ``config.json`` is in the local huggingface cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        found = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    except Exception:  # a malformed id: let the loader say so
        return False
    return isinstance(found, str)


def hub_reachable(timeout_s: float = REACH_TIMEOUT_S) -> bool:
    """True when the hub (``HF_ENDPOINT``, default huggingface.co) accepts a TCP connection
    within ``timeout_s``; name resolution is bounded too (it runs in a thread)."""
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    outcome: list[bool] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
            outcome.append(True)
        except OSError:
            outcome.append(False)

    worker = threading.Thread(target=connect, daemon=True)
    worker.start()
    worker.join(timeout_s)
    return bool(outcome and outcome[0])


def check_hf_target(target: str, *, revision: str | None = None) -> None:
    """A ConfigError when ``target`` cannot be loaded for a reason known before loading."""
    path = Path(target).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"hf:{target}: {path} is a file; give the checkpoint's directory")
        return
    if looks_local(target):
        raise ConfigError(f"hf:{target}: directory {target} does not exist (a local checkpoint "
                          f"path; a hub model is named like org/name)")
    if in_cache(target, revision):
        return
    variable = offline_mode()
    if variable is not None:
        raise ConfigError(f"hf:{target}: {variable} is set (offline) and {target!r} is not in "
                          f"the local Hugging Face cache; download it once with network "
                          f"access, or give a local checkpoint directory")
    if not hub_reachable():
        raise ConfigError(f"hf:{target}: {target!r} is not in the local Hugging Face cache and "
                          f"the hub cannot be reached (no network?); download it where there "
                          f"is network, or give a local checkpoint directory")


__all__ = ["OFFLINE_VARIABLES", "REACH_TIMEOUT_S", "check_hf_target", "hub_reachable",
           "in_cache", "looks_local", "offline_mode"]
