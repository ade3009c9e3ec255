"""What the two Lean backends (:mod:`prover.backends.repl`, :mod:`prover.backends.leandojo`)
share or keep apart, one idea per module: Lean source text (:mod:`.source`), the axiom policy
(:mod:`.axioms`), the REPL's processes and pool (:mod:`.repl_process`) and what it checks before
a proof counts (:mod:`.repl_checks`), LeanDojo's import and Dojo factories
(:mod:`.dojo_support`) and its claim check (:mod:`.dojo_claims`). Nothing heavy
(``lean_interact``, ``lean_dojo``) is imported here.
"""
