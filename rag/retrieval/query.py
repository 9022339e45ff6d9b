"""Conversation → what is searched: the new question, or the question joined to the earlier user turns.

A follow-up ("How do I switch it on for just one of them?") names its topic only in earlier turns,
so searching its own words finds whatever matches "switch it on". Joining the earlier turns to it
fixes that, but drags a new, self-contained question towards an unrelated earlier topic (measured:
joining costs 65 points of hit@5 on self-contained questions that follow an unrelated one). So the
joined text takes part with a weight, the gate, that says whether the conversation helps:

- vague: the question alone is embedded and its best cosine similarity in the library is looked
  up. One that finds a close match (at or above CONFIDENT) stands on its own; a vague one (at or
  below VAGUE, typical of follow-ups) needs the conversation; linear between.
- gain: the joined text is embedded and looked up the same way. A follow-up finds a much closer
  match with its conversation than alone (GAIN_FULL or more); a new question after an unrelated
  one finds nothing closer (GAIN_NONE or less). This catches follow-ups that happen to resemble
  some passage on their own ("Which data types can the field I pick as its key have?").
- the gate is the larger of the two (0..1). The dense leg searches the question's vector moved
  towards the joined text's by the gate; the keyword leg searches the joined text once the gate
  is at least KEYWORD_GATE, the question alone below it.
- when the joined text is searched (gate at least KEYWORD_GATE; keyword mode with history always),
  the top k are ordered by document (`order_hits`): the page the conversation is about comes before
  a hub page that matched some words of the long joined text with one chunk, and each document's
  best hit comes before any document's second.

The thresholds are cosine similarities measured with all-MiniLM-L6-v2 (see docs/BENCHMARKS.md);
an embedder with another similarity scale wants its own. Everything here is pure and deterministic;
`rewrite_query` is the optional LLM step on top, bounded in time, falling back to this.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from rag.types import Hit

log = logging.getLogger(__name__)
HISTORY_TURNS = 3  # earlier user turns joined to the question (the most recent ones)
# The thresholds below are the point 5-fold cross-validation chose most often over the dev sets with
# RRF fusion (bench/followup_cv.py; VAGUE 0.4 in 99 of 100 folds, CONFIDENT 0.7 in 91, GAIN_FULL
# 0.3 in 87): cross-validated follow-ups 0.916 / 0.738 hit@5 / MRR@5, questions after an unrelated
# one 0.886 / 0.762. The earlier ones (0.45 / 0.65 / 0.05 / 0.20 / 0.5, chosen with the weighted
# ranker) cost a question after an unrelated one 0.025 hit@5 against the question alone under RRF.
VAGUE = 0.40  # best cosine of the question alone at or below which the gate is fully open
CONFIDENT = 0.70  # ... at or above which this signal keeps it closed (the question stands on its own)
GAIN_NONE = 0.05  # joined best cosine minus the question's own: at or below, this signal keeps it closed
GAIN_FULL = 0.30  # ... at or above, it opens the gate fully
KEYWORD_GATE = 0.2  # the keyword leg searches the joined text from this gate on
BY_DOCUMENT = True  # order the top k by document when the joined text is searched (MRR@5 0.683 -> 0.750)
# ... each document's best hit first, then the documents' other hits (bench/followup_cv.py, the
# folds chose it in 100 of 100: cross-validated follow-up MRR@5 0.738 -> 0.791, hit@5 0.916 both)
BEST_HITS_FIRST = True
TURN_CHARS = 500  # an earlier turn longer than this is cut (pasted text shouldn't dominate)

Messages = list[dict[str, str]]
Complete = Callable[[Messages], Awaitable[str]]


@dataclass(frozen=True)
class SearchQuery:
    """The question and the earlier user turns that may take part."""

    question: str
    earlier: tuple[str, ...] = ()  # earlier user turns that may take part, oldest first

    @property
    def joined(self) -> str:
        """The earlier turns and the question as one text, in the order they were asked."""
        return " ".join([*self.earlier, self.question])

    @property
    def texts(self) -> list[str]:
        """Texts to embed: the question, then (with earlier turns) the joined text."""
        return [self.question, self.joined] if self.earlier else [self.question]

    def vector(self, embedded: np.ndarray, gate: float) -> np.ndarray:
        """The question's row moved towards the joined text's row by `gate`, at unit length."""
        rows = np.asarray(embedded, dtype=np.float32)
        combined = rows[0] if len(rows) == 1 else (1.0 - gate) * rows[0] + gate * rows[1]
        norm = float(np.linalg.norm(combined))
        return combined / norm if norm else combined

    def keyword_text(self, gate: float) -> str:
        return self.joined if self.earlier and gate >= KEYWORD_GATE else self.question

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
    return SearchQuery(question, tuple(reversed(earlier)))


def history_gate(own_best: float, joined_best: float | None = None) -> float:
    """How far the earlier turns may shape the search (0..1), from the best cosine similarity the
    question finds alone and the one it finds joined to the earlier turns: open when the question
    is vague on its own or when the conversation finds something much closer."""
    vague = _ramp(CONFIDENT - own_best, 0.0, CONFIDENT - VAGUE)
    gain = 0.0 if joined_best is None else _ramp(joined_best - own_best, GAIN_NONE, GAIN_FULL)
    return max(vague, gain)


def order_hits(hits: Sequence[Hit], gate: float) -> list[Hit]:
    """The search's order, or by document (`by_document`) when the joined text was searched."""
    return by_document(hits) if BY_DOCUMENT and gate >= KEYWORD_GATE else list(hits)


def user_turns(history: Sequence[Mapping[str, str]]) -> list[str]:
    """The user's earlier questions in a chat history (what a follow-up is read with)."""
    return [m["content"] for m in history if m.get("role") == "user" and m.get("content")]


def by_document(hits: Sequence[Hit]) -> list[Hit]:
    """The same hits, documents first by the sum of their hits' scores, ranks renumbered. The joined
    text of a conversation is long: a hub page (a glossary, release notes) matches some of its words
    with one chunk and can come first, while the page the conversation is about matches with several.
    Each document's best hit comes first, then the documents' other hits (`BEST_HITS_FIRST`): a page
    with four hits no longer pushes the next page to rank 5 (cross-validated MRR@5 0.738 -> 0.791;
    whole groups: the old order). Only the order within the top k changes."""
    documents: dict[str, list[Hit]] = {}
    for hit in hits:
        documents.setdefault(hit.chunk.doc_id, []).append(hit)
    ordered = [
        sorted(group, key=lambda hit: -hit.score)
        for group in sorted(documents.values(), key=lambda group: -sum(hit.score for hit in group))
    ]
    if BEST_HITS_FIRST:
        flat = [group[0] for group in ordered] + [hit for group in ordered for hit in group[1:]]
    else:
        flat = [hit for group in ordered for hit in group]
    return [replace(hit, rank=rank) for rank, hit in enumerate(flat, start=1)]


def _ramp(x: float, low: float, high: float) -> float:
    return min(max((x - low) / (high - low), 0.0), 1.0)


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
