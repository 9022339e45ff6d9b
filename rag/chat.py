"""One answer: retrieve → prompt → stream, as an async iterator of `AnswerEvent`s.

The retrieved chunks come first (so the UI can show them while the model thinks), then text
deltas, then the stats. If the engine fails, the hits are still delivered and an `ErrorEvent`
says what to change; the caller keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator, Sequence

from rag.errors import RagError
from rag.library import Library
from rag.llm import LLM, default_sampling, get_llm
from rag.prompts import build_prompt
from rag.settings import Settings
from rag.types import (
    AnswerEvent,
    DeltaEvent,
    ErrorEvent,
    GenerationStats,
    HitsEvent,
    StatsEvent,
    Usage,
)

log = logging.getLogger(__name__)


async def answer(
    question: str,
    history: Sequence[dict[str, str]],
    library: Library,
    llm: LLM,
    owners: Sequence[str],
    doc_ids: Sequence[str] | None = None,
    k: int | None = None,
) -> AsyncIterator[AnswerEvent]:
    try:
        retrieval = await asyncio.to_thread(library.retrieve, question, owners, k, doc_ids)
    except RagError as exc:
        yield ErrorEvent(f"retrieval failed: {exc}")
        return
    yield HitsEvent(retrieval.hits)
    settings = library.settings
    usage = Usage()
    try:
        await llm.backend()
        prompt = build_prompt(
            question,
            retrieval.hits,
            history,
            llm.count_tokens,
            settings.max_model_len,
            settings.max_tokens,
            settings.history_tokens,
        )
        started = time.perf_counter()
        async for text in llm.stream(prompt.messages, default_sampling(settings, prompt.max_tokens), usage):
            yield DeltaEvent(text)
    except RagError as exc:
        yield ErrorEvent(str(exc))
        return
    except Exception as exc:  # a dead engine or a dropped server connection mid-answer
        log.exception("generation failed")
        yield ErrorEvent(
            f"generation failed ({type(exc).__name__}: {exc}); the sources above are still valid"
        )
        return
    elapsed = time.perf_counter() - started
    first = usage.first_token_s or elapsed
    decode_s = max(elapsed - first, 1e-6)
    yield StatsEvent(
        GenerationStats(
            model=llm.model_name,
            retrieval_ms=round(retrieval.elapsed_ms, 1),
            first_token_ms=round(first * 1000, 1),
            output_tokens=usage.output_tokens,
            tokens_per_s=round(max(usage.output_tokens - 1, 0) / decode_s, 1),
        )
    )


async def print_answer(settings: Settings, question: str, owners: Sequence[str], k: int | None) -> int:
    """`python -m rag ask`: stream the answer to the terminal, then the numbered sources."""
    library = Library.open(settings)
    llm = get_llm(settings)
    print(f"(starting {settings.llm_backend} model {llm.model_name} …)", file=sys.stderr, flush=True)
    hits, status = [], 0
    async for event in answer(question, [], library, llm, owners, k=k):
        if isinstance(event, HitsEvent):
            hits = event.hits
        elif isinstance(event, DeltaEvent):
            print(event.text, end="", flush=True)
        elif isinstance(event, ErrorEvent):
            print(f"\nerror: {event.message}", file=sys.stderr)
            status = 1
        elif isinstance(event, StatsEvent):
            print(f"\n\n({describe_stats(event.stats)})", file=sys.stderr)
    print("\nSources (score = cosine similarity, higher is closer):")
    for hit in hits:
        page = f", page {hit.chunk.page}" if hit.chunk.page else ""
        print(f"[{hit.rank}] {hit.chunk.source}{page} (score {hit.score:.3f})")
    llm.shutdown()
    return status


def describe_stats(stats: GenerationStats) -> str:
    """The one-line summary shown under an answer (CLI and web app)."""
    return (
        f"{stats.model} · retrieval {stats.retrieval_ms:.0f} ms · first token {stats.first_token_ms:.0f} ms"
        f" · {stats.output_tokens} tokens · {stats.tokens_per_s:.1f} tokens/s"
    )
