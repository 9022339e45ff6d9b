"""Engine start, time to first token and tokens/s: 1 stream (the baseline) vs N concurrent streams.

    .venv/bin/python bench/generation.py [--concurrency 4] [--tokens 128] [--shared-prompt]

Uses the configured model (CPU default: the prepared SmolLM2) through the same `LLM` holder
the app uses, with a RAG-sized prompt (about 1,060 tokens). Every request gets its own prompt, so
the prefill is paid each time as in real use; `--shared-prompt` sends one prompt to all, which
vLLM's prefix cache serves, to show the decode rate alone.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
os.environ.setdefault("VLLM_CONFIGURE_LOGGING", "0")  # keep vLLM's logs out of the table

from rag.generation.backends import SamplingConfig
from rag.generation.llm import LLM
from rag.settings import Settings
from rag.types import Usage

CONTEXT = " ".join(
    f"[{i}] Milvus builds an HNSW index with parameters M and efConstruction; search uses ef."
    for i in range(40)
)
REQUESTS = itertools.count(1)


def messages(n: int) -> list[dict[str, str]]:
    """A distinct prompt per request (`n` first), so vLLM's prefix cache can't skip the prefill."""
    return [
        {"role": "system", "content": "Answer from the context."},
        {"role": "user", "content": f"Request {n}. {CONTEXT}\n\nQuestion: what do the HNSW parameters mean?"},
    ]


async def one(llm, tokens: int, shared_prompt: bool) -> tuple[float, int, float]:
    usage = Usage()
    started = time.perf_counter()
    prompt = (await llm.ready()).tokenize(messages(0 if shared_prompt else next(REQUESTS)))
    async for _ in llm.stream(prompt, SamplingConfig(0.0, 1.0, tokens), usage):
        pass
    return usage.first_token_s or 0.0, usage.output_tokens, time.perf_counter() - started


async def run(concurrency: int, tokens: int, shared_prompt: bool) -> list[tuple[str, float, float, float]]:
    llm = LLM(Settings.from_env())
    started = time.perf_counter()
    backend = await llm.ready()
    start_s = time.perf_counter() - started
    tokens_in = backend.tokenize(messages(0)).n_tokens
    print(f"model {llm.model_name}; engine start {start_s:.1f} s; prompt {tokens_in} tokens")
    await one(llm, 8, shared_prompt)  # warm-up
    rows = []
    for n in (1, concurrency):
        began = time.perf_counter()
        results = await asyncio.gather(*(one(llm, tokens, shared_prompt) for _ in range(n)))
        wall = time.perf_counter() - began
        ttft = statistics.median(r[0] for r in results) * 1000
        total = sum(r[1] for r in results)
        rows.append((f"{n} stream(s)", ttft, total / wall, total / wall / n))
    llm.shutdown()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument(
        "--shared-prompt",
        action="store_true",
        help="one prompt for all requests: prefill cached, decode only",
    )
    args = parser.parse_args()
    rows = asyncio.run(run(args.concurrency, args.tokens, args.shared_prompt))
    print("| run | TTFT p50 ms | aggregate tokens/s | tokens/s per stream | vs 1 stream |")
    print("|---|---|---|---|---|")
    base = rows[0][2]
    for name, ttft, agg, per in rows:
        print(f"| {name} | {ttft:.0f} | {agg:.1f} | {per:.1f} | {agg / base:.2f}x |")


if __name__ == "__main__":
    main()
