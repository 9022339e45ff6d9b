"""The chat event: one streamed answer as the successive states of the chat, sources and stats.

The chunks panel fills first, then the answer grows, then the stats; the finished turn (or the
error that ended it) is saved to the workspace's conversation. Anything slow (retrieval, prompt
building, the save) runs off the event loop, which every other chat streams on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from rag.assistant import Assistant
from rag.conversations import Turn
from rag.render import chat_markdown, chat_text, sources_html
from rag.types import DeltaEvent, ErrorEvent, HitsEvent, StatsEvent

ChatHistory = list[dict]


async def stream_chat(
    assistant: Assistant,
    owner: str,
    question: str,
    history: ChatHistory,
    doc_ids: Sequence[str] | None,
    conversation_id: str,
) -> AsyncIterator[tuple]:
    """Yields (chat messages, sources HTML, stats line, question box, conversation id); `history`
    is the chat as shown (text, with the Chatbot's escaping)."""
    earlier = [{"role": m["role"], "content": chat_text(m["content"])} for m in history]
    shown = [{"role": m["role"], "content": chat_markdown(m["content"])} for m in earlier]
    shown += [{"role": "user", "content": chat_markdown(question)}, {"role": "assistant", "content": ""}]
    sources, reply, stats, hits = sources_html([]), "", "", []
    yield shown, sources, "Retrieving…", "", conversation_id
    async for event in assistant.answer(question, owner, earlier, doc_ids):
        if isinstance(event, HitsEvent):
            hits = event.hits
            sources = sources_html(hits)
            ready = assistant.llm.state.status == "ready"
            yield (
                shown,
                sources,
                "Generating…" if ready else "Waiting for the model to load…",
                "",
                conversation_id,
            )
        elif isinstance(event, DeltaEvent):
            reply += event.text
            shown[-1]["content"] = chat_markdown(reply)
            yield shown, sources, "Generating…", "", conversation_id
        elif isinstance(event, ErrorEvent):
            reply = f"⚠️ The model could not answer: {event.message}"
            shown[-1]["content"] = chat_markdown(reply)
            stats = "Error: see the answer"
        elif isinstance(event, StatsEvent):
            stats = event.stats.describe()
    conversation_id = await _save(assistant, owner, conversation_id, Turn(question, reply, hits, stats))
    yield shown, sources, stats, "", conversation_id


async def _save(assistant: Assistant, owner: str, conversation_id: str, turn: Turn) -> str:
    return await asyncio.to_thread(assistant.save_turn, owner, conversation_id or None, turn)


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
