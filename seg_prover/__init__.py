"""The ``seg-prover`` command: the argparse root above every package of the project.

``seg_prover`` imports ``prover``, ``heuristics``, ``rollout`` and ``benchmarks``; none of them
imports it, so the command can offer everything while the core stays free of the experiments.
Run it as ``seg-prover ...`` or ``python -m seg_prover ...``; :func:`seg_prover.cli.main` is
the entry point.
"""
