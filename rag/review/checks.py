"""Checks on a finished answer, shown under it: which cited sources exist, whether it cites
anything, and whether each sentence is supported by what it cites.

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
from dataclasses import asdict, dataclass, field

import numpy as np

from rag.review.evidence import SUPPORT_THRESHOLD, Encoder, HitSentences, index_hits
from rag.text.sentences import cited_numbers, split_sentences, strip_citations
from rag.types import Hit

MIN_CLAIM_WORDS = 4  # "Yes." or "See [2]." claims nothing to check
_NO_ANSWER = re.compile(
    r"\b(don't|do not|cannot|can't) (know|find|say)|\bnot (mentioned|covered|stated)|\bno information\b", re.I
)


@dataclass(frozen=True)
class SentenceSupport:
    sentence: str
    compared: tuple[int, ...]  # the source numbers it was compared with
    best_source: int | None
    score: float
    supported: bool


@dataclass(frozen=True)
class AnswerChecks:
    cited: tuple[int, ...]  # every [n] in the answer, in order
    missing: tuple[int, ...]  # cited numbers with no source of that number
    sentences: tuple[SentenceSupport, ...] = field(default=())
    threshold: float = SUPPORT_THRESHOLD

    @property
    def cites_anything(self) -> bool:
        return bool(self.cited)

    @property
    def valid(self) -> tuple[int, ...]:
        return tuple(n for n in self.cited if n not in self.missing)

    @property
    def unsupported(self) -> list[SentenceSupport]:
        return [s for s in self.sentences if not s.supported]

    @property
    def ok(self) -> bool:
        return self.cites_anything and not self.missing and not self.unsupported

    def problems(self) -> list[str]:
        """What a reader should know, in plain words; empty when every check passed."""
        found = []
        if not self.cites_anything:
            found.append("the answer cites no source")
        if self.missing:
            found.append(
                "cites " + ", ".join(f"[{n}]" for n in self.missing) + " but there is no such source"
            )
        if self.unsupported:
            found.append(
                f"{len(self.unsupported)} of {len(self.sentences)} sentences are not supported by what "
                f"they cite (similarity below {self.threshold:.2f})"
            )
        return found

    def describe(self) -> str:
        """One line of plain text (safe as Markdown) for under the answer."""
        parts = [
            "cites " + ", ".join(f"[{n}]" for n in self.valid) if self.valid else "",
            f"{len(self.sentences) - len(self.unsupported)} of {len(self.sentences)} sentences supported"
            if self.sentences
            else "",
        ]
        summary = " · ".join(p for p in parts if p)
        if self.ok:
            return f"✓ Checks: {summary}"
        return "⚠ Checks: " + "; ".join(self.problems()) + (f" ({summary})" if summary else "")

    def to_dict(self) -> dict:
        """For the feedback log: plain JSON types only."""
        data = asdict(self)
        data["problems"] = self.problems()
        return data


def check_citations(answer: str, hits: Sequence[Hit]) -> AnswerChecks:
    """The checks that need no model: which [n] exist, whether anything is cited."""
    ranks = {hit.rank for hit in hits}
    cited = tuple(cited_numbers(answer))
    return AnswerChecks(cited, tuple(n for n in cited if n not in ranks))


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
