"""Conversation → what is searched: the new question with the earlier user turns fused in.

A follow-up ("How do I switch it on for just one of them?") names its topic only in earlier turns,
so searching its own words finds whatever matches "switch it on". Joining the earlier turns to it
fixes that, but drags a new, self-contained question towards an unrelated earlier topic (measured:
joining costs 65 points of hit@5 on self-contained questions that follow an unrelated one). So the
earlier turns are fused in with a weight that depends on how well the question stands on its own:

- the gate: the question alone is embedded and its best cosine similarity in the library is looked
  up. A question that finds a close match (at or above CONFIDENT) keeps the earlier turns out; a
  vague one (at or below VAGUE, typical of follow-ups) takes them in at full weight; linear between.
- dense leg: the query vector is the question's vector plus the earlier turns' vectors, each scaled
  by the gate, HISTORY_WEIGHT and a decay per turn back, renormalised.
- keyword leg: once the gate is half open, the earlier turns' words join the keyword query, the
  question's own words repeated so that they still count most (BM25 counts repeated query terms).

The thresholds are cosine similarities measured with all-MiniLM-L6-v2 (see docs/BENCHMARKS.md);
an embedder with another similarity scale wants its own. Everything here is pure and deterministic;
`rewrite_query` is the optional LLM step on top, bounded in time, falling back to this.
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
HISTORY_WEIGHT = 1.5  # the latest earlier turn's weight, relative to the question's 1.0, gate open
HISTORY_DECAY = 0.8  # each turn further back counts this much less
VAGUE = 0.45  # best cosine of the question alone at or below which the gate is fully open
CONFIDENT = 0.65  # ... at or above which it is closed (the question stands on its own)
KEYWORD_GATE = 0.5  # earlier turns' words join the keyword query from this gate on
QUESTION_REPEAT = 2  # times the question's words count in a keyword query with earlier turns
TURN_CHARS = 500  # an earlier turn longer than this is cut (pasted text shouldn't dominate)

Messages = list[dict[str, str]]
Complete = Callable[[Messages], Awaitable[str]]


@dataclass(frozen=True)
class SearchQuery:
    """The question and the earlier turns that may take part, with their relative weights."""

    question: str
    earlier: tuple[str, ...] = ()  # earlier user turns that may take part, oldest first
    weights: tuple[float, ...] = ()  # one per earlier turn, before the gate

    @property
    def texts(self) -> list[str]:
        """Texts to embed: the question first, then the earlier turns."""
        return [self.question, *self.earlier]

    def vector(self, embedded: np.ndarray, gate: float) -> np.ndarray:
        """The gated, weighted sum of the rows embedded from `texts`, at unit length."""
        weights = np.array([1.0, *(gate * w for w in self.weights)], dtype=np.float32)[:, None]
        combined = (np.asarray(embedded, dtype=np.float32) * weights).sum(axis=0)
        norm = float(np.linalg.norm(combined))
        return combined / norm if norm else combined

    def keyword_text(self, gate: float) -> str:
        if not self.earlier or gate < KEYWORD_GATE:
            return self.question
        return " ".join([*self.earlier, *([self.question] * QUESTION_REPEAT)])

    def describe(self, gate: float) -> str:
        """The human-readable line shown under Sources."""
        if not self.earlier:
            return f"Searched for: {self.question}"
        if gate <= 0:
            return f"Searched for: {self.question} (earlier questions not used: this one stands on its own)"
        context = " / ".join(_short(turn) for turn in self.earlier)
        return f"Searched for: {self.question} (with earlier questions, weight {gate:.0%}: {context})"


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


def history_gate(own_best: float) -> float:
    """How far earlier turns may shape the search (0..1), from the question's own best cosine
    similarity: a question that already finds a close match needs no help from the conversation."""
    return min(max((CONFIDENT - own_best) / (CONFIDENT - VAGUE), 0.0), 1.0)


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
