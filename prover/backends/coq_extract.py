"""Trajectories of human Coq proofs: replay each extracted proof step by step and record it.

For every lemma :func:`~prover.backends.coq_sources.extract_lemmas` finds, a
:class:`~prover.backends.coq.CoqSession` is opened on it (the file prefix through the statement)
and the proof's sentences are applied one at a time. A lemma whose whole proof replays to
``Proved`` yields

- trace records (DESIGN.md format): its root, then one transition per step, and
- step records ``{theorem, file, step, state, tactic, num_goals_before, num_goals_after,
  steps_remaining}``, where ``steps_remaining`` counts the steps left including this one
  (``n`` at the first step of an ``n``-step proof, 1 at the last). Closing braces after the
  last goal is closed are not steps (Coq reports the proof complete before them).

Lemmas are skipped, and counted by reason, when the extractor skips them (``Defined``, term
proofs, ...), when their prefix does not replay (``prefix failed``), or when a step fails
(``replay: error`` / ``replay: timeout`` / ``replay: not proved at the end``).

``seg-prover coq extract OUT_DIR`` runs this over the standard library (resumable: each source
file is written to ``OUT_DIR/files/`` and marked done; a rerun skips files already done), then
merges everything into ``OUT_DIR/traces.jsonl``, ``OUT_DIR/steps.jsonl`` and
``OUT_DIR/summary.json``. Each file's ``files/<name>.done.json`` lists its lemmas as
``[name, statement sentence index, steps]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prover.backends.coq import CoqConfig, CoqEnvironment, stdlib_theories
from prover.backends.coq_sources import CoqLemma, extract_lemmas, stdlib_module_name
from prover.cli import add_progress_argument, progress_wanted
from prover.errors import ConfigError, ProverError
from prover.traces import TraceRecord
from prover.types import Proved, StateReached, Theorem, outcome_kind

log = logging.getLogger(__name__)


@dataclass
class FileResult:
    """What one source file gave: records, counts and skip reasons."""

    file: str
    traces: list[TraceRecord] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    lemmas: list[str] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        counts = Counter(step["theorem"] for step in self.steps)
        return {"file": self.file, "lemmas": len(self.lemmas), "steps": len(self.steps),
                "skipped": dict(self.skipped), "seconds": round(self.seconds, 3),
                "lemma_list": [[name, index, counts[name]]
                               for name, index in zip(self.lemmas, self.indices)]}


def lemma_theorem(lemma: CoqLemma, root: Path | None, *, stdlib: bool) -> Theorem:
    """The theorem of a lemma: a ``stdlib_file`` locator (relative, portable) for the standard
    library, an absolute ``file`` locator otherwise."""
    if stdlib and root is not None:
        rel = Path(lemma.file).resolve().relative_to(root.resolve()).as_posix()
        return lemma.theorem({"stdlib_file": rel, "index": lemma.index, "file": None})
    return lemma.theorem({"file": str(Path(lemma.file).resolve())})


def _clean(theorem: Theorem) -> Theorem:
    loc = {k: v for k, v in theorem.locator.items() if v is not None}
    return Theorem(theorem.name, theorem.statement, loc)


async def record_lemma(env: CoqEnvironment, lemma: CoqLemma, theorem: Theorem
                       ) -> tuple[list[TraceRecord], list[dict[str, Any]]] | str:
    """Replay one lemma's proof; its records, or the skip reason."""
    try:
        session = await env.open(theorem)
    except ProverError as exc:
        log.info("%s: %s", lemma.name, exc)
        return "prefix failed"
    traces: list[TraceRecord] = []
    steps: list[dict[str, Any]] = []
    async with session:
        state = session.root
        traces.append(TraceRecord(lemma.name, state.pp, None, "state", state.goals))
        for index, tactic in enumerate(lemma.steps):
            began = time.monotonic()
            outcome = await session.apply(state, tactic)
            latency = round(time.monotonic() - began, 6)
            kind = outcome_kind(outcome)
            if isinstance(outcome, StateReached):
                after = outcome.state
                traces.append(TraceRecord(lemma.name, state.pp, tactic, "state", after.goals,
                                          None, latency))
                goals_after = after.num_goals
            elif isinstance(outcome, Proved):
                if any(rest != "}" for rest in lemma.steps[index + 1:]):
                    return "replay: proved before the last step"
                # Only closing braces remain (Coq reports no goal left inside a brace); they
                # are dropped, and verify adds them back by itself.
                traces.append(TraceRecord(lemma.name, state.pp, tactic, "proved", (), None,
                                          latency))
                goals_after = 0
            else:
                log.info("%s step %d %r: %s", lemma.name, index, tactic,
                         getattr(outcome, "message", ""))
                return f"replay: {kind}"
            steps.append({"theorem": lemma.name, "file": theorem.locator.get(
                "stdlib_file", lemma.file), "step": index, "state": state.pp, "tactic": tactic,
                "num_goals_before": state.num_goals, "num_goals_after": goals_after,
                "steps_remaining": 0})
            if isinstance(outcome, Proved):
                break
            state = outcome.state
        for row in steps:
            row["steps_remaining"] = len(steps) - row["step"]
        if steps and steps[-1]["num_goals_after"] != 0:
            return "replay: not proved at the end"
    return traces, steps


