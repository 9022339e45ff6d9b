"""Engine start, time to first token and tokens/s: 1 stream (the baseline) vs N concurrent streams.

    .venv/bin/python bench/generation.py [--concurrency 4] [--tokens 128]

Uses the configured model (CPU default: the prepared SmolLM2) through the same `LLM` singleton
the app uses, with a RAG-sized prompt (about 700 tokens of context).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from rag.llm import SamplingConfig, get_llm
from rag.settings import Settings
from rag.types import Usage

CONTEXT = " ".join(
    f"[{i}] Milvus builds an HNSW index with parameters M and efConstruction; search uses ef."
    for i in range(40)
)
MESSAGES = [
    {"role": "system", "content": "Answer from the context."},
    {"role": "user", "content": f"{CONTEXT}\n\nQuestion: what do the HNSW parameters mean?"},
]


async def one(llm, tokens: int) -> tuple[float, int, float]:
    usage = Usage()
    started = time.perf_counter()
    async for _ in llm.stream(MESSAGES, SamplingConfig(0.0, 1.0, tokens), usage):
        pass
    return usage.first_token_s or 0.0, usage.output_tokens, time.perf_counter() - started


async def run(concurrency: int, tokens: int) -> list[tuple[str, float, float, float]]:
    llm = get_llm(Settings.from_env())
    started = time.perf_counter()
    await llm.backend()
    start_s = time.perf_counter() - started
    print(f"model {llm.model_name}; engine start {start_s:.1f} s; prompt {llm.count_tokens(MESSAGES)} tokens")
    await one(llm, 8)  # warm-up
    rows = []
    for n in (1, concurrency):
        began = time.perf_counter()
        results = await asyncio.gather(*(one(llm, tokens) for _ in range(n)))
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
    args = parser.parse_args()
    rows = asyncio.run(run(args.concurrency, args.tokens))
    print("| run | TTFT p50 ms | aggregate tokens/s | tokens/s per stream | vs 1 stream |")
    print("|---|---|---|---|---|")
    base = rows[0][2]
    for name, ttft, agg, per in rows:
        print(f"| {name} | {ttft:.0f} | {agg:.1f} | {per:.1f} | {agg / base:.2f}x |")


if __name__ == "__main__":
    main()
