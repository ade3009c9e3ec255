"""What the LeanDojo backend checks at the step that claims a proof.

LeanDojo's tactic mode answers ``ProofFinished`` after ``validateProof`` (its ``Lean4Repl.lean``:
type, ``sorry``, metavariables, a kernel ``addDecl``) and its ``check_proof`` compiles the file
and looks for ``sorry`` warnings only: neither looks at axioms. So the found proof is compiled
once more in a command-mode Dojo placed where the theorem starts in its file (same imports,
opens and namespaces, the theorem not yet declared): the theorem's own declaration head, the
tactic path as its ``by`` block, then ``#print axioms NAME``. LeanDojo's command REPL prints
every non-error message (``println!``), which comes back as ``CommandState.message``; errors
come back as a ``LeanError``. The answer is judged by :mod:`prover.backends.lean.axioms`.
"""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Sequence
from typing import Any

from prover.backends.lean.axioms import axioms_problem, find_axioms
from prover.backends.lean.dojo_support import CommandDojoFactory, quiet_exit
from prover.backends.lean.source import declared_theorem_name, proof_escape
from prover.backends.lean_layout import join_lean_tactics
from prover.types import Theorem


def claim_command(head: str, path: Sequence[str], name: str) -> str:
    """The commands that redeclare the theorem with the proof ``path`` and print its axioms."""
    body = textwrap.indent(join_lean_tactics(path), "  ")
    return f"{head.rstrip()} by\n{body}\n\n#print axioms {name}"


def claim_problem(dojo: Any, state: Any, ld: Any, head: str, path: Sequence[str],
                  allowed: frozenset[str]) -> str | None:
    """Why the proof ``path`` does not count, asked of the command-mode ``dojo`` in its
    initial ``state``, or ``None``. Exceptions of ``dojo.run_cmd`` propagate."""
    escape = proof_escape(path)
    if escape is not None:
        return (f"the proof holds {escape!r} outside a comment, which gives up on it or leaves "
                "it for the top level")
    name = declared_theorem_name(head)
    if name is None:
        return (f"the theorem's declaration {head[:80]!r} has no name that could be read, so "
                "the proof's axioms cannot be checked (allowed_axioms=None accepts proofs "
                "unchecked)")
    result = dojo.run_cmd(state, claim_command(head, path, name))
    if isinstance(result, ld.LeanError):
        return f"compiled as a whole, the proof does not check: {result.error}"
    output = result.message or ""
    if "declaration uses 'sorry'" in output or "declaration uses `sorry`" in output:
        return "compiled as a whole, the proof uses sorry"
    return axioms_problem(find_axioms(output), name, allowed, f"`#print axioms {name}`")


class ClaimChecker:
    """The command-mode Dojo of one session, entered on first use and kept (entering it loads
    the file up to the theorem). Driven by the session's thread only."""

    def __init__(self, factory: CommandDojoFactory, theorem: Theorem, timeout_s: int,
                 init_lock: threading.Lock) -> None:
        self._factory = factory
        self._theorem = theorem
        self._timeout_s = timeout_s
        self._init_lock = init_lock
        self._entered: tuple[Any, Any, Any, str] | None = None  # (cm, dojo, state, head)
        self.entering: Any = None  # the Dojo inside __enter__, so that a kill can reach it

    @property
    def dojo(self) -> Any:
        """The command-mode Dojo (being) entered, or ``None``."""
        return self._entered[1] if self._entered is not None else self.entering

    def problem(self, ld: Any, path: Sequence[str], allowed: frozenset[str]) -> str | None:
        """:func:`claim_problem` in this session's command-mode Dojo (entered if needed).
        On any exception the Dojo is closed, to be entered afresh next time."""
        try:
            if self._entered is None:
                with self._init_lock:  # Dojo.__enter__ changes the process's directory
                    cm, head = self._factory(self._theorem, self._timeout_s)
                    self.entering = cm
                    try:
                        dojo, state = cm.__enter__()
                    except BaseException:
                        quiet_exit(cm)
                        raise
                    finally:
                        self.entering = None
                self._entered = (cm, dojo, state, head)
            _, dojo, state, head = self._entered
            return claim_problem(dojo, state, ld, head, path, allowed)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        entered, self._entered = self._entered, None
        if entered is not None:
            quiet_exit(entered[0])


__all__ = ["ClaimChecker", "claim_command", "claim_problem"]
