"""The ``coq-stdlib`` suite: held-out lemmas of Coq's standard library, and the index to learn from.

The stdlib's source files are split, by file, into an *index* part and a held-out *test* part
(a fixed seed; see :func:`build_manifest`); the split ships as
``benchmarks/data/coq_stdlib_manifest.json``. Its ``test`` list holds every test-file lemma
whose human proof replays (as found by ``seg-prover coq extract``), in a seeded random order, so
``limit=N`` is a random sample of N. Each is a :class:`~prover.types.Theorem` with the
locator ``{"stdlib_file": "Arith/PeanoNat.v", "index": i}`` that
:class:`~prover.backends.coq.CoqEnvironment` opens (the file replayed through the statement,
as in CoqGym).

Learning from the index (Tactician's setting, arXiv 2003.09140): extract the trajectories once
with ``seg-prover coq extract DIR``; :func:`index_records` then reads the trace records of the
index files only, and :func:`knn_for` builds a
:class:`~prover.generators.knn.KNNTacticGenerator` from them. With ``online=True`` it also
indexes the proofs of the lemmas that precede the target in its own file (Tactician's online
setting, 39.3% of the stdlib proved in the paper). Usage::

    from benchmarks.coq_suite import load_coq_suite, index_records, knn_for
    theorems = load_coq_suite(split="test", limit=100)
    base = knn_for(index_records("runs/coq-extract"))
    generator = knn_for(..., online=True, ...)  # per theorem, see knn_for
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, cast

from prover.errors import ConfigError, DataFormatError
from prover.generators.base import TacticGenerator, merge_candidates
from prover.traces import TraceRecord, read_trace
from prover.types import Candidate, ProofState, Theorem

MANIFEST_NAME = "coq_stdlib_manifest.json"
SPLITS = ("test", "index")


def manifest_path() -> Path:
    """Where the shipped manifest lives."""
    return Path(str(resources.files("benchmarks") / "data" / MANIFEST_NAME))


def load_manifest(path: str | Path | None = None) -> dict[str, Any]:
    """Read the manifest (the shipped one by default) and check its fields."""
    path = Path(path) if path is not None else manifest_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"Coq suite manifest not found at {path}") from exc
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"invalid JSON: {exc.msg}", path=path, line=exc.lineno) from exc
    for key in ("index_files", "test_files", "test"):
        if not isinstance(data.get(key), list):
            raise DataFormatError("missing or not a list", path=path, field=key)
    return cast(dict[str, Any], data)


def load_coq_suite(split: str = "test", limit: int | None = None, *,
                   manifest: str | Path | None = None, check: bool = True) -> list[Theorem]:
    """The theorems of the ``coq-stdlib`` suite.

    ``split="test"``: the held-out lemmas whose human proofs replay (a seeded random order,
    so the first ``limit`` are a random sample). ``split="index"``: every lemma with a
    ``Proof. ... Qed.`` proof in the index files (found by the extractor, in file order).
    Each theorem's ``statement`` is its statement sentence and ``locator`` is
    ``{"stdlib_file", "index"}``. With ``check`` (and Coq installed), each statement is read
    from the installed stdlib and checked to carry the lemma's name, so a manifest built for
    another Coq version fails loudly (:class:`DataFormatError`) instead of pointing elsewhere.
    """
    if split not in SPLITS:
        raise ConfigError(f"unknown Coq suite split {split!r}; expected one of {SPLITS}")
    if limit is not None and limit < 0:
        raise ConfigError(f"limit must be >= 0, got {limit}")
    data = load_manifest(manifest)
    if split == "index":
        return _index_theorems(data["index_files"], limit)
    entries = data["test"][:limit] if limit is not None else data["test"]
    theorems = []
    sentences = _SentenceCache(enabled=check)
    for number, entry in enumerate(entries):
        try:
            name, rel, index = entry["name"], entry["stdlib_file"], entry["index"]
        except (KeyError, TypeError) as exc:
            raise DataFormatError(f"bad test entry: {exc}", path=manifest_path(),
                                  field=f"test[{number}]") from exc
        statement = sentences.get(rel, index)
        if statement is not None and name.rsplit(".", 1)[-1].split("@")[0] not in statement:
            raise DataFormatError(
                f"sentence {index} of {rel} is {statement[:80]!r}, not lemma {name}: the "
                f"manifest was built for Coq {data.get('coq_version')}; rebuild it",
                path=manifest_path(), field=f"test[{number}]")
        theorems.append(Theorem(name, statement or "", {"stdlib_file": rel, "index": index}))
    return theorems


class _SentenceCache:
    """Statement sentences of installed stdlib files (``None`` when Coq is absent)."""

    def __init__(self, enabled: bool) -> None:
        self.root: Path | None = None
        if enabled:
            try:
                from prover.backends.coq import stdlib_theories

                self.root = stdlib_theories()
            except Exception:  # no coqc: statements stay empty, locators still work
                self.root = None
        self._files: dict[str, list[str]] = {}

    def get(self, rel: str, index: int) -> str | None:
        if self.root is None:
            return None
        if rel not in self._files:
            from prover.backends.coq_sources import split_sentences

            path = self.root / rel
            if not path.is_file():
                raise DataFormatError(f"stdlib file {rel} not found under {self.root}",
                                      path=manifest_path(), field="stdlib_file")
            self._files[rel] = [s.text for s in split_sentences(path.read_text("utf-8"))]
        sentences = self._files[rel]
        return sentences[index] if 0 <= index < len(sentences) else ""


def _index_theorems(files: Sequence[str], limit: int | None) -> list[Theorem]:
    from prover.backends.coq import stdlib_theories
    from prover.backends.coq_sources import extract_lemmas, stdlib_module_name

    root = stdlib_theories()
    out: list[Theorem] = []
    for rel in files:
        path = root / rel
        for lemma in extract_lemmas(path.read_text("utf-8"), str(path),
                                    stdlib_module_name(path, root)).lemmas:
            out.append(Theorem(lemma.name, lemma.statement,
                               {"stdlib_file": rel, "index": lemma.index}))
            if limit is not None and len(out) >= limit:
                return out
    return out


# ---- index traces --------------------------------------------------------------------------


def _stem(rel: str) -> str:
    return rel.replace("/", "__").removesuffix(".v")


def _file_trace_path(extraction_dir: Path, rel: str) -> Path:
    return extraction_dir / "files" / f"{_stem(rel)}.traces.jsonl"


def _file_traces(extraction_dir: Path, rel: str) -> list[TraceRecord]:
    path = _file_trace_path(extraction_dir, rel)
    return read_trace(path) if path.is_file() else []


def index_records(extraction_dir: str | Path, *, manifest: str | Path | None = None
                  ) -> list[TraceRecord]:
    """The trace records of the index files in a ``seg-prover coq extract`` output directory
    (test files are left out even when they were extracted)."""
    return [record for path in index_trace_files(extraction_dir, manifest=manifest)
            for record in read_trace(path)]


def index_trace_files(extraction_dir: str | Path, *, manifest: str | Path | None = None
                      ) -> list[Path]:
    """The trace files of the index files in a ``seg-prover coq extract`` output directory
    (those extracted; test files are left out)."""
    root = Path(extraction_dir)
    if not (root / "files").is_dir():
        raise ConfigError(f"{root} is not a 'seg-prover coq extract' output directory")
    paths = (_file_trace_path(root, rel) for rel in load_manifest(manifest)["index_files"])
    return [path for path in paths if path.is_file()]


def online_records(extraction_dir: str | Path, theorem: Theorem) -> list[TraceRecord]:
    """The trace records of the lemmas that precede ``theorem`` in its own file (whose
    statement sentence comes earlier), for the online setting."""
    rel = theorem.locator.get("stdlib_file")
    index = theorem.locator.get("index")
    if not isinstance(rel, str) or not isinstance(index, int):
        raise ConfigError(f"{theorem.name}: online records need a stdlib_file/index locator")
    before = _lemma_indices(Path(extraction_dir), rel)
    keep = {name for name, i in before.items() if i < index}
    return [r for r in _file_traces(Path(extraction_dir), rel) if r.theorem in keep]


def _lemma_indices(extraction_dir: Path, rel: str) -> dict[str, int]:
    from prover.backends.coq import stdlib_theories
    from prover.backends.coq_sources import extract_lemmas, stdlib_module_name

    done = extraction_dir / "files" / f"{_stem(rel)}.done.json"
    if done.is_file():
        summary = json.loads(done.read_text("utf-8"))
        if "lemma_list" in summary:
            return {name: index for name, index, _ in summary["lemma_list"]}
    root = stdlib_theories()
    path = root / rel
    lemmas = extract_lemmas(path.read_text("utf-8"), str(path), stdlib_module_name(path, root))
    return {lemma.name: lemma.index for lemma in lemmas.lemmas}


class MergedGenerator:
    """Asks several generators and merges their candidates by log-probability (duplicates keep
    their best score): the online setting's global index plus the target file's own."""

    def __init__(self, generators: Sequence[TacticGenerator]) -> None:
        if not generators:
            raise ConfigError("MergedGenerator needs at least one generator")
        self.generators = list(generators)

    async def propose(self, state: ProofState, k: int) -> list[Candidate]:
        candidates: list[Candidate] = []
        for generator in self.generators:
            candidates.extend(await generator.propose(state, k))
        return merge_candidates(candidates, k)


def knn_for(records: Iterable[TraceRecord], *, online: bool = False,
            extraction_dir: str | Path | None = None, theorem: Theorem | None = None
            ) -> TacticGenerator:
    """A KNN generator over ``records``; with ``online``, merged with one over the proofs
    preceding ``theorem`` in its file (read from ``extraction_dir``, see :func:`with_online`).
    Bullets, braces and focus commands are structure, not tactics: they are stripped from the
    recorded tactics and never proposed (:func:`~prover.backends.coq_layout.strip_structure`)."""
    from prover.backends.coq_layout import strip_structure
    from prover.generators.knn import KNNTacticGenerator

    base = KNNTacticGenerator.from_traces(list(records), normalize=strip_structure)
    if not online:
        return base
    if extraction_dir is None or theorem is None:
        raise ConfigError("knn_for(online=True) needs extraction_dir and theorem")
    return with_online(base, extraction_dir, theorem)


def with_online(base: TacticGenerator, extraction_dir: str | Path, theorem: Theorem
                ) -> TacticGenerator:
    """Tactician's setting: ``base`` (an index built once) merged with a KNN over the human
    proofs before ``theorem`` in its own file; ``base`` alone when there are none."""
    from prover.backends.coq_layout import strip_structure
    from prover.generators.knn import KNNTacticGenerator

    local = online_records(extraction_dir, theorem)
    if not local:
        return base
    return MergedGenerator([base, KNNTacticGenerator.from_traces(local,
                                                                 normalize=strip_structure)])


# ---- building the manifest -----------------------------------------------------------------


@dataclass(frozen=True)
class SplitSpec:
    """How files are split: ``test_fraction`` of the files with lemmas, drawn with ``seed``."""

    seed: int = 0
    test_fraction: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.test_fraction < 1:
            raise ConfigError(f"test_fraction must be in (0, 1), got {self.test_fraction}")


def build_manifest(extraction_dir: str | Path, spec: SplitSpec | None = None) -> dict[str, Any]:
    """Split the stdlib by file and list the held-out lemmas whose human proofs replayed.

    Reads a full ``seg-prover coq extract`` of the stdlib: a file takes part when the
    extractor found at least one lemma in it; the test files are a seeded random
    ``test_fraction`` of those; the test list is every replayed lemma of a test file
    (``name``, ``stdlib_file``, statement ``index``, human proof ``steps``), shuffled with the
    same seed.
    """
    import subprocess

    from prover.backends.coq import stdlib_theories
    from prover.backends.coq_sources import extract_lemmas, stdlib_module_name

    spec = spec or SplitSpec()
    root_dir = Path(extraction_dir)
    summary = json.loads((root_dir / "summary.json").read_text("utf-8"))
    theories = stdlib_theories()
    files: list[str] = []
    static: dict[str, dict[str, int]] = {}
    for row in summary["per_file"]:
        rel = row["file"]
        path = theories / rel
        lemmas = extract_lemmas(path.read_text("utf-8"), str(path),
                                stdlib_module_name(path, theories)).lemmas
        if lemmas:
            files.append(rel)
            static[rel] = {lemma.name: lemma.index for lemma in lemmas}
    files.sort()
    rng = random.Random(spec.seed)
    shuffled = files[:]
    rng.shuffle(shuffled)
    n_test = max(1, math.ceil(spec.test_fraction * len(files)))
    test_files = sorted(shuffled[:n_test])
    index_files = sorted(shuffled[n_test:])
    test: list[dict[str, Any]] = []
    for rel in test_files:
        steps_path = root_dir / "files" / f"{_stem(rel)}.steps.jsonl"
        counts: dict[str, int] = {}
        if steps_path.is_file():
            for line in steps_path.read_text("utf-8").splitlines():
                if line.strip():
                    name = json.loads(line)["theorem"]
                    counts[name] = counts.get(name, 0) + 1
        for name, steps in counts.items():
            test.append({"name": name, "stdlib_file": rel, "index": static[rel][name],
                         "steps": steps})
    rng.shuffle(test)
    version = subprocess.run(["coqc", "--print-version"], capture_output=True, text=True,
                             check=False).stdout.split()
    return {
        "description": "coq-stdlib suite: Coq standard library split by file into index and "
                       "held-out test files; 'test' lists the test-file lemmas whose human "
                       "proof replays, in a seeded random order (built by "
                       "benchmarks.coq_suite.build_manifest from 'seg-prover coq extract').",
        "coq_version": version[0] if version else "unknown",
        "seed": spec.seed,
        "test_fraction": spec.test_fraction,
        "index_files": index_files,
        "test_files": test_files,
        "test": test,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks.coq_suite EXTRACTION_DIR [--out PATH] [--seed N]``: rebuild the
    manifest from a full extraction of the installed stdlib."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.coq_suite",
                                     description=main.__doc__)
    parser.add_argument("extraction_dir")
    parser.add_argument("--out", default=str(manifest_path()))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-fraction", type=float, default=0.1)
    parser.add_argument("--demo", default=None,
                        help="comma-separated test lemmas for 'seg-prover demo' (default: keep "
                             "those of the manifest at --out that are still test lemmas)")
    args = parser.parse_args(argv)
    data = build_manifest(args.extraction_dir, SplitSpec(args.seed, args.test_fraction))
    if args.demo is not None:
        demo = [name.strip() for name in args.demo.split(",") if name.strip()]
    elif Path(args.out).is_file():
        demo = list(load_manifest(args.out).get("demo", []))
    else:
        demo = []
    tests = {entry["name"] for entry in data["test"]}
    missing = [name for name in demo if name not in tests]
    if missing and args.demo is not None:
        raise ConfigError(f"--demo names lemmas that are not test lemmas: {', '.join(missing)}")
    data["demo"] = [name for name in demo if name in tests]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(data, indent=0, ensure_ascii=False) + "\n", "utf-8")
    print(f"{len(data['index_files'])} index files, {len(data['test_files'])} test files, "
          f"{len(data['test'])} test lemmas -> {args.out}")
    return 0


__all__ = [
    "MANIFEST_NAME",
    "SPLITS",
    "MergedGenerator",
    "SplitSpec",
    "build_manifest",
    "index_records",
    "knn_for",
    "load_coq_suite",
    "load_manifest",
    "manifest_path",
    "online_records",
    "with_online",
]


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
