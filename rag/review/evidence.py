"""Which sentences of each retrieved chunk support the question and the answer (`Mark`s; the web
app shows them in its Sources panel, rag.web.sources).

Computed at sentence level with the embedder the app already holds: one batch for a few dozen
short sentences, tens of milliseconds on a CPU (docs/BENCHMARKS.md), so it can run after every
answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from rag.text.sentences import sentence_spans, split_sentences, strip_citations
from rag.types import Hit, Mark, Marks

# An answer sentence at least this similar to a source sentence counts as supported (rag.review.checks).
# bench/support_threshold.py on the 40 dev questions: best balanced accuracy at 0.53 (verbatim answer
# phrases kept 86%, unrelated chunks flagged 98%, other chunks of the same document 93%); rounded
# down to 0.50 (the same share kept there) because model answers paraphrase where those phrases copy.
SUPPORT_THRESHOLD = 0.5
QUESTION_MIN_SCORE = 0.3  # below this a chunk's best sentence is not shown as related to the question
PER_HIT = 2  # at most this many sentences of a chunk are marked for the question


class Encoder(Protocol):
    """What evidence and checks need from `rag.embedding.embedder.Embedder` (unit-length rows)."""

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


@dataclass(frozen=True)
class HitSentences:
    """One hit's sentences: their spans in `hit.chunk.text` and their vectors (one row each)."""

    hit: Hit
    spans: list[tuple[int, int]]
    vectors: np.ndarray

    def sentence(self, i: int) -> str:
        start, end = self.spans[i]
        return self.hit.chunk.text[start:end]


def index_hits(hits: Sequence[Hit], encoder: Encoder) -> list[HitSentences]:
    """Split every hit into sentences and embed them all in one batch (shared by the highlighting
    and the answer checks, so a chunk is embedded once per answer)."""
    spans = [sentence_spans(hit.chunk.text) or [(0, len(hit.chunk.text))] for hit in hits]
    texts = [hit.chunk.text[s:e] for hit, hit_spans in zip(hits, spans, strict=True) for s, e in hit_spans]
    vectors = encoder.embed_passages(texts) if texts else np.zeros((0, 1), dtype=np.float32)
    indexed, row = [], 0
    for hit, hit_spans in zip(hits, spans, strict=True):
        indexed.append(HitSentences(hit, hit_spans, vectors[row : row + len(hit_spans)]))
        row += len(hit_spans)
    return indexed


def find_evidence(
    question: str,
    indexed: Sequence[HitSentences],
    encoder: Encoder,
    answer: str = "",
    answer_min_score: float | None = None,
) -> Marks:
    """Rank → the marks for that hit: its `PER_HIT` sentences closest to the question (when at
    least `QUESTION_MIN_SCORE`), and, once the answer is complete, every sentence that is the best
    match of an answer sentence with at least the support threshold (see rag.review.checks)."""
    threshold = SUPPORT_THRESHOLD if answer_min_score is None else answer_min_score
    marks: dict[int, dict[int, Mark]] = {item.hit.rank: {} for item in indexed}
    q = encoder.embed_query(question)
    for item in indexed:
        if not len(item.spans):
            continue
        scores = item.vectors @ q
        for i in np.argsort(-scores)[:PER_HIT]:
            if scores[i] >= QUESTION_MIN_SCORE:
                start, end = item.spans[i]
                marks[item.hit.rank][int(i)] = Mark(start, end, float(scores[i]), "question")
    claims = [c for c in (strip_citations(s) for s in split_sentences(answer)) if len(c.split()) >= 3]
    where = [(item, i) for item in indexed for i in range(len(item.spans))]
    if claims and where:
        every = np.vstack([item.vectors for item in indexed if len(item.spans)])
        similarity = encoder.embed_passages(claims) @ every.T  # claims × all sentences of all hits
        for row in similarity:
            best = int(np.argmax(row))
            if row[best] >= threshold:
                item, i = where[best]
                earlier = marks[item.hit.rank].get(i)
                by = "both" if earlier and earlier.by != "answer" else "answer"
                score = max(float(row[best]), earlier.score if earlier else 0.0)
                marks[item.hit.rank][i] = Mark(*item.spans[i], score, by)
    return {rank: sorted(found.values(), key=lambda m: m.start) for rank, found in marks.items()}
