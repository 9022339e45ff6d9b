"""Checks on a finished answer (`rag.types.AnswerChecks`): which cited sources exist, whether it
cites anything, and whether each sentence is supported by what it cites.

Support is the best cosine similarity between the answer sentence and a sentence of a cited chunk
(the sentence's own [n] where it has them, else every source the answer cites, else every
retrieved chunk), using the app's embedder. `SUPPORT_THRESHOLD` (rag.review.evidence) comes from
the dev eval data:
`bench/support_threshold.py` scores each question's verbatim answer phrase (`must_contain`)
against the chunk it comes from and against chunks of other documents, and picks the threshold
that separates the two best (docs/BENCHMARKS.md has the distributions). It is a screen for an
answer that drifted from its sources, not proof of truth: a paraphrase can score below it and a
sentence copied from the wrong passage above it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from rag.review.evidence import SUPPORT_THRESHOLD, Encoder, HitSentences, index_hits
from rag.text.sentences import cited_numbers, split_sentences, strip_citations
from rag.types import AnswerChecks, Hit, SentenceSupport

MIN_CLAIM_WORDS = 4  # "Yes." or "See [2]." claims nothing to check
_NO_ANSWER = re.compile(
    r"\b(don't|do not|cannot|can't) (know|find|say)|\bnot (mentioned|covered|stated)|\bno information\b", re.I
)


def check_citations(answer: str, hits: Sequence[Hit]) -> AnswerChecks:
    """The checks that need no model: which [n] exist, whether anything is cited."""
    ranks = {hit.rank for hit in hits}
    cited = tuple(cited_numbers(answer))
    return AnswerChecks(cited, tuple(n for n in cited if n not in ranks), (), SUPPORT_THRESHOLD)


def check_answer(
    answer: str,
    hits: Sequence[Hit],
    encoder: Encoder,
    indexed: Sequence[HitSentences] | None = None,
    threshold: float = SUPPORT_THRESHOLD,
) -> AnswerChecks:
    """All checks; pass `indexed` (from `evidence.index_hits`) to reuse the chunk sentence vectors
    already computed for highlighting."""
    base = check_citations(answer, hits)
    indexed = list(indexed) if indexed is not None else index_hits(hits, encoder)
    by_rank = {item.hit.rank: item for item in indexed if len(item.spans)}
    claims = [s for s in split_sentences(answer) if _is_claim(s)]
    if not claims or not by_rank:
        return AnswerChecks(base.cited, base.missing, (), threshold)
    vectors = encoder.embed_passages([strip_citations(s) for s in claims])
    answer_sources = [n for n in base.valid if n in by_rank]
    results = []
    for sentence, vector in zip(claims, vectors, strict=True):
        own = [n for n in cited_numbers(sentence) if n in by_rank]
        compared = own or answer_sources or sorted(by_rank)
        scores = {n: float(np.max(by_rank[n].vectors @ vector)) for n in compared}
        best = max(scores, key=scores.__getitem__)
        results.append(
            SentenceSupport(
                sentence, tuple(compared), best, round(scores[best], 4), scores[best] >= threshold
            )
        )
    return AnswerChecks(base.cited, base.missing, tuple(results), threshold)


def _is_claim(sentence: str) -> bool:
    text = strip_citations(sentence)
    return len(text.split()) >= MIN_CLAIM_WORDS and not _NO_ANSWER.search(text)
