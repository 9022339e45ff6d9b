"""Simultaneous chats through the running web app with `gradio_client`: 1 chat (the baseline)
vs N at once. Every chat must stream (several intermediate outputs) and finish.

    .venv/bin/python bench/app_chats.py [--url http://127.0.0.1:7860/] [--chats 8] [--tokens 64]

Without --url it starts `python app.py` itself on 127.0.0.1 with a temporary store and the
sample documents.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gradio_client import Client

from rag.web.handlers import flatten
from tests.e2e.conftest import start_app, stop_app

QUESTIONS = [
    "What do the parameters for HNSW mean?",
    "What consistency levels does Milvus offer?",
    "Which metric types can I use for float vectors?",
    "How do I create a collection in the quickstart?",
    "What is Milvus Lite?",
    "What does IVF_FLAT do?",
    "How is strong consistency different from bounded staleness?",
    "What is the inner product metric?",
]


def chat(url: str, question: str) -> dict:
    client = Client(url, verbose=False)
    started = time.perf_counter()
    first, updates, last = None, 0, None
    for output in client.submit(question, [], [], False, api_name="/chat"):
        updates += 1
        content = flatten(output[0][-1]["content"]) if output[0] else ""
        if first is None and content.strip():
            first = time.perf_counter() - started
        last = output
    stats = str(last[2])
    tokens = int(re.search(r"(\d+) tokens ·", stats).group(1))
    return {"ttft": first or 0.0, "updates": updates, "tokens": tokens, "wall": time.perf_counter() - started}


def run(url: str, chats: int) -> list[tuple]:
    chat(url, "warm-up question")
    Client(url, verbose=False).predict(api_name="/load_sample")
    rows = []
    for n in (1, chats):
        began = time.perf_counter()
        with ThreadPoolExecutor(n) as pool:
            results = list(pool.map(lambda i: chat(url, QUESTIONS[i % len(QUESTIONS)]), range(n)))
        wall = time.perf_counter() - began
        tokens = sum(r["tokens"] for r in results)
        streamed = sum(1 for r in results if r["updates"] >= 3)
        ttft = statistics.median(r["ttft"] for r in results) * 1000
        rows.append((n, streamed, ttft, tokens, wall, tokens / wall))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url")
    parser.add_argument("--chats", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    process = None
    url = args.url
    if not url:
        data = Path(tempfile.mkdtemp())
        process, url = start_app(data, data / "app.log", RAG_MAX_TOKENS=str(args.tokens))
    try:
        rows = run(url, args.chats)
    finally:
        if process:
            stop_app(process)
    print("| chats at once | streamed | TTFT p50 ms | tokens | wall s | aggregate tokens/s | vs 1 chat |")
    print("|---|---|---|---|---|---|---|")
    for n, streamed, ttft, tokens, wall, rate in rows:
        speedup = rate / rows[0][5]
        print(f"| {n} | {streamed}/{n} | {ttft:.0f} | {tokens} | {wall:.1f} | {rate:.1f} | {speedup:.2f}x |")


if __name__ == "__main__":
    main()
