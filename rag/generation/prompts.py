"""Hits + question + history → chat messages that fit the model's context window.

The contexts are numbered as the user sees them ([1] is the best hit) and listed best last: small
models attend most to what is nearest the question. Earlier turns are kept newest first within a
token budget; the question and the contexts are never trimmed for history's sake. Each attempt to
fit is tokenised once, and the final attempt's tokens are what the engine runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.errors import LimitError, PromptTooLongError
from rag.generation.backends.base import Message, TokenizedPrompt
from rag.settings import Settings
from rag.types import Hit

SYSTEM_PROMPT = """You answer questions using only the numbered context passages the user provides.
Rules:
- Use only facts stated in the passages. Do not use outside knowledge.
- If the passages do not contain the answer, say plainly: "The documents don't say." Then stop.
- Cite every passage you use by its number in square brackets, like [1] or [2][3], right after the \
sentence it supports.
- Answer in the question's language.
- Be concise and precise."""

NO_CONTEXT = "(No passages were found in the documents.)"
MIN_ANSWER_TOKENS = 64
MAX_CHARS_PER_TOKEN = 16  # no tokenizer packs more text than this into one token on average

Tokenizer = Callable[[list[Message]], TokenizedPrompt]


@dataclass(frozen=True)
class PromptBudget:
    """How the context window is shared: the answer's tokens, earlier turns, the rest for passages."""

    max_model_len: int
    max_tokens: int
    history_tokens: int
    max_question_tokens: int = 1_000_000

    @classmethod
    def from_settings(cls, settings: Settings) -> PromptBudget:
        return cls(
            settings.generation.max_model_len,
            settings.generation.max_tokens,
            settings.generation.history_tokens,
            settings.limits.max_question_tokens,
        )


@dataclass(frozen=True)
class Prompt:
    tokenized: TokenizedPrompt
    max_tokens: int  # what is left for the answer, never above the configured maximum
    hits: list[Hit]  # the hits whose text is in the prompt (worst ones dropped only if they can't fit)
    history_turns: int

    @property
    def messages(self) -> list[Message]:
        return self.tokenized.messages

    @property
    def prompt_tokens(self) -> int:
        return self.tokenized.n_tokens


def format_context(hits: Sequence[Hit]) -> str:
    """Numbered passages, best last, each labelled with its citation."""
    if not hits:
        return NO_CONTEXT
    blocks = []
    for hit in sorted(hits, key=lambda h: h.rank, reverse=True):
        section = f" (section: {hit.chunk.section})" if hit.chunk.section else ""
        blocks.append(f"{hit.citation()}{section}\n{hit.chunk.text.strip()}")
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
    tokenize: Tokenizer,
    budget: PromptBudget,
) -> Prompt:
    """The messages for one answer; raises PromptTooLongError if the question alone can't fit."""
    limit = budget.max_model_len
    asked = tokenize([{"role": "user", "content": question}]).n_tokens
    if asked > budget.max_question_tokens:
        raise LimitError(
            f"the question is {asked} tokens long; the limit is {budget.max_question_tokens} "
            "(RAG_MAX_QUESTION_TOKENS): shorten it"
        )
    system = {"role": "system", "content": SYSTEM_PROMPT}
    room = limit - min(budget.max_tokens, limit // 4)  # the prompt may shrink the answer to this
    kept = sorted(hits, key=lambda h: h.rank)
    base = tokenize([system, user_message(question, kept)])
    while base.n_tokens > room and kept:
        kept = kept[:-1]  # drop the worst passage only when the passages can't all fit
        base = tokenize([system, user_message(question, kept)])
    if base.n_tokens > limit - MIN_ANSWER_TOKENS:
        raise PromptTooLongError(
            f"the question is too long for the model's context window ({base.n_tokens} tokens, "
            f"limit {limit - MIN_ANSWER_TOKENS}); shorten it"
        )
    prompt, turns = _with_history(
        base, _pairs(history), tokenize, min(budget.history_tokens, room - base.n_tokens)
    )
    return Prompt(prompt, min(budget.max_tokens, limit - prompt.n_tokens), kept, turns)


def _with_history(
    base: TokenizedPrompt, pairs: list[list[Message]], tokenize: Tokenizer, budget: int
) -> tuple[TokenizedPrompt, int]:
    """The newest whole user/assistant pairs whose tokens fit the budget; oldest dropped first.

    The first attempt takes every recent pair that could possibly fit; when it is over budget,
    its measured tokens per character tell how many pairs to try next. Each attempt is tokenised
    once, so a long history costs two or three tokenisations, not one per pair.
    """
    n = _newest_within(pairs, budget * MAX_CHARS_PER_TOKEN)
    system, question = base.messages[0], base.messages[-1]
    while n > 0 and budget > 0:
        kept = pairs[-n:]
        candidate = tokenize([system, *(m for pair in kept for m in pair), question])
        used = candidate.n_tokens - base.n_tokens
        if used <= budget:
            return candidate, n
        per_char = used / max(sum(_chars(pair) for pair in kept), 1)
        n = min(n - 1, _newest_within(kept, budget / per_char))
    return base, 0


def _chars(pair: list[Message]) -> int:
    return sum(len(m["content"]) for m in pair)


def _newest_within(pairs: list[list[Message]], max_chars: float) -> int:
    """How many of the newest pairs fit in `max_chars` characters."""
    n, chars = 0, 0
    for pair in reversed(pairs):
        chars += _chars(pair)
        if chars > max_chars:
            break
        n += 1
    return n


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
