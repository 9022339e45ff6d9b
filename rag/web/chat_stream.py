"""The chat event: one streamed answer as the successive states of the chat, sources and stats.

The chunks panel fills first; the sentences of each source that bear on the question are marked
as soon as the answer stream has found them (rag.answer runs the review, rag.review); then the
answer grows; once its review arrives its [n] become links to the sources (a cited source that
doesn't exist is struck through), the checks go under it with the stats, and the turn with its
checks (or the error that ended it) is saved to the workspace's conversation. Anything slow runs
off the event loop, which every other chat streams on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence

from rag.assistant import Assistant
from rag.errors import StoreError
from rag.types import (
    Context,
    DeltaEvent,
    ErrorEvent,
    EvidenceEvent,
    Hit,
    HitsEvent,
    ReviewEvent,
    StatsEvent,
)
from rag.web.answer_sources import group_html, panel_html, relink, saved_groups
from rag.web.render import chat_markdown, chat_text, kept_metadata, stats_lines, turn_metadata
from rag.web.sources import answer_key, link_citations, sources_html, unlink_citations
from rag.workspace.conversations import Turn

ChatHistory = list[dict]
log = logging.getLogger(__name__)


async def stream_chat(
    assistant: Assistant,
    owner: str,
    question: str,
    history: ChatHistory,
    doc_ids: Sequence[str] | None,
    conversation_id: str,
) -> AsyncIterator[tuple]:
    """Yields (chat messages, sources HTML, stats line, question box, conversation id); `history`
    is the chat as shown (text, with the Chatbot's escaping and citation links; a saved answer keeps
    the `metadata` that names its turn, see `render.turn_metadata`)."""
    earlier = [{"role": m["role"], "content": unlink_citations(chat_text(m["content"]))} for m in history]
    shown = [
        {"role": e["role"], "content": chat_markdown(e["content"])} | kept_metadata(m)
        for m, e in zip(history, earlier, strict=True)
    ]
    shown += [{"role": "user", "content": chat_markdown(question)}, {"role": "assistant", "content": ""}]
    sources, reply, stats, hits, query, context = sources_html([]), "", "", [], "", {}
    checks, key, marks = None, "", {}
    saved_before = await asyncio.to_thread(assistant.conversation, owner, conversation_id)
    relink(shown, history, saved_before)  # the earlier answers' [n] open their own sources
    earlier_sources = saved_groups(saved_before.turns if saved_before else [])

    def panel() -> str:  # this answer's sources after the earlier answers' (their [n] open them)
        number = len(earlier_sources) + 1
        return panel_html([*earlier_sources, group_html(sources, question, key, number, True)])

    if assistant.embedder_status == "loading":  # the app's first seconds (rag/retrieval/loading.py)
        yield shown, panel(), "Waiting for the embedding model to load…", "", conversation_id
    failed = await asyncio.to_thread(assistant.wait_for_library)  # off the loop: other chats go on
    if failed:
        shown[-1]["content"] = chat_markdown(f"⚠️ The search is unavailable: {failed}")
        yield shown, panel(), "Error: see the answer", "", conversation_id
        return
    yield shown, panel(), "Retrieving…", "", conversation_id
    async for event in assistant.answer(question, owner, earlier, doc_ids):
        if isinstance(event, HitsEvent):
            hits, query = event.hits, getattr(event, "query", "")
            context = await asyncio.to_thread(neighbours, assistant, owner, hits)
            sources = sources_html(hits, query, context=context)
            ready = assistant.engine_state.status == "ready"
            yield (
                shown,
                panel(),
                "Generating…" if ready else "Waiting for the model to load…",
                "",
                conversation_id,
            )
        elif isinstance(event, EvidenceEvent):  # shown with the next delta; the review replaces it
            sources = sources_html(hits, query, event.marks, context=context)
        elif isinstance(event, DeltaEvent):
            reply += event.text
            shown[-1]["content"] = chat_markdown(reply)
            yield shown, panel(), "Generating…", "", conversation_id
        elif isinstance(event, ErrorEvent):
            reply = f"⚠️ The model could not answer: {event.message}"
            shown[-1]["content"] = chat_markdown(reply)
            stats = "Error: see the answer"
        elif isinstance(event, StatsEvent):
            stats = event.stats.describe()
            key = answer_key(question, reply)  # its links open its own sources, not a later answer's
            shown[-1]["content"] = link_citations(chat_markdown(reply), [hit.rank for hit in hits], key)
        elif isinstance(event, ReviewEvent):
            checks, marks = event.checks, event.marks
            sources = sources_html(hits, query, marks, checks.valid, context, key)
    turn = Turn(question, reply, hits, stats, query, checks, marks=marks)
    saved = await asyncio.to_thread(assistant.save_turn, owner, conversation_id or None, turn)
    shown[-1]["metadata"] = turn_metadata(saved)
    yield shown, panel(), stats_lines(stats, checks), "", saved.conversation


def neighbours(assistant: Assistant, owner: str, hits: Sequence[Hit]) -> Context:
    """The neighbouring chunks for "Show in context", an extra: if the store can't say, the
    sources show without them."""
    try:
        return assistant.in_context(owner, hits)
    except StoreError as exc:
        log.warning("no context for the sources: %s", exc)
        return {}


def flatten(content: object) -> str:
    """Gradio 6 sends message content as a list of blocks; keep the text, drop files."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text", "")) if content.get("type", "text") == "text" else ""
    if isinstance(content, list | tuple):
        return "\n".join(part for part in (flatten(item) for item in content) if part)
    return str(content)
