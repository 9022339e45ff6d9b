"""Hits + question + history → chat messages that fit the model's context window.

The contexts are numbered as the user sees them ([1] is the best hit) and listed best last, the
seed's ordering: small models attend most to what is nearest the question. Earlier turns are
kept newest first within a token budget; the question and the contexts are never trimmed for
history's sake.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.errors import PromptTooLongError
from rag.types import Hit

SYSTEM_PROMPT = """You answer questions using only the numbered context passages the user provides.
Rules:
- Use only facts stated in the passages. Do not use outside knowledge.
- If the passages do not contain the answer, say plainly: "The documents don't say." Then stop.
- Cite every passage you use by its number in square brackets, like [1] or [2][3], right after the \
sentence it supports.
- Be concise and precise."""

NO_CONTEXT = "(No passages were found in the documents.)"
MIN_ANSWER_TOKENS = 64

Message = dict[str, str]
TokenCounter = Callable[[list[Message]], int]


@dataclass(frozen=True)
class Prompt:
    messages: list[Message]
    prompt_tokens: int
    max_tokens: int  # what is left for the answer, never above the configured maximum
    hits: list[Hit]  # the hits whose text is in the prompt (worst ones dropped only if they can't fit)
    history_turns: int


def format_context(hits: Sequence[Hit]) -> str:
    """Numbered passages, best last, each labelled with its source (and page)."""
    if not hits:
        return NO_CONTEXT
    blocks = []
    for hit in sorted(hits, key=lambda h: h.rank, reverse=True):
        page = f", page {hit.chunk.page}" if hit.chunk.page else ""
        section = f", section: {hit.chunk.section}" if hit.chunk.section else ""
        blocks.append(f"[{hit.rank}] (source: {hit.chunk.source}{page}{section})\n{hit.chunk.text.strip()}")
    return "\n\n".join(blocks)


def user_message(question: str, hits: Sequence[Hit]) -> Message:
    content = (
        f"Context passages (the most relevant is last):\n\n{format_context(hits)}\n\n"
        f"Question: {question.strip()}\n"
        "Answer from the passages only and cite them by number, like [1]."
    )
    return {"role": "user", "content": content}


def build_prompt(
    question: str,
    hits: Sequence[Hit],
    history: Sequence[Message],
    count_tokens: TokenCounter,
    max_model_len: int,
    max_tokens: int,
    history_tokens: int,
) -> Prompt:
    """The messages for one answer; raises PromptTooLongError if the question alone can't fit."""
    system = {"role": "system", "content": SYSTEM_PROMPT}
    room = max_model_len - min(max_tokens, max_model_len // 4)  # the prompt may shrink the answer to this
    kept = sorted(hits, key=lambda h: h.rank)
    base = [system, user_message(question, kept)]
    while count_tokens(base) > room and kept:
        kept = kept[:-1]  # drop the worst passage only when the passages can't all fit
        base = [system, user_message(question, kept)]
    base_tokens = count_tokens(base)
    if base_tokens > max_model_len - MIN_ANSWER_TOKENS:
        raise PromptTooLongError(
            f"the question is too long for the model's context window ({base_tokens} tokens, "
            f"limit {max_model_len - MIN_ANSWER_TOKENS}); shorten it"
        )
    turns = _recent_turns(history, base, count_tokens, min(history_tokens, room - base_tokens))
    messages = [system, *turns, base[1]]
    prompt_tokens = count_tokens(messages)
    return Prompt(
        messages, prompt_tokens, min(max_tokens, max_model_len - prompt_tokens), kept, len(turns) // 2
    )


def _recent_turns(
    history: Sequence[Message], base: list[Message], count_tokens: TokenCounter, budget: int
) -> list[Message]:
    """The newest whole user/assistant pairs whose tokens fit the budget; oldest dropped first."""
    pairs = _pairs(history)
    base_tokens = count_tokens(base)
    kept: list[Message] = []
    for pair in reversed(pairs):
        candidate = [*pair, *kept]
        if count_tokens([base[0], *candidate, base[1]]) - base_tokens > budget:
            break
        kept = candidate
    return kept


def _pairs(history: Sequence[Message]) -> list[list[Message]]:
    """Group history into (user, assistant) pairs; unanswered or malformed turns are skipped."""
    pairs, pending = [], None
    for message in history:
        role, content = message.get("role"), (message.get("content") or "").strip()
        if role == "user" and content:
            pending = {"role": "user", "content": content}
        elif role == "assistant" and content and pending:
            pairs.append([pending, {"role": "assistant", "content": content}])
            pending = None
    return pairs
