"""What the two Lean backends (:mod:`prover.backends.repl`, :mod:`prover.backends.leandojo`)
share or keep apart by idea: Lean source text (:mod:`.source`), the axiom policy
(:mod:`.axioms`), the REPL's processes (:mod:`.repl_process`) and sessions
(:mod:`.repl_session`), LeanDojo's Dojo factories (:mod:`.dojo_support`) and its claim check
(:mod:`.dojo_claims`). Nothing heavy (``lean_interact``, ``lean_dojo``) is imported here.
"""
