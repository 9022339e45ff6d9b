"""One call for everything the app shows around an answer: the evidence marks in each source,
the answer checks, the Sources panel HTML and the answer Markdown with linked citations.

Call it once when the hits arrive (question only: the panel shows what is related to the question
while the model writes) and again when the answer is complete, with the same `ReviewCache`: each
chunk sentence, the question and each answer sentence is embedded once per answer, in as few
batches as possible (per-call overhead dominates for a few dozen short sentences).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rag.review.checks import AnswerChecks, check_answer, check_citations
from rag.review.evidence import (
    Encoder,
    HitSentences,
    Mark,
    evidence_html,
    find_evidence,
    index_hits,
    link_citations,
)
from rag.types import Hit


class CachingEncoder:
    """Wraps the app's embedder for one answer: a text embedded once is not embedded again."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self._passages: dict[str, np.ndarray] = {}
        self._queries: dict[str, np.ndarray] = {}

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._passages]
        if missing:
            self._passages.update(zip(missing, self.encoder.embed_passages(missing), strict=True))
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        return np.vstack([self._passages[t] for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        if text not in self._queries:
            self._queries[text] = self.encoder.embed_query(text)
        return self._queries[text]


@dataclass
class ReviewCache:
    """What one answer's reviews share: the wrapped encoder and the hits' sentence vectors."""

    encoder: CachingEncoder
    indexed: list[HitSentences] = field(default_factory=list)
    hits: Sequence[Hit] = ()

    @classmethod
    def for_answer(cls, encoder: Encoder) -> ReviewCache:
        return cls(encoder if isinstance(encoder, CachingEncoder) else CachingEncoder(encoder))

    def sentences(self, hits: Sequence[Hit]) -> list[HitSentences]:
        if list(hits) != list(self.hits):
            self.indexed, self.hits = index_hits(hits, self.encoder), list(hits)
        return self.indexed


@dataclass(frozen=True)
class Review:
    hits: Sequence[Hit]
    marks: dict[int, list[Mark]]
    checks: AnswerChecks

    def sources_html(self) -> str:
        """The Sources panel: inert HTML, supporting sentences marked, cited sources flagged."""
        return evidence_html(self.hits, self.marks, cited=self.checks.valid)

    def answer_markdown(self, safe_markdown: str, answer: str = "") -> str:
        """`safe_markdown` (the answer after `render.chat_markdown`) with [n] linked to source n of
        this answer (`answer`: `evidence.answer_key`)."""
        return link_citations(safe_markdown, [hit.rank for hit in self.hits], answer)


def review_answer(
    question: str, hits: Sequence[Hit], cache: ReviewCache, answer: str = "", complete: bool = False
) -> Review:
    """Marks for the question (and, once `complete`, for the answer) plus the checks; while the
    answer is incomplete only the citation checks run (support needs the whole sentence)."""
    indexed = cache.sentences(hits)
    if not complete:
        marks = find_evidence(question, indexed, cache.encoder)
        return Review(hits, marks, check_citations(answer, hits))
    marks = find_evidence(question, indexed, cache.encoder, answer=answer)
    return Review(hits, marks, check_answer(answer, hits, cache.encoder, indexed))
