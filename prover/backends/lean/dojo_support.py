"""LeanDojo's side of the LeanDojo backend: importing ``lean_dojo``, making its Dojos, reading
its failures (see :mod:`prover.backends.leandojo`).

Before anything is traced, :class:`LeanDojoFactory` checks what it can: ``lake`` on PATH (else
:class:`~prover.errors.BackendUnavailableError`) and the repository's Lean version
(``LeanGitRepo.lean_version``, read from its ``lean-toolchain``): LeanDojo 4.x traces a
repository on Lean >= v4.12 for hours and then fails (LeanDojo#211, #250), so such a repository
is refused at once, with what to use instead.
"""

from __future__ import annotations

import importlib
import logging
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from prover.errors import BackendUnavailableError, EnvironmentInitError
from prover.theorems import LEANDOJO_FIELDS
from prover.traces import split_lean_goals
from prover.types import Theorem

logger = logging.getLogger(__name__)

DojoFactory = Callable[[Theorem, int], AbstractContextManager[Any]]
"""Makes the Dojo of a theorem; called with the theorem and ``timeout_s``, on the session's
thread. It returns a context manager whose ``__enter__`` gives ``(dojo, initial TacticState)``
and whose ``__exit__`` kills the Lean process, as ``lean_dojo.Dojo`` does; ``dojo.run_tac`` must
answer with lean_dojo's result classes and raise its exceptions. :class:`LeanDojoFactory` makes
real Dojos; tests pass a scripted stand-in."""


_GOALS_HEADER = re.compile(r"\d+ goals?\n")


def normalize_pp(pp: str) -> str:
    """The state text without a leading ``N goals`` line (``Dojo._post_process`` strips it
    from what Lean prints; a TacticState made elsewhere may still carry it)."""
    match = _GOALS_HEADER.match(pp)
    return pp[match.end():] if match else pp


def split_goals(pp: str) -> tuple[str, ...]:
    """The goals of a pretty-printed state by LeanDojo's own rule (``parse_goals``), one per
    ``⊢``: :func:`prover.traces.split_lean_goals`, shared with the trace converters."""
    return split_lean_goals(normalize_pp(pp))


def import_lean_dojo() -> Any:
    """Import ``lean_dojo``, turning its import-time failures into EnvironmentInitError."""
    try:
        return importlib.import_module("lean_dojo")
    except ImportError as exc:
        raise BackendUnavailableError(
            f"lean_dojo cannot be imported ({exc}): it comes with the 'lean' extra, "
            f"pip install 'seg-prover[lean]'"
        ) from exc
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        raise BackendUnavailableError(
            f"importing lean_dojo failed ({exc}): it runs `git --version`, so git >= 2.25 must "
            "be on PATH") from exc
    except AssertionError as exc:
        raise EnvironmentInitError(
            f"lean_dojo refused to start ({exc or 'assertion failed'}): TACTIC_MEMORY_LIMIT must "
            "look like '32g' and git must be >= 2.25") from exc


def leandojo_locator(theorem: Theorem) -> dict[str, str]:
    """The theorem's ``leandojo`` locator (url, commit, file_path, full_name), validated."""
    raw = theorem.locator.get("leandojo")
    if not isinstance(raw, Mapping):
        raise EnvironmentInitError(
            f"theorem {theorem.name!r} has no 'leandojo' locator: load it with "
            "prover.theorems.load_theorems from a JSONL whose records carry "
            "leandojo = {url, commit, file_path, full_name}")
    locator: dict[str, str] = {}
    for name in LEANDOJO_FIELDS:
        value = raw.get(name)
        if not isinstance(value, str) or not value:
            raise EnvironmentInitError(
                f"theorem {theorem.name!r}: locator field 'leandojo.{name}' is missing or empty")
        locator[name] = value
    return locator


CommandDojoFactory = Callable[[Theorem, int], tuple[AbstractContextManager[Any], str]]
"""Makes, for a theorem and ``timeout_s``, a command-mode Dojo placed where the theorem starts
in its file (``lean_dojo.Dojo((repo, file_path, line))``: the file's context, without the
theorem) and returns it with the theorem's declaration up to its proof as written there
(``theorem foo (x : ℕ) : ... :=``); the claim check compiles the found proof after it."""

