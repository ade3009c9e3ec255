"""What a Coq session replays before its root state: the file prefix or prelude, and flags.

Theorem locators: ``{"file": path, "index": i}`` (a ``.v`` file and the index of the statement
sentence, see :mod:`prover.backends.coq_sources`), ``{"stdlib_file": "Arith/PeanoNat.v",
"index": i}`` (relative to ``$(coqc -where)/theories``), or a prelude with the statement (one
sentence, optionally followed by ``Proof.``) in :attr:`Theorem.statement`: the prelude is the
locator's ``"prelude"``, or else its ``"header"`` (what a JSONL suite record carries, see
:mod:`prover.theorems`), e.g. ``"Require Import Arith."``. ``"coq_args"`` adds command-line
flags (``-R dir Name``); a file without them gets the load paths of the nearest ``_CoqProject``
above it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from prover.backends.coq_config import CoqConfig, stdlib_theories
from prover.backends.coq_sentences import Sentence, head_word, split_sentences
from prover.errors import EnvironmentInitError
from prover.types import Theorem

_IDENT_START = re.compile(r"[^\W\d][\w']*")
"""A Coq identifier at the start of a string (letters may be any Unicode letters)."""


@dataclass(frozen=True)
class CoqDocument:
    """What a session replays before its root state, and the flags it needs.

    ``sentences`` end with the statement (and its ``Proof`` opener when the file has one);
    ``statement_index`` is the statement's index in ``sentences``.
    """

    sentences: tuple[str, ...]
    statement_index: int
    args: tuple[str, ...] = ()

    @property
    def statement(self) -> str:
        return self.sentences[self.statement_index]

    @property
    def lemma_name(self) -> str:
        """The name ``Qed`` gives the proof (``Unnamed_thm`` for ``Goal``)."""
        s = re.sub(r"^(#\[[^\]]*\]\s*)+", "", self.statement)
        words = s.split()
        while words and words[0] in ("Local", "Global", "Polymorphic", "Monomorphic"):
            words = words[1:]
        if len(words) >= 2 and words[0] != "Goal":
            m = _IDENT_START.match(words[1])
            if m:
                return m.group(0)
        return "Unnamed_thm"


def is_proof_opener(sentence: str) -> bool:
    """``Proof.``, ``Proof with tac.`` or ``Proof using x.`` (not ``Proof term.``)."""
    if head_word(sentence) != "Proof":
        return False
    words = sentence.rstrip(".").split()
    return len(words) == 1 or words[1] in ("with", "using")


def file_args(path: Path) -> tuple[str, ...]:
    """Flags to replay ``path`` under its own module name (``-topfile``), so that the file's
    references to its own qualified names resolve; files of the stdlib's ``Init`` are compiled
    without the prelude they define (``-noinit``)."""
    path = path.resolve()
    args: tuple[str, ...] = ("-topfile", str(path))
    with contextlib.suppress(EnvironmentInitError, OSError, subprocess.SubprocessError):
        if path.is_relative_to((stdlib_theories() / "Init").resolve()):
            args += ("-noinit",)
    return args


def project_args(path: Path) -> tuple[str, ...]:
    """The load-path flags (``-R``, ``-Q``, ``-I``, ``-arg``) of the nearest ``_CoqProject``
    above ``path``, with directories made absolute: a library's file names its own modules
    (``Require Import MyLib.Base``), which only resolve under the project's bindings."""
    for directory in path.resolve().parents:
        project = directory / "_CoqProject"
        if project.is_file():
            try:
                return _parse_coq_project(project.read_text(encoding="utf-8"), directory)
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                raise EnvironmentInitError(f"cannot read {project}: {exc}") from exc
    return ()


def _parse_coq_project(text: str, root: Path) -> tuple[str, ...]:
    words = shlex.split(text, comments=True)
    args: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("-R", "-Q") and i + 2 < len(words):
            args += [word, str((root / words[i + 1]).resolve()), words[i + 2]]
            i += 3
        elif word == "-I" and i + 1 < len(words):
            args += [word, str((root / words[i + 1]).resolve())]
            i += 2
        elif word == "-arg" and i + 1 < len(words):
            args += shlex.split(words[i + 1])
            i += 2
        else:  # file names and coq_makefile options
            i += 1
    return tuple(args)