async def extract_file(env: CoqEnvironment, path: Path, root: Path | None, *,
                       stdlib: bool = True) -> FileResult:
    """Extract and replay every lemma of one file (sessions reuse the file prefix).

    Names are qualified by the file's module (``Coq.Arith.PeanoNat`` for the stdlib, the
    path relative to ``root`` otherwise) and the modules opened in the file.
    """
    began = time.monotonic()
    result = FileResult(path.relative_to(root).as_posix() if root is not None else str(path))
    module = ""
    if root is not None:
        module = stdlib_module_name(path, root)
        if not stdlib:
            module = module.removeprefix("Coq.")
    extraction = extract_lemmas(path.read_text(encoding="utf-8"), str(path), module)
    result.skipped.update(extraction.skipped)
    prefix_failed_at: int | None = None
    for lemma in extraction.lemmas:
        if prefix_failed_at is not None and lemma.index > prefix_failed_at:
            result.skipped["prefix failed"] += 1  # the same earlier sentence fails again
            continue
        theorem = _clean(lemma_theorem(lemma, root, stdlib=stdlib))
        outcome = await record_lemma(env, lemma, theorem)
        if isinstance(outcome, str):
            result.skipped[outcome] += 1
            if outcome == "prefix failed":
                prefix_failed_at = lemma.index
            continue
        traces, steps = outcome
        result.traces.extend(traces)
        result.steps.extend(steps)
        result.lemmas.append(lemma.name)
        result.indices.append(lemma.index)
    result.seconds = time.monotonic() - began
    return result


# ---- the output directory -----------------------------------------------------------------------


