"""Checking a Coq proof from scratch, in a fresh process, and judging its assumptions.

:func:`verify_proof` replays the document, runs the tactics (each under Coq's ``Timeout``),
saves the proof and reads ``Print Assumptions`` of the saved constant: the proof must close
every goal, pass the kernel, and rely on no axiom that did not already exist before the
statement and on nothing unsafe (:func:`parse_assumptions`). A crash of the verifying process
is not a verdict: it is retried up to ``CoqConfig.max_restarts`` times, then raised as
:class:`~prover.errors.EnvironmentCrashError`, never reported as an unsound proof.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from prover.backends.coq_config import CoqConfig
from prover.backends.coq_documents import CoqDocument
from prover.backends.coq_process import CoqProcess, SentenceFailed
from prover.backends.coq_sentences import check_tactic
from prover.backends.coq_states import closing_braces, timed
from prover.errors import EnvironmentCrashError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    """The result of :func:`verify_proof`: ``ok`` and, if not, why; the axioms found."""

    ok: bool
    reason: str = ""
    axioms: tuple[str, ...] = field(default=())


_SAFE_HEADERS = ("Axioms:", "Section Variables:")
_KNOWN_HEADERS = (*_SAFE_HEADERS, "Transparent constants:", "Opaque constants:", "Theory:")
_AXIOM_LINE = re.compile(r"([^\s:]+)\s*:(?!=)")


def parse_assumptions(text: str) -> tuple[list[str], list[str]]:
    """Split ``Print Assumptions`` output into axiom names and unsafe entries.

    Coq 8.16 lists axioms as ``name : type`` under ``Axioms:``, and under the same header the
    checks a definition skipped: ``f is assumed to be guarded.``, ``I is assumed to be
    positive.``, ``c relies on an unsafe hierarchy.``. Those, a ``Theory:`` section
    (``-type-in-type``, ``-impredicative-set``), any other header and any line this parser
    does not understand are unsafe; only section variables and ``name : type`` axioms are not.
    """
    axioms: list[str] = []
    unsafe: list[str] = []
    header = ""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.strip() or line[0].isspace():
            continue  # a continuation line of a wrapped type
        stripped = line.strip()
        if "Closed under the global context" in stripped:
            continue
        if stripped in _KNOWN_HEADERS or (stripped.endswith(":")
                                          and not _AXIOM_LINE.fullmatch(stripped)):
            header = stripped
            if header not in _SAFE_HEADERS:
                unsafe.append(header)
            continue
        if header == "Section Variables:":
            continue
        if header != "Axioms:":
            if not unsafe or unsafe[-1] != header:
                unsafe.append(stripped)  # outside any section: not a format Coq 8.16 has
            continue
        m = _AXIOM_LINE.match(stripped)
        if m is not None:
            axioms.append(m.group(1))
        elif " " not in stripped and i + 1 < len(lines) and lines[i + 1].strip().startswith(":"):
            axioms.append(stripped)  # a long name: its ``: type`` wrapped to the next line
        else:
            unsafe.append(stripped)
    return axioms, unsafe


VERIFY_NAME = "seg_prover_verified_proof"
"""The name :func:`verify_proof` saves a proof under (``Save``), so that ``Print Assumptions``
judges that very proof: a ``Goal`` is otherwise ``Unnamed_thm``, ``Unnamed_thm0``, ... and a
guessed name could name an older constant."""


async def verify_proof(config: CoqConfig, document: CoqDocument, tactics: Sequence[str]
                       ) -> Verdict:
    """Check a proof in a fresh process: every tactic is one allowed tactic sentence, the goals
    are all closed, the proof is saved (``Save`` under :data:`VERIFY_NAME`, or ``Qed``), and
    every axiom in ``Print Assumptions`` of the saved constant already existed before the
    statement (it resolves, to the same constant, with the statement rewound).

    A process that crashes, hangs or answers nonsense is replaced and the check starts over, up
    to ``config.max_restarts`` times; then :class:`~prover.errors.EnvironmentCrashError`.
    """
    if isinstance(tactics, str):
        return Verdict(False, "a proof is a list of tactics, not one string")
    try:
        sentences = [check_tactic(t) for t in tactics]
    except ValueError as exc:
        return Verdict(False, f"refused: {exc}")
    if not sentences:
        return Verdict(False, "empty proof")
    crashes = 0
    while True:
        try:
            return await _verify_once(config, document, sentences)
        except EnvironmentCrashError as exc:
            crashes += 1
            if crashes > config.max_restarts:
                raise EnvironmentCrashError(
                    f"verify: coqidetop failed {crashes} times (max_restarts "
                    f"{config.max_restarts}); last: {exc}") from exc
            log.warning("verify: coqidetop failed (%s); checking again in a fresh process", exc)


async def _verify_once(config: CoqConfig, document: CoqDocument, sentences: list[str]
                       ) -> Verdict:
    # Each tactic runs under the same ``Timeout`` as in a session: a looping step fails fast.
    timed_steps = [timed(s, config.coq_timeout) for s in sentences]
    budget = config.reply_timeout_s * max(1, len(sentences))
    proc = CoqProcess(config.executable, (*config.args, *document.args))
    try:
        await proc.start()
        _, failed = await proc.sync(document.sentences, config.init_timeout_s,
                                    batch=config.batch)
        if failed is not None:
            return Verdict(False, f"prefix failed at sentence {failed.index}: {failed.message}")
        goals, failed = await proc.sync([*document.sentences, *timed_steps], budget,
                                        batch=config.batch)
        if failed is not None:
            return Verdict(False, f"tactic {failed.index - len(document.sentences)} failed: "
                                  f"{failed.message}")
        if goals is None or goals.open_count or goals.shelved or goals.given_up:
            left = goals.open_count if goals is not None else "no proof open,"
            return Verdict(False, f"{left} goals left open")
        # Goals closed inside braces leave the focus open (Coq's Goal shows no difference):
        # close what the proof opened, as the session reported it proved already.
        proof = [*document.sentences, *timed_steps, *closing_braces(sentences)]
        name, failed = await save_proof(proc, proof, document.lemma_name, budget)
        if failed is not None:
            return Verdict(False, f"Qed failed: {failed.message}")
        ok, text = await proc.query(f"Print Assumptions {name}.", config.init_timeout_s)
        if not ok:
            return Verdict(False, f"Print Assumptions failed: {text}")
        axioms, unsafe = parse_assumptions(text)
        if unsafe:
            return Verdict(False, f"unsafe assumptions: {', '.join(unsafe)}", tuple(axioms))
        after = {a: await _constant_of(proc, a, config) for a in (name, *axioms)}
        await proc.rewind(document.statement_index, config.reply_timeout_s)
        if after[name] is None or await _constant_of(proc, name, config) == after[name]:
            # The name resolved to a constant from before the statement: the assumptions
            # printed are not this proof's.
            return Verdict(False, f"cannot tell which constant the proof saved ({name})",
                           tuple(axioms))
        for axiom in axioms:
            before = await _constant_of(proc, axiom, config)
            if before is None or before != after[axiom]:
                return Verdict(False, f"axiom {axiom} is not from the statement's prelude",
                               tuple(axioms))
        return Verdict(True, axioms=tuple(axioms))
    finally:
        await proc.close()


async def save_proof(proc: CoqProcess, proof: list[str], statement_name: str,
                      timeout_s: float, seconds: int | None = None
                      ) -> tuple[str, SentenceFailed | None]:
    """End the proof with ``Save`` under :data:`VERIFY_NAME` (``Timeout seconds`` when given);
    return the name the proof was saved under and the failure, if any.

    ``Save`` refuses a few statements (mutual ones); ``Qed`` then saves the proof under the
    statement's own name. A timed-out ``Save`` is not tried again.
    """
    save = f"Save {VERIFY_NAME}."
    qed = "Qed."
    if seconds is not None:
        save, qed = timed(save, seconds), timed(qed, seconds)
    _, failed = await proc.sync([*proof, save], timeout_s)
    if failed is None:
        return VERIFY_NAME, None
    if failed.timed_out:
        return VERIFY_NAME, failed
    _, failed = await proc.sync([*proof, qed], timeout_s)
    return statement_name, failed


async def _constant_of(proc: CoqProcess, name: str, config: CoqConfig) -> str | None:
    ok, text = await proc.query(f"Locate {name}.", config.init_timeout_s)
    if not ok:
        return None
    first = text.strip().splitlines()[0] if text.strip() else ""
    if first.startswith("No object") or not first:
        return None
    return first


__all__ = ["VERIFY_NAME", "Verdict", "parse_assumptions", "save_proof", "verify_proof"]
