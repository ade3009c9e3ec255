"""Batching gain of :class:`~prover.generators.batching.MicroBatcher`: states per second when
N searches propose concurrently, as a ratio to one search.

Each of N streams plays a search: it asks for candidates for its own state, waits
``--env-ms`` (standing for the prover applying them), and asks again, for ``--seconds``. All
streams share one batcher over one model, as searches in one process do. The last row runs the
largest N without the batcher (each call decodes alone, one at a time, the way ReProver's
per-actor generators do), to show that the gain comes from batching rather than concurrency.

The default model is a small random-weight GPT-2 built from its config with ByT5's byte
tokenizer (no download); ``--model PATH`` measures a real checkpoint instead.

Run: ``python -m benchmarks.batching [--streams 1,8,32] [--seconds 5] [--k 8]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence
from typing import Any

from prover.generators.base import TacticGenerator
from prover.generators.batching import MicroBatcher
from prover.generators.decoding import DecodingConfig
from prover.generators.hf import HFTacticGenerator
from prover.types import ProofState


def tiny_model(hidden: int, layers: int, decoding: DecodingConfig,
               device: str = "cpu") -> HFTacticGenerator:
    """A random-weight GPT-2 over bytes (ByT5's tokenizer needs no files), on ``device``
    (bfloat16 on CUDA, as :meth:`HFTacticGenerator.from_pretrained` would load it)."""
    import torch
    from transformers import ByT5Tokenizer, GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=384, n_embd=hidden, n_layer=layers, n_head=4,
                        n_positions=2048, bos_token_id=1, eos_token_id=1, pad_token_id=0)
    model = GPT2LMHeadModel(config).eval()
    if device.startswith("cuda"):
        model = model.to(device=device, dtype=torch.bfloat16)
    return HFTacticGenerator(model, ByT5Tokenizer(), kind="causal",
                             decoding=decoding)


def states(count: int) -> list[ProofState]:
    """Distinct Lean-looking states of similar length (~200 characters)."""
    return [ProofState((f"a b c : ℕ\nh{i} : a + {i} ≤ b\nh' : b < c * {i + 1}\n"
                        f"hc : 0 < c\n⊢ a + {i} < c * {i + 1} + {i} * b",))
            for i in range(count)]


async def stream(generator: TacticGenerator, state: ProofState, k: int, env_s: float,
                 deadline: float, latencies: list[float]) -> int:
    done = 0
    while time.monotonic() < deadline:
        began = time.monotonic()
        await generator.propose(state, k)
        latencies.append(time.monotonic() - began)
        done += 1
        if env_s:
            await asyncio.sleep(env_s)
    return done


async def measure(generator: TacticGenerator, n: int, k: int, env_s: float,
                  seconds: float) -> dict[str, float]:
    """States per second and latency with ``n`` concurrent streams for ``seconds``."""
    latencies: list[float] = []
    began = time.monotonic()
    deadline = began + seconds
    counts = await asyncio.gather(*(stream(generator, s, k, env_s, deadline, latencies)
                                    for s in states(n)))
    elapsed = time.monotonic() - began
    return {"states_per_s": sum(counts) / elapsed,
            "p50_latency_s": statistics.median(latencies) if latencies else float("nan")}


def mean_batch(batcher: MicroBatcher, before: dict[int, int]) -> float:
    sizes = {size: count - before.get(size, 0) for size, count in batcher.batch_sizes.items()}
    batches = sum(sizes.values())
    return sum(size * count for size, count in sizes.items()) / batches if batches else 0.0


async def run(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    decoding = DecodingConfig(strategy=args.strategy, max_new_tokens=args.max_new_tokens)
    model: HFTacticGenerator
    if args.model:
        model = HFTacticGenerator.from_pretrained(args.model, decoding=decoding,
                                                  **({"gguf_file": args.gguf_file}
                                                     if args.gguf_file else {}))
    else:
        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        model = tiny_model(args.hidden, args.layers, decoding, device)
    ns = [int(n) for n in args.streams.split(",")]
    batcher = MicroBatcher(model, max_batch=args.max_batch, max_wait_ms=args.max_wait_ms)
    env_s = args.env_ms / 1000.0
    for n in (1, max(ns)):  # warm-up: first calls pay one-time setup costs
        await asyncio.gather(*(batcher.propose(s, args.k) for s in states(n)))
    print(f"model: {model!r}")
    print(f"torch threads={args.threads} k={args.k} {args.strategy} "
          f"max_new_tokens={args.max_new_tokens} env={args.env_ms} ms "
          f"max_batch={args.max_batch} max_wait={args.max_wait_ms} ms {args.seconds} s per row")
    print(f"{'N':>4} {'mode':>9} {'states/s':>9} {'ratio':>6} {'mean batch':>10} "
          f"{'p50 latency':>12}")
    base: float | None = None
    rows: list[tuple[int, str, dict[str, float], float]] = []
    for n in ns:
        before = dict(batcher.batch_sizes)
        result = await measure(batcher, n, args.k, env_s, args.seconds)
        rows.append((n, "batched", result, mean_batch(batcher, before)))
    rows.append((max(ns), "unbatched", await measure(model, max(ns), args.k, env_s,
                                                      args.seconds), 1.0))
    for n, mode, result, batch in rows:
        if base is None:
            base = result["states_per_s"]
        print(f"{n:>4} {mode:>9} {result['states_per_s']:>9.1f} "
              f"{result['states_per_s'] / base:>6.2f} {batch:>10.1f} "
              f"{result['p50_latency_s'] * 1000:>10.0f} ms")
    batcher.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--streams", default="1,8,32", help="comma-separated N")
    parser.add_argument("--seconds", type=float, default=5.0, help="per row")
    parser.add_argument("--k", type=int, default=8, help="candidates per call")
    parser.add_argument("--strategy", choices=("beam", "sample"), default="beam")
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--env-ms", type=float, default=5.0, help="simulated prover time")
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--model", default=None, help="a checkpoint instead of the tiny model")
    parser.add_argument("--gguf-file", default=None)
    parser.add_argument("--device", default=None,
                        help="device of the tiny model (default: cuda when present, else cpu)")
    args: Any = parser.parse_args(argv)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
