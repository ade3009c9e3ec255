"""What the REPL backend checks before a proof counts: at the step that claims it, and in
``verify``.

The REPL's ``proofStatus: "Completed"`` comes from a kernel check of the proof term
(``getProofStatus`` in the REPL's ``Main.lean``: type, metavariables, ``addDecl``, ``sorry``)
that looks at no axioms, so a ``native_decide`` step is "Completed". At a claim, the tactic
path is compiled as the whole theorem in the header's environment (one command, no new import)
and ``#print axioms NAME`` is asked in the environment that command made; ``verify`` does the
same with the header in a fresh environment. Either fails on an error, a ``sorry`` (in any
wording of its warning), a proof text that leaves the ``by`` block (:func:`proof_escape`), a
statement whose theorem name cannot be read, an axiom answer that cannot be read, or an axiom
beyond ``allowed_axioms`` (:mod:`prover.backends.lean.axioms`).

``run`` below is the process's ``server.run`` with its timeout bound: its exceptions (a dead or
killed process) are the caller's to handle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from prover.backends.lean.axioms import axioms_problem, parse_axioms
from prover.backends.lean.repl_process import LostStates, errors, lost_states
from prover.backends.lean.source import (
    declared_theorem_name,
    proof_escape,
    statement_with_proof,
    with_header,
)

Run = Callable[[Any], Any]
"""Sends one request to the REPL process and returns its answer (lean-interact's models)."""

NO_NAME = ("the formal statement declares no theorem or lemma whose name could be read, so the "
           "proof's axioms cannot be checked (allowed_axioms=None accepts proofs unchecked)")


def compile_problem(response: Any, li: Any) -> str | None:
    """Why a proof command's answer does not let the proof count, or ``None``."""
    if isinstance(response, li.LeanError):
        return f"the REPL rejected the proof: {response.message}"
    # lean_code_is_valid matches the sorry warning's exact text; any wording of it counts.
    sorry_warned = any("declaration uses" in m.data and "sorry" in m.data
                       for m in response.messages)
    if not response.lean_code_is_valid(allow_sorry=False) or response.sorries or sorry_warned:
        messages = [m.data for m in response.messages]
        return f"compiled as a whole, the proof does not check: {messages}"
    return None


def axioms_answer_problem(response: Any, li: Any, declared: str,
                          allowed: frozenset[str]) -> str | None:
    """Why the answer to ``#print axioms declared`` does not let the proof count, or ``None``
    when it names only ``allowed`` axioms."""
    what = f"`#print axioms {declared}`"
    if isinstance(response, li.LeanError):
        return f"{what} failed: {response.message}"
    problems = errors(response)
    if problems:
        return f"{what} failed: {problems[0]}"
    answers = [p for m in response.messages if m.severity == "info"
               and (p := parse_axioms(m.data)) is not None]
    problem = axioms_problem(answers, declared, allowed, what)
    if problem is not None and len(answers) != 1:
        problem += f": {[m.data for m in response.messages]}"
    return problem


def _axioms(run: Run, li: Any, env: int, declared: str, allowed: frozenset[str] | None,
            lost_ok: bool) -> str | None:
    if allowed is None:
        return None
    # A command of its own, in the environment the proof made: messages the proof itself
    # printed (a logInfo in a tactic) cannot pass for its answer.
    answer = run(li.Command(cmd=f"#print axioms {declared}", env=env))
    if not lost_ok and lost_states(answer, li):
        raise LostStates(answer.message)
    return axioms_answer_problem(answer, li, declared, allowed)


def claim_problem(run: Run, li: Any, header_env: int | None, statement: str,
                  path: Sequence[str], allowed: frozenset[str] | None) -> str | None:
    """Why the proof that ``path`` claims does not count, or ``None`` (see the module
    docstring). A process that forgot ``header_env`` raises :class:`LostStates`."""
    if allowed is None:
        return None
    escape = proof_escape(path)
    if escape is not None:
        return (f"the proof holds {escape!r} outside a comment, which gives up on it or leaves "
                "it for the top level")
    declared = declared_theorem_name(statement)
    if declared is None:
        return NO_NAME
    response = run(li.Command(cmd=statement_with_proof(statement, path), env=header_env))
    if lost_states(response, li):
        raise LostStates(response.message)
    problem = compile_problem(response, li)
    if problem is not None:
        return problem
    return _axioms(run, li, response.env, declared, allowed, lost_ok=False)


def verify_problem(run: Run, li: Any, header: str, statement: str, tactics: Sequence[str],
                   allowed: frozenset[str] | None) -> str | None:
    """Why ``verify`` refuses the proof (header + statement + proof compiled in a fresh
    environment, then its axioms), or ``None``."""
    escape = proof_escape(tactics)
    if escape is not None:
        return (f"it holds {escape!r} outside a comment, which gives up on the proof or leaves "
                "it for the top level")
    declared = declared_theorem_name(statement)
    if declared is None and allowed is not None:
        # without a name there is no `#print axioms`: refuse rather than accept unchecked
        return NO_NAME
    response = run(li.Command(cmd=with_header(header, statement_with_proof(statement, tactics))))
    problem = compile_problem(response, li)
    if problem is not None or declared is None:
        return problem
    return _axioms(run, li, response.env, declared, allowed, lost_ok=True)


__all__ = ["NO_NAME", "Run", "axioms_answer_problem", "claim_problem", "compile_problem",
           "verify_problem"]