def _stem(rel: str) -> str:
    return rel.replace("/", "__").removesuffix(".v")


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def write_file_result(out_dir: Path, result: FileResult) -> None:
    """Write one file's records, then its ``done`` marker (written last, so a crash before
    it makes a rerun redo the file)."""
    files = out_dir / "files"
    files.mkdir(parents=True, exist_ok=True)
    stem = _stem(result.file)
    _write_jsonl(files / f"{stem}.traces.jsonl", [r.to_json() for r in result.traces])
    _write_jsonl(files / f"{stem}.steps.jsonl", result.steps)
    tmp = files / f"{stem}.done.json.tmp"
    tmp.write_text(json.dumps(result.summary(), ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, files / f"{stem}.done.json")


def is_done(out_dir: Path, rel: str) -> bool:
    return (out_dir / "files" / f"{_stem(rel)}.done.json").is_file()


def merge_outputs(out_dir: Path, rels: Sequence[str]) -> dict[str, Any]:
    """Concatenate the per-file outputs of ``rels`` (in order) and write ``summary.json``."""
    files = out_dir / "files"
    skipped: Counter[str] = Counter()
    lemmas = steps = 0
    per_file = []
    with open(out_dir / "traces.jsonl", "w", encoding="utf-8") as traces, \
            open(out_dir / "steps.jsonl", "w", encoding="utf-8") as step_out:
        for rel in rels:
            stem = _stem(rel)
            done = files / f"{stem}.done.json"
            if not done.is_file():
                continue
            summary = json.loads(done.read_text(encoding="utf-8"))
            per_file.append(summary)
            skipped.update(summary["skipped"])
            lemmas += summary["lemmas"]
            steps += summary["steps"]
            traces.write((files / f"{stem}.traces.jsonl").read_text(encoding="utf-8"))
            step_out.write((files / f"{stem}.steps.jsonl").read_text(encoding="utf-8"))
    total = {"files": len(per_file), "lemmas": lemmas, "steps": steps,
             "skipped": dict(skipped.most_common()), "skipped_total": sum(skipped.values()),
             "seconds": round(sum(f["seconds"] for f in per_file), 1), "per_file": per_file}
    (out_dir / "summary.json").write_text(json.dumps(total, indent=1, ensure_ascii=False),
                                          encoding="utf-8")
    return total


def select_files(root: Path, pattern: str | None, limit: int | None) -> list[Path]:
    """The ``.v`` files under ``root`` matching ``pattern`` (a glob relative to root), sorted."""
    files = sorted(root.glob(pattern) if pattern else root.rglob("*.v"))
    files = [f for f in files if f.suffix == ".v" and f.is_file()]
    return files[:limit] if limit is not None else files


async def extract_tree(out_dir: Path, files: Sequence[Path], root: Path, config: CoqConfig, *,
                       workers: int = 1, progress: bool = True, stdlib: bool = True
                       ) -> dict[str, Any]:
    """Extract ``files`` (under ``root``) into ``out_dir``, skipping those already done, and
    merge the outputs. ``stdlib`` says whether ``root`` is the standard library's theories."""
    from tqdm import tqdm

    out_dir.mkdir(parents=True, exist_ok=True)
    rels = [f.relative_to(root).as_posix() for f in files]
    todo = [f for f, rel in zip(files, rels) if not is_done(out_dir, rel)]
    bar = tqdm(total=len(files), initial=len(files) - len(todo), unit="file",
               disable=not progress, desc="coq extract")
    queue: asyncio.Queue[Path] = asyncio.Queue()
    for f in todo:
        queue.put_nowait(f)
    counts = Counter[str]()

    async def worker() -> None:
        env = CoqEnvironment(config)
        try:
            while not queue.empty():
                path = queue.get_nowait()
                bar.set_postfix_str(path.relative_to(root).as_posix()[-40:])
                result = await extract_file(env, path, root, stdlib=stdlib)
                write_file_result(out_dir, result)
                counts["steps"] += len(result.steps)
                counts["lemmas"] += len(result.lemmas)
                bar.update(1)
                bar.set_postfix(steps=counts["steps"], lemmas=counts["lemmas"])
        finally:
            await env.close()

    try:
        await asyncio.gather(*(worker() for _ in range(max(1, workers))))
    finally:
        bar.close()
    return merge_outputs(out_dir, rels)


# ---- CLI ---------------------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    """Add ``seg-prover coq extract``."""
    coq = subparsers.add_parser("coq", help="Coq tools: extract human proof trajectories")
    sub = coq.add_subparsers(dest="coq_command", metavar="COQ_COMMAND")
    extract = sub.add_parser(
        "extract", help="replay the stdlib's human proofs; write traces and step records",
        description=__doc__.split("\n\n")[0] if __doc__ else None)
    extract.add_argument("out_dir", help="output directory (resumable)")
    extract.add_argument("--root", default=None,
                         help="directory of .v files (default: $(coqc -where)/theories)")
    extract.add_argument("--files", default=None,
                         help="glob relative to the root, e.g. 'Arith/*.v' (default: all)")
    extract.add_argument("--limit-files", type=int, default=None, help="only the first N files")
    extract.add_argument("--tactic-timeout", type=float, default=10.0, help="seconds per step")
    extract.add_argument("--workers", type=int, default=1, help="files replayed at once")
    extract.add_argument("--coq-arg", action="append", default=[],
                         help="extra coqidetop flag (repeatable), e.g. --coq-arg=-R")
    add_progress_argument(extract)
    extract.set_defaults(func=_cmd_extract)
    coq.set_defaults(func=lambda args: (coq.print_help(), 2)[1])


def _cmd_extract(args: argparse.Namespace) -> int:
    root = Path(args.root) if args.root else stdlib_theories()
    if not root.is_dir():
        raise ConfigError(f"--root {root} is not a directory")
    if args.limit_files is not None and args.limit_files < 1:
        raise ConfigError("--limit-files must be >= 1")
    files = select_files(root, args.files, args.limit_files)
    if not files:
        raise ConfigError(f"no .v file under {root} matches {args.files!r}")
    config = CoqConfig(tactic_timeout_s=args.tactic_timeout, max_processes=1,
                       args=tuple(args.coq_arg))
    stdlib = args.root is None or root.resolve() == stdlib_theories().resolve()
    total = asyncio.run(extract_tree(Path(args.out_dir), files, root, config,
                                     workers=args.workers,
                                     progress=progress_wanted(not args.no_progress),
                                     stdlib=stdlib))
    print(f"{total['files']} files, {total['lemmas']} lemmas, {total['steps']} steps "
          f"({total['seconds']} s of replay); skipped {total['skipped_total']} lemmas:")
    for reason, count in total["skipped"].items():
        print(f"  {count:6d}  {reason}")
    print(f"wrote {Path(args.out_dir) / 'traces.jsonl'}, steps.jsonl, summary.json")
    return 0


__all__ = [
    "FileResult",
    "extract_file",
    "extract_tree",
    "is_done",
    "lemma_theorem",
    "merge_outputs",
    "record_lemma",
    "register",
    "select_files",
    "write_file_result",
]
