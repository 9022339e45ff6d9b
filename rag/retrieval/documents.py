"""Keyword hits ranked with their documents: a chunk's place also says how well its whole document
matches the question (the keyword-only path: `keyword` mode, and the hybrid default for a question
in a language the embedder doesn't read, such as Japanese with MiniLM).

Why: BM25 over 512-character chunks misses a question whose words are spread over a section. Of
the 30 Japanese dev questions (issue 23), 「/tmp で他人のファイルを消せないのはなぜ？」 found its
section's best chunk 8th, and 「バイナリを cat して文字がぐちゃぐちゃ」 14th; the same BM25 over whole
sections ranked both sections 1st and 2nd. So the keyword search's candidates (`CANDIDATES_PER_K`
× k chunks, what each hybrid leg hands its fusion) are ranked twice:
- chunks: the store's BM25 order;
- documents: BM25 over each candidate document's whole keyword text (every chunk of its live
  version, read from the store and counted once per version: `rag.retrieval.document_words`),
  with the k1 and b Milvus uses for chunks. A word's weight (IDF)
  counts the documents among its own `CANDIDATES_PER_K` × k best chunks, found by the store's
  analyzer (`VectorStore.documents_per_word`: one request), out of every document the owners have;
  the average length is the candidate documents' (the only ones read).
and fused by reciprocal rank (RRF, k = 60, as the hybrid fusion: no weight to fit). Each document's
best chunk comes first, in fused order, then the other chunks: k chunks show k documents where
there are that many, so the prompt gets a document's second-best chunk only when fewer than k
documents match (a source's neighbours stay one click away, "Show in context").

Measured (docs/BENCHMARKS.md, issue 23 third round; bench/keyword_documents.py), before -> after,
hit@5 / MRR@5: Japanese dev 0.933 / 0.817 -> 0.967 / 0.850; 400 probe questions built from the
corpus 0.953 / 0.857 -> 0.965 / 0.875 (36 ranked better, 10 worse); English Milvus dev questions in
keyword mode 0.725 / 0.557 -> 0.775 / 0.589. Every choice was judged on the probe, not the dev set:
word weights from the candidate documents alone gave probe MRR@5 0.867, counted among each word's
50 or 100 best chunks 0.871 and 0.867 (20: 0.876); chunk BM25 scores summed per document (no
whole-document text) lost 57-145 probe questions; whole-document ranks fused without putting each
document's best chunk first lost 37-64.
"""

from __future__ import annotations

import math
import re
import sys
from array import array
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from rag.store.search import RRF_K
from rag.types import Hit

K1, B = 1.2, 0.75  # Milvus's BM25 defaults (bm25_k1, bm25_b), as the chunk ranking uses
_WORD = re.compile(r"\w+")  # keyword text is already split into words (rag/text/keywords.py)


@dataclass(frozen=True)
class WordWeights:
    """What BM25's IDF is made of for the query's words: how many documents hold each word
    (`VectorStore.documents_per_word`) and how many documents there are."""

    documents_with: Mapping[str, int]
    documents: int

    def idf(self, word: str) -> float:
        """BM25's IDF, as Milvus computes it for chunks; 0 for a word the store's analyzer drops."""
        n, found = self.documents, self.documents_with.get(word, 0)
        return math.log(1 + (n - found + 0.5) / (found + 0.5)) if found else 0.0


@dataclass(frozen=True)
class DocumentWords:
    """A document's keyword text as its BM25 score reads it: each word's count and the number of
    words. `first` keeps the words in the order they first appear, so the score adds up its terms
    in the same order as when the text was scanned (the same float, to the last bit)."""

    first: Mapping[str, int]  # word → its place among the document's distinct words
    counts: Sequence[int]  # each distinct word's count, by that place
    length: int  # words in all

    @property
    def size(self) -> int:
        """Distinct words: what keeping it costs (`rag.retrieval.document_words`)."""
        return len(self.first)


def count_words(chunks: Sequence[str]) -> DocumentWords:
    """The words of a document's chunks (its keyword text, in chunk order), counted."""
    counted = Counter(words(" ".join(chunks)))  # in order of first appearance
    first = {sys.intern(word): place for place, word in enumerate(counted)}  # one copy per word
    return DocumentWords(first, array("L", counted.values()), counted.total())


def rank_with_documents(hits: Sequence[Hit], scores: Mapping[str, float]) -> list[Hit]:
    """`hits` (BM25 order) re-ranked: each chunk's RRF of its own rank and its document's rank by
    whole-document BM25 (`scores`: doc_id → `document_scores`), each document's best chunk first.
    A document not in `scores` (not read) takes the rank its best chunk gives it among documents.
    Ranks are renumbered; `score` is the fused score."""
    order = list(dict.fromkeys(hit.chunk.doc_id for hit in hits))  # documents by their best chunk
    read = sorted((d for d in order if d in scores), key=lambda d: (-scores[d], order.index(d)))
    doc_rank = {d: rank for rank, d in enumerate(read, start=1)}
    for position, doc_id in enumerate(order, start=1):
        doc_rank.setdefault(doc_id, position)
    fused = [
        (1 / (RRF_K + position) + 1 / (RRF_K + doc_rank[hit.chunk.doc_id]), position, hit)
        for position, hit in enumerate(hits, start=1)
    ]
    fused.sort(key=lambda item: (-item[0], item[1]))
    firsts, rest, seen = [], [], set()
    for item in fused:
        (rest if item[2].chunk.doc_id in seen else firsts).append(item)
        seen.add(item[2].chunk.doc_id)
    return [
        replace(hit, rank=rank, score=score) for rank, (score, _, hit) in enumerate(firsts + rest, start=1)
    ]


def document_scores(
    query: str, documents: Mapping[str, DocumentWords], weights: WordWeights
) -> dict[str, float]:
    """BM25 of each document's whole keyword text (`count_words`) for `query`'s words; the average
    length is the given documents' (the only ones read)."""
    wanted = weighed_words(query, weights)
    if not documents:
        return {}
    if not wanted:
        return dict.fromkeys(documents, 0.0)
    average = sum(doc.length for doc in documents.values()) / len(documents) or 1.0
    scores = {}
    for doc_id, doc in documents.items():
        # the terms in the order the words first appear in the text (floats don't add associatively)
        found = sorted((place, word) for word in wanted if (place := doc.first.get(word)) is not None)
        norm = K1 * (1 - B + B * doc.length / average)
        scores[doc_id] = sum(
            wanted[w] * f * (K1 + 1) / (f + norm) for w, f in ((w, doc.counts[p]) for p, w in found)
        )
    return scores


def weighed_words(query: str, weights: WordWeights) -> dict[str, float]:
    """The query's words that weigh something (IDF > 0), with their IDF."""
    wanted = {word: weights.idf(word) for word in set(words(query))}
    return {word: idf for word, idf in wanted.items() if idf > 0}


def words(text: str) -> list[str]:
    """The words BM25 counts here: runs of letters and digits, lower-cased (keyword text is already
    split into words: rag/text/keywords.py)."""
    return _WORD.findall(text.lower())