LEANDOJO_LAST = (4, 12)
"""The first Lean version LeanDojo 4.x cannot drive (LeanDojo#211, #250)."""

_VERSION = re.compile(r"v?(\d+)\.(\d+)")
_NIGHTLY = re.compile(r"nightly-(\d{4})-(\d{2})-(\d{2})")


def lean_too_new(version: str) -> bool:
    """Whether a ``LeanGitRepo.lean_version`` (``v4.24.0``, ``v4.9.0-rc1``,
    ``nightly-2023-08-19``) is one LeanDojo 4.x cannot drive: v4.12 or later (nightlies from
    2024-09, when v4.12's release candidates began)."""
    if (match := _VERSION.match(version)) is not None:
        return (int(match.group(1)), int(match.group(2))) >= LEANDOJO_LAST
    if (match := _NIGHTLY.match(version)) is not None:
        return (int(match.group(1)), int(match.group(2))) >= (2024, 9)
    return False


def too_new_error(theorem: Theorem, version: str, url: str) -> EnvironmentInitError:
    """The error for a theorem whose repository is on a Lean LeanDojo 4.x cannot drive."""
    return EnvironmentInitError(
        f"LeanDojo cannot open {theorem.name}: {url} is on Lean {version}, and LeanDojo 4.x "
        "cannot run tactics on Lean >= v4.12 (tracing would take hours and then fail, "
        "LeanDojo#211, #250). Use the same problems on an older Lean with "
        "variant=\"lean_dojo_mew_v4.7.0\" (prover.theorems.load_theorems; a bench suite "
        "FILE#variant=lean_dojo_mew_v4.7.0), or the Lean REPL backend (LeanReplEnvironment, "
        "backend `repl`), which drives current Lean")


class LeanDojoFactory:
    """Makes real ``lean_dojo.Dojo`` objects (the default :data:`DojoFactory`; its
    :meth:`command_dojo` is the default :data:`CommandDojoFactory`).

    One ``LeanGitRepo`` is kept per (url, commit): making one queries GitHub, whose
    unauthenticated rate limit is 60 requests an hour (set ``GITHUB_ACCESS_TOKEN`` for more).
    Before a Dojo is made (and the repository traced), ``lake`` must be on PATH and the
    repository's Lean older than v4.12 (see the module docstring).
    """

    def __init__(self, additional_imports: Sequence[str] = (), build_deps: bool = True) -> None:
        self.additional_imports = list(additional_imports)
        self.build_deps = build_deps
        self._repos: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def _repo(self, theorem: Theorem, ld: Any) -> tuple[Any, dict[str, str]]:
        locator = leandojo_locator(theorem)
        if shutil.which("lake") is None:
            raise BackendUnavailableError(
                "`lake` is not on PATH, and LeanDojo runs `lake env lean` (and traces with "
                "lake): install Lean with elan (https://github.com/leanprover/elan)")
        key = (locator["url"], locator["commit"])
        with self._lock:
            repo = self._repos.get(key)
            if repo is None:
                repo = self._repos[key] = ld.LeanGitRepo(*key)
        version = str(getattr(repo, "lean_version", ""))
        if lean_too_new(version):
            raise too_new_error(theorem, version, locator["url"])
        return repo, locator

    def __call__(self, theorem: Theorem, timeout_s: int) -> Any:
        ld = import_lean_dojo()
        repo, locator = self._repo(theorem, ld)
        entry = ld.Theorem(repo, Path(locator["file_path"]), locator["full_name"])
        return ld.Dojo(entry, timeout=timeout_s, additional_imports=self.additional_imports,
                       build_deps=self.build_deps)

    def command_dojo(self, theorem: Theorem, timeout_s: int) -> tuple[Any, str]:
        """A command-mode Dojo at the theorem's line and its declaration head, found in the
        traced file as ``Dojo`` and ``lean_dojo.check_proof`` find them (LeanDojo 4.20,
        ``interaction/dojo.py``)."""
        ld = import_lean_dojo()
        repo, locator = self._repo(theorem, ld)
        trace = importlib.import_module("lean_dojo.data_extraction.trace")
        traced_data = importlib.import_module("lean_dojo.data_extraction.traced_data")
        utils = importlib.import_module("lean_dojo.utils")
        path = Path(locator["file_path"])
        root = trace.get_traced_repo_path(repo, self.build_deps)
        traced_file = traced_data.TracedFile.from_traced_file(
            root, utils.to_json_path(root, path, repo), repo)
        traced = traced_file.get_traced_theorem(ld.Theorem(repo, path, locator["full_name"]))
        if traced is None:
            raise ld.DojoInitError(f"Failed to locate the theorem with "
                                   f"`{locator['full_name']}` as its fully qualified name.")
        proof_start, _ = traced.locate_proof()
        head = traced_data.get_code_without_comments(
            traced_file.lean_file, traced.start, proof_start, traced_file.comments).strip()
        if not head.endswith(":="):
            head += " :="
        dojo = ld.Dojo((repo, path, traced.start.line_nb), timeout=timeout_s,
                       additional_imports=self.additional_imports, build_deps=self.build_deps)
        return dojo, head