def _file_sentences(path: Path) -> list[Sentence]:
    try:
        return split_sentences(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvironmentInitError(f"cannot read Coq file {path}: {exc}") from exc
    except ValueError as exc:  # an unterminated comment or string
        raise EnvironmentInitError(f"cannot split Coq file {path}: {exc}") from exc


def document_cost(theorem: Theorem) -> int:
    """About how many characters :func:`document_for` scans for ``theorem`` (a file counts as
    large: it is read from disk), to decide whether to run it off the event loop."""
    loc = theorem.locator
    if loc.get("file") or loc.get("stdlib_file"):
        return 1 << 30
    prelude = loc.get("prelude", loc.get("header", ""))
    return len(theorem.statement) + (len(prelude) if isinstance(prelude, str) else 0)


def document_for(theorem: Theorem, cache: dict[Path, list[Sentence]] | None = None,
                 config: CoqConfig | None = None) -> CoqDocument:
    """The sentences to replay for ``theorem`` (see the module docstring for locators).

    Linear in the text; ``config.max_statement_chars`` bounds the statement.
    """
    config = config or CoqConfig()
    loc = theorem.locator
    raw_args = loc.get("coq_args") or ()
    if isinstance(raw_args, str) or not isinstance(raw_args, (list, tuple)):
        raise EnvironmentInitError(f"{theorem.name}: 'coq_args' must be a list of flags, "
                                   f"got {raw_args!r}")
    args = tuple(str(a) for a in raw_args)
    if loc.get("file") or loc.get("stdlib_file"):
        return _with_prelude(_file_document(theorem, cache, args), config.prelude)
    if len(theorem.statement) > config.max_statement_chars:
        raise EnvironmentInitError(f"{theorem.name}: the statement has {len(theorem.statement)} "
                                   f"characters, more than CoqConfig.max_statement_chars = "
                                   f"{config.max_statement_chars}")
    key = "prelude" if "prelude" in loc else "header"
    prelude_text = loc.get(key) or ""
    if not isinstance(prelude_text, str):
        raise EnvironmentInitError(f"{theorem.name}: {key!r} must be a string of Coq "
                                   f"sentences, got {type(prelude_text).__name__}")
    if key in loc or theorem.statement:
        try:
            prelude = [s.text for s in split_sentences(prelude_text)]
            statement = [s.text for s in split_sentences(theorem.statement)]
        except ValueError as exc:
            raise EnvironmentInitError(f"{theorem.name}: {exc}") from exc
        if not statement:
            raise EnvironmentInitError(f"{theorem.name}: empty statement")
        # The statement is one sentence (and maybe its ``Proof`` opener): anything after it
        # would run as part of the document, e.g. ``Admitted.`` then a second statement.
        if len(statement) > 2 or (len(statement) == 2 and not is_proof_opener(statement[1])):
            raise EnvironmentInitError(f"{theorem.name}: the statement must be one sentence "
                                       f"(optionally followed by Proof.), got "
                                       f"{len(statement)}: {theorem.statement[:200]!r}")
        if not statement[0].endswith("."):
            statement[0] += "."
        return _with_prelude(CoqDocument(tuple(prelude + statement), len(prelude), args),
                             config.prelude)
    raise EnvironmentInitError(f"{theorem.name}: a Coq theorem needs a locator with 'file', "
                               f"'stdlib_file' or 'prelude'/'header' (or a statement)")


def _with_prelude(document: CoqDocument, prelude: tuple[str, ...]) -> CoqDocument:
    """``prelude`` inserted right before the statement (after everything it depends on)."""
    if not prelude:
        return document
    at = document.statement_index
    sentences = (*document.sentences[:at], *prelude, *document.sentences[at:])
    return dataclasses.replace(document, sentences=sentences, statement_index=at + len(prelude))


def _file_document(theorem: Theorem, cache: dict[Path, list[Sentence]] | None,
                   args: tuple[str, ...]) -> CoqDocument:
    loc = theorem.locator
    path = Path(loc["file"]) if loc.get("file") else stdlib_theories() / str(loc["stdlib_file"])
    index = loc.get("index")
    if not isinstance(index, int) or isinstance(index, bool):
        raise EnvironmentInitError(f"{theorem.name}: locator needs an integer 'index'")
    if cache is not None and path in cache:
        sentences = cache[path]
    else:
        sentences = _file_sentences(path)
        if cache is not None:
            cache[path] = sentences
    if not 0 <= index < len(sentences):
        raise EnvironmentInitError(f"{theorem.name}: sentence {index} is outside {path} "
                                   f"({len(sentences)} sentences)")
    end = index + 1
    if end < len(sentences) and is_proof_opener(sentences[end].text):
        end += 1
    if "coq_args" not in loc:
        args = project_args(path)
    return CoqDocument(tuple(s.text for s in sentences[:end]), index, (*file_args(path), *args))


__all__ = ["CoqDocument", "document_cost", "document_for", "file_args", "is_proof_opener",
           "project_args"]
