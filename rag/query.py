"""Conversation → what is searched: the new question with the earlier user turns fused in.

A follow-up ("How do I switch it on for just one of them?") names its topic only in earlier turns,
so searching its own words finds whatever matches "switch it on". Joining the earlier turns to it
fixes that, but drags a new, self-contained question towards an unrelated earlier topic. So the
earlier turns go in with less weight than the new question, and less the older they are:

- dense leg: the query vector is the question's vector plus the earlier turns' vectors, each scaled
  by its weight, renormalised. A question with a clear topic of its own keeps it (its own vector
  dominates); a vague follow-up, whose own vector points nowhere in particular, takes the topic of
  the conversation.
- keyword leg: BM25 counts a query term as often as it occurs, so the question's words are repeated
  to outweigh the earlier turns' words.

Everything here is pure and deterministic. `rewrite_query` is the optional LLM step on top (a
standalone question written by the model), bounded in time; when it fails the caller keeps the
deterministic query.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)
HISTORY_TURNS = 3  # earlier user turns that can still shape the query (most recent first)
HISTORY_WEIGHT = 0.5  # the latest earlier turn's weight relative to the question's 1.0
HISTORY_DECAY = 0.5  # each turn further back counts this much less
QUESTION_REPEAT = 2  # times the question's words count in the keyword query
TURN_CHARS = 500  # an earlier turn longer than this is cut (pasted text shouldn't dominate)

Messages = list[dict[str, str]]
Complete = Callable[[Messages], Awaitable[str]]


@dataclass(frozen=True)
class SearchQuery:
    """What one retrieval searches for: texts to embed with their weights, and the keyword query."""

    question: str
    earlier: tuple[str, ...] = ()  # earlier user turns that take part, oldest first
    weights: tuple[float, ...] = ()  # one per earlier turn

    @property
    def texts(self) -> list[str]:
        """Texts to embed: the question first, then the earlier turns."""
        return [self.question, *self.earlier]

    @property
    def keyword_text(self) -> str:
        if not self.earlier:
            return self.question
        return " ".join([*self.earlier, *([self.question] * QUESTION_REPEAT)])

    def vector(self, embedded: np.ndarray) -> np.ndarray:
        """The weighted sum of the rows embedded from `texts`, at unit length."""
        weights = np.array([1.0, *self.weights], dtype=np.float32)[:, None]
        combined = (np.asarray(embedded, dtype=np.float32) * weights).sum(axis=0)
        norm = float(np.linalg.norm(combined))
        return combined / norm if norm else combined

    def describe(self) -> str:
        """The human-readable line shown under Sources."""
        if not self.earlier:
            return f"Searched for: {self.question}"
        context = " / ".join(_short(turn) for turn in self.earlier)
        return f"Searched for: {self.question} (with earlier questions, weighted less: {context})"


def build_query(question: str, history: Sequence[str] = ()) -> SearchQuery:
    """The question plus up to HISTORY_TURNS earlier user turns (oldest first in `history`)."""
    question = _clean(question)
    earlier: list[str] = []
    for turn in reversed(history):
        turn = _clean(turn)[:TURN_CHARS]
        if turn and turn != question and turn not in earlier:
            earlier.append(turn)
        if len(earlier) == HISTORY_TURNS:
            break
    weights = [HISTORY_WEIGHT * HISTORY_DECAY**age for age in range(len(earlier))]
    return SearchQuery(question, tuple(reversed(earlier)), tuple(reversed(weights)))


def rewrite_messages(question: str, history: Sequence[str]) -> Messages:
    """Chat messages asking a model for the follow-up as one standalone search question."""
    earlier = "\n".join(f"- {_clean(turn)[:TURN_CHARS]}" for turn in history[-HISTORY_TURNS:])
    return [
        {
            "role": "system",
            "content": "You rewrite a user's latest question into one standalone search query. Resolve "
            "pronouns and references (it, that, them, this one) using the earlier questions. If the latest "
            "question is already self-contained or changes topic, return it unchanged. Reply with the "
            "query only: no explanation, no quotes.",
        },
        {"role": "user", "content": f"Earlier questions:\n{earlier}\n\nLatest question: {_clean(question)}"},
    ]


async def rewrite_query(
    question: str, history: Sequence[str], complete: Complete, timeout_s: float
) -> str | None:
    """An LLM's standalone version of `question`, or None (no history, timeout, error, or an answer
    that can't be a search query), in which case the caller searches `build_query`'s query."""
    if not history:
        return None
    try:
        text = await asyncio.wait_for(complete(rewrite_messages(question, history)), timeout_s)
    except TimeoutError:
        log.info("query rewrite took longer than %.1f s; using the deterministic query", timeout_s)
        return None
    except Exception as exc:  # any backend failure: the deterministic query always works
        log.info("query rewrite failed (%s: %s); using the deterministic query", type(exc).__name__, exc)
        return None
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    rewritten = _clean(lines[0]) if lines else ""
    rewritten = re.sub(r"^(standalone )?(search )?(query|question)\s*:\s*", "", rewritten, flags=re.I)
    rewritten = rewritten.strip("\"'“”` ")
    if not rewritten or len(rewritten) > 4 * max(len(question), 100):
        return None
    return rewritten


def _clean(text: str) -> str:
    return " ".join(text.split())


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