def init_advice(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, subprocess.CalledProcessError):
        return (f"a build step failed while LeanDojo traced the repository (`{exc.cmd}` exited "
                f"with {exc.returncode}): check that the repository builds with `lake build` at "
                "that commit (run `lake exe cache get` first in Mathlib projects), that its Lean "
                "version is below v4.12 (LeanDojo#211), and that CACHE_DIR has room; set "
                "DISABLE_REMOTE_CACHE=1 to trace locally instead of downloading a traced copy")
    if "ast.json" in text:
        return ("the repository has not been traced (or was traced by another LeanDojo "
                "version): trace it once with lean_dojo.trace(LeanGitRepo(url, commit)) and keep "
                "CACHE_DIR pointing at that cache (LeanDojo#228)")
    if "Lean4Repl" in text:
        return ("the traced copy in CACHE_DIR was made by an older LeanDojo: delete it and "
                "trace the repository again")
    if "Failed to locate the theorem" in text:
        return "check the theorem's leandojo.full_name and leandojo.file_path"
    if "Timeout during initialization" in text:
        return "raise timeout_s: it also bounds loading the file up to the theorem"
    if "Unexpected EOF" in text:
        return ("Lean exited while loading the file: check that the repository builds, that its "
                "Lean version is below v4.12 (LeanDojo#211), and TACTIC_MEMORY_LIMIT")
    if "prelude" in text:
        return "LeanDojo cannot run tactics in files of the Lean prelude"
    return ("check the repository URL and commit, the network (LeanDojo queries GitHub: set "
            "GITHUB_ACCESS_TOKEN against its rate limit), CACHE_DIR, and that the repository "
            "has been traced")


def init_error(theorem: Theorem, exc: BaseException) -> EnvironmentInitError:
    where = theorem.name
    locator = theorem.locator.get("leandojo")
    if isinstance(locator, Mapping):
        where += (f" ({locator.get('url')}@{str(locator.get('commit'))[:12]} "
                  f"{locator.get('file_path')})")
    return EnvironmentInitError(f"LeanDojo could not open {where}: {type(exc).__name__}: "
                                f"{exc}. What to do: {init_advice(exc)}")


_OOM_ADVICE = "raise TACTIC_MEMORY_LIMIT or run fewer Lean processes at once"


def describe(exc: BaseException, proc: Any = None) -> str:
    """What went wrong, for messages; ``proc`` is the Dojo's pexpect process, if known."""
    if getattr(exc, "is_out_of_memory", False):
        return f"Lean ran out of memory (OOM): {_OOM_ADVICE}"
    # A Lean killed by a signal has no exit status, and Dojo._check_alive then fails its
    # `assert exit_code is not None`: say what happened instead of "AssertionError".
    signal = getattr(proc, "signalstatus", None)
    if isinstance(signal, int):
        likely = (f" (SIGKILL: most likely out of memory: {_OOM_ADVICE})" if signal == 9
                  else "")
        return f"Lean was killed by signal {signal}{likely}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def quiet_exit(cm: Any) -> None:
    try:
        cm.__exit__(None, None, None)
    except Exception:  # the process may already be gone; nothing more to release
        logger.debug("closing a Dojo failed", exc_info=True)


__all__ = ["LEANDOJO_LAST", "CommandDojoFactory", "DojoFactory", "LeanDojoFactory", "describe",
           "import_lean_dojo", "init_advice", "init_error", "lean_too_new", "leandojo_locator",
           "normalize_pp", "quiet_exit", "split_goals", "too_new_error"]
