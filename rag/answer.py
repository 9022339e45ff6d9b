"""One answer: retrieve → prompt → stream → review, as an async iterator of `AnswerEvent`s.

The retrieved chunks come first (so the UI can show them while the model thinks), then text
deltas (with the sentences of the sources that bear on the question among them, once found), then
the stats, then the review of the complete answer (evidence marks and checks, rag.review). If
retrieval or the engine fails, an `ErrorEvent` says what happened (the hits, when there are some,
are still delivered), no review follows, and the caller keeps serving. Retrieval and
prompt building (tokenisation) run in worker threads: they are CPU work that must not stall the
event loop every other chat streams on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace

from rag.errors import EngineError, LimitError, RagError
from rag.generation.backends import SamplingConfig
from rag.generation.llm import LLM
from rag.generation.prompts import Message, PromptBudget, build_prompt
from rag.generation.repetition import RepetitionGuard
from rag.retrieval.library import Library, Retrieval
from rag.retrieval.query import rewrite_query, user_turns
from rag.review.answer_review import AnswerReviewer
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


@dataclass(frozen=True)
class Question:
    """What one answer is asked for: the words, the conversation so far and what may be searched."""

    text: str
    owners: Sequence[str]
    history: Sequence[Message] = field(default_factory=list)
    doc_ids: Sequence[str] | None = None
    k: int | None = None
    mode: str | None = None  # retrieval mode; None: RAG_RETRIEVAL (the evaluation compares modes)


async def _rewritten(question: str, earlier: list[str], llm: LLM, timeout_s: float) -> str | None:
    async def complete(messages: list[Message]) -> str:
        backend = await llm.ready()
        prompt = backend.tokenize(messages)
        return "".join([d async for d in llm.stream(prompt, SamplingConfig(0.0, 1.0, 64), Usage())])

    return await rewrite_query(question, earlier, complete, timeout_s)


def check_size(
    text: str,
    history: Sequence[Message],
    max_chars: int,
    max_history_chars: int,
    max_history_messages: int | None = None,
) -> None:
    """Refuse what is too big before any work is spent on it (cheap: lengths only)."""
    if len(text) > max_chars:
        raise LimitError(
            f"the question is {len(text):,} characters long; the limit is {max_chars:,} "
            "(RAG_MAX_QUESTION_CHARS): shorten it"
        )
    if max_history_messages is not None and len(history) > max_history_messages:
        raise LimitError(
            f"{len(history):,} earlier messages were sent with the question; the limit is "
            f"{max_history_messages:,} (RAG_MAX_HISTORY_MESSAGES): start a new chat"
        )
    sent = sum(len(str(m.get("content") or "")) for m in history)
    if sent > max_history_chars:
        raise LimitError(
            f"the earlier messages sent with the question hold {sent:,} characters; the limit is "
            f"{max_history_chars:,} (RAG_MAX_HISTORY_CHARS): start a new chat"
        )


def check_selection(doc_ids: Sequence[str] | None, limit: int) -> None:
    """Refuse a selection of more document ids than anyone could have ticked."""
    if doc_ids is not None and len(doc_ids) > limit:
        raise LimitError(
            f"{len(doc_ids):,} documents were selected; the limit is {limit:,} "
            "(RAG_MAX_SELECTED_DOCUMENTS): select fewer"
        )


async def answer(
    question: Question,
    library: Library,
    llm: LLM,
    budget: PromptBudget,
    sampling: SamplingConfig,
    rewrite_s: float = 0.0,
) -> AsyncIterator[AnswerEvent]:
    """`rewrite_s` > 0: a follow-up is first rewritten by the model into a standalone question,
    within that many seconds, else searched with the deterministic conversation query."""
    earlier = user_turns(question.history)
    try:
        text = await _rewritten(question.text, earlier, llm, rewrite_s) if rewrite_s and earlier else None
        if text:  # the model's standalone question stands for the conversation
            retrieval = await asyncio.to_thread(
                library.retrieve, text, question.owners, question.k, question.doc_ids, mode=question.mode
            )
            retrieval = replace(
                retrieval, query=f"Searched for: {text} (the question rewritten by the model)"
            )
        else:
            retrieval = await asyncio.to_thread(
                library.retrieve,
                question.text,
                question.owners,
                question.k,
                question.doc_ids,
                earlier,
                question.mode,
            )
    except RagError as exc:
        yield ErrorEvent(f"retrieval failed: {exc}")
        return
    except Exception as exc:  # the embedder or the store broke (out of memory, a lost connection)
        log.exception("retrieval failed")
        yield ErrorEvent(f"retrieval failed ({type(exc).__name__}); please try again")
        return
    yield HitsEvent(retrieval.hits, retrieval.query)
    reviewer = AnswerReviewer(library.embedder, question.text, retrieval.hits)
    generation = _generate(question, retrieval, llm, budget, sampling)
    async with aclosing(_reviewed(generation, reviewer)) as events:  # closed now, so Stop aborts the engine
        async for event in events:
            yield event


async def _reviewed(
    generation: AsyncGenerator[AnswerEvent], reviewer: AnswerReviewer
) -> AsyncGenerator[AnswerEvent]:
    """The generation's events with the review woven in: the question's marks (found in a worker
    thread while the model writes) at the first event after they are ready, and, once the answer
    is complete, the `ReviewEvent` last. A review that fails is logged and left out: the answer
    stands without it."""
    marking = asyncio.ensure_future(asyncio.to_thread(reviewer.question_marks))
    pending, reply, complete = True, [], False
    try:
        async with aclosing(generation):
            async for event in generation:
                if pending and marking.done():
                    pending = False
                    if (failed := marking.exception()) is None:
                        yield marking.result()
                    else:
                        log.warning("no marks for the question: %r", failed)
                if isinstance(event, DeltaEvent):
                    reply.append(event.text)
                complete = isinstance(event, StatsEvent)
                yield event
        if complete:
            await asyncio.wait([marking])  # its sentence index is the review's too
            try:
                yield await asyncio.to_thread(reviewer.review, "".join(reply))
            except Exception:
                log.exception("the answer review failed")
    finally:
        marking.cancel()


async def _generate(
    question: Question, retrieval: Retrieval, llm: LLM, budget: PromptBudget, sampling: SamplingConfig
) -> AsyncGenerator[AnswerEvent]:
    """The answer's text as it is written, then its stats (or the error that ended it)."""
    usage = Usage()
    try:
        backend = await llm.ready()
        prompt = await asyncio.to_thread(
            build_prompt, question.text, retrieval.hits, question.history, backend.tokenize, budget
        )
        limited = SamplingConfig(
            sampling.temperature, sampling.top_p, prompt.max_tokens, sampling.frequency_penalty
        )
        started = time.perf_counter()
        guard = RepetitionGuard()  # sampling settings alone don't stop a small model looping
        async for text in guard.watch(llm.stream(prompt.tokenized, limited, usage)):
            yield DeltaEvent(text)
        if guard.tripped:  # the stream was closed, so the engine aborted the request
            log.info("answer stopped: %s", guard.tripped.message)
            usage.finish_reason = "repetition"
            yield DeltaEvent(f"\n\n{guard.tripped.message}")
    except EngineError as exc:
        yield ErrorEvent(exc.public)
        return
    except RagError as exc:
        yield ErrorEvent(str(exc))
        return
    except Exception as exc:  # a dead engine or a dropped server connection mid-answer
        log.exception("generation failed")
        why = llm.state.detail if llm.state.status == "error" else type(exc).__name__
        yield ErrorEvent(f"generation failed ({why}); the sources above are still valid")
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
