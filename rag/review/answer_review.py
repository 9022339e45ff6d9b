"""The review of one answer as plain data: the evidence marks in each source and the answer checks
(`rag.types.EvidenceEvent`, `ReviewEvent`), which the answer stream yields.

Each chunk sentence, the question and each answer sentence is embedded once per answer, in as few
batches as possible (per-call overhead dominates for a few dozen short sentences).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from rag.review.checks import check_answer
from rag.review.evidence import Encoder, HitSentences, find_evidence, index_hits
from rag.types import EvidenceEvent, Hit, ReviewEvent


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


class AnswerReviewer:
    """The review of one answer, a stage of the answer (rag.answer runs it): `question_marks` when
    the hits arrive (the sources show what bears on the question while the model writes), then
    `review` once the answer is complete. Both share one sentence index of the hits, built by
    whichever runs first (under a lock: the two run in worker threads)."""

    def __init__(self, encoder: Encoder, question: str, hits: Sequence[Hit]) -> None:
        self.encoder = encoder if isinstance(encoder, CachingEncoder) else CachingEncoder(encoder)
        self.question, self.hits = question, list(hits)
        self._indexed: list[HitSentences] | None = None
        self._lock = threading.Lock()

    def sentences(self) -> list[HitSentences]:
        """Every hit split into sentences and embedded, once per answer."""
        with self._lock:
            if self._indexed is None:
                self._indexed = index_hits(self.hits, self.encoder)
            return self._indexed

    def question_marks(self) -> EvidenceEvent:
        """The sentences of each hit closest to the question."""
        return EvidenceEvent(find_evidence(self.question, self.sentences(), self.encoder))

    def review(self, answer: str) -> ReviewEvent:
        """Marks for the question and the complete `answer`, and every check on it."""
        indexed = self.sentences()
        marks = find_evidence(self.question, indexed, self.encoder, answer=answer)
        return ReviewEvent(marks, check_answer(answer, self.hits, self.encoder, indexed))
