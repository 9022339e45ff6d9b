"""The app's own overhead on time to first token: through `Assistant.answer` (retrieve, build and
tokenise the prompt, stream) against the bare engine given the very same prompt, in one run.

    .venv/bin/python bench/ttft_overhead.py [--questions 10]

Uses the configured model (CPU default: the prepared SmolLM2) and the sample documents. The order
alternates per question (app first, then engine first) so that whatever the engine caches from
the first run helps each side equally often. Target: overhead ≤ 50 ms + 10 % of the engine's TTFT.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
os.environ.setdefault("VLLM_CONFIGURE_LOGGING", "0")

from rag.assistant import SAMPLE_DIR, Assistant
from rag.generation.backends import SamplingConfig
from rag.generation.prompts import build_prompt
from rag.ingest.pipeline import collect_files
from rag.settings import Settings
from rag.types import SHARED_OWNER, DeltaEvent, HitsEvent, Usage

QUESTIONS = [
    "What do the parameters for HNSW mean?",
    "How do I install Milvus Lite?",
    "What index types does Milvus support?",
    "How does Milvus store vectors?",
    "What is a collection in Milvus?",
    "How do I search with a filter?",
    "What is the maximum dimension of a vector?",
    "How do I delete entities?",
    "What metric types can I use?",
    "How do I load a collection into memory?",
]


async def app_ttft(assistant: Assistant, question: str) -> tuple[float, list]:
    started = time.perf_counter()
    hits = []
    async for event in assistant.answer(question, SHARED_OWNER):
        if isinstance(event, HitsEvent):
            hits = event.hits
        elif isinstance(event, DeltaEvent):
            return time.perf_counter() - started, hits
    raise RuntimeError("no answer")


async def engine_ttft(assistant: Assistant, question: str, hits: list) -> float:
    backend = await assistant.llm.ready()
    prompt = build_prompt(question, hits, [], backend.tokenize, assistant.budget)
    sampling = SamplingConfig(0.0, 1.0, 4)
    started = time.perf_counter()
    async for _ in assistant.llm.stream(prompt.tokenized, sampling, Usage()):
        return time.perf_counter() - started
    raise RuntimeError("no answer")


async def run(n: int) -> list[tuple[float, float]]:
    with tempfile.TemporaryDirectory() as data:
        assistant = Assistant(Settings.from_env(data_dir=data, max_tokens=4))
        assistant.ingest(collect_files([SAMPLE_DIR]), SHARED_OWNER)
        await assistant.llm.ready()
        await app_ttft(assistant, "warm-up")
        pairs = []
        for i, question in enumerate((QUESTIONS * (n // len(QUESTIONS) + 1))[:n]):
            if i % 2 == 0:
                app_s, hits = await app_ttft(assistant, question)
                engine_s = await engine_ttft(assistant, question, hits)
            else:
                hits = assistant.retrieve(question, SHARED_OWNER).hits  # the hits the app will use
                engine_s = await engine_ttft(assistant, question, hits)
                app_s, _ = await app_ttft(assistant, question)
            pairs.append((app_s, engine_s))
        assistant.close()
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=10)
    args = parser.parse_args()
    pairs = asyncio.run(run(args.questions))
    app = statistics.median(a for a, _ in pairs) * 1000
    engine = statistics.median(e for _, e in pairs) * 1000
    overhead = statistics.median(a - e for a, e in pairs) * 1000
    budget = 50 + 0.10 * engine
    print(f"| measure (median of {len(pairs)} questions) | ms |")
    print("|---|---|")
    print(f"| TTFT, bare engine, same prompt (baseline) | {engine:.0f} |")
    print(f"| TTFT through the app (retrieve + prompt + stream) | {app:.0f} |")
    print(f"| app overhead (paired) | {overhead:.0f} |")
    print(f"| target: 50 ms + 10 % of the engine's TTFT | {budget:.0f} |")


if __name__ == "__main__":
    main()
