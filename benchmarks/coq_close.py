"""Closing Coq sessions with tactics in flight: does ``close`` kill or restart ``coqidetop``?

Run ``python -m benchmarks.coq_close``. It opens ``--closes`` sessions one after another on a
pool of one process; each starts a few tactics (fast ones and one that loops until Coq's
``Timeout``) and is closed after a short, varying delay. It prints how many closes lost the
process (the next session got another one), how many restarts sessions made (each replays the
file prefix), and the wall time. A healthy ``close`` loses nothing: 0 and 0.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence

from prover.backends.coq import CoqEnvironment
from prover.types import Theorem

THEOREM = Theorem("conj_example", "Lemma conj_example : forall n : nat, n + 0 = n /\\ True.",
                  {"prelude": "Require Import Arith."})
LOOP = "intros; repeat (assert True by trivial)."
MIXES = (("intros n.", "intros n; split.", "auto.", "simpl.", "idtac."),
         ("intros n; split.", "auto.", LOOP),
         ("intros n.", LOOP, "intros n; split."))


async def measure(closes: int, tactic_timeout_s: float) -> dict[str, float]:
    """Closes made, processes lost (the next session got another one), session restarts."""
    env = CoqEnvironment(tactic_timeout_s=tactic_timeout_s, max_processes=1)
    lost = restarts = 0
    previous: int | None = None
    began = time.monotonic()
    try:
        for round_ in range(closes):
            session = await env.open(THEOREM)
            lost += previous is not None and session.pid != previous
            previous = session.pid
            running = [asyncio.ensure_future(session.apply(session.root, tactic))
                       for tactic in MIXES[round_ % len(MIXES)]]
            await asyncio.sleep(0.0005 * (round_ % 9))
            await session.close()
            await asyncio.gather(*running, return_exceptions=True)
            restarts += session.restarts
    finally:
        await env.close()
    return {"closes": closes, "processes_lost": lost, "session_restarts": restarts,
            "wall_s": time.monotonic() - began}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.coq_close",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--closes", type=int, default=60)
    parser.add_argument("--tactic-timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    result = asyncio.run(measure(args.closes, args.tactic_timeout))
    print(", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                    for k, v in result.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
