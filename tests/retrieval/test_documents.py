"""Keyword hits ranked with their whole documents (rag/retrieval/documents.py): on real Milvus Lite
through `Library.retrieve`, and the ranking rule itself."""

import random

import numpy as np
import pytest

from bench.keyword_documents import scanned_scores
from rag.retrieval import library as library_module
from rag.retrieval.documents import WordWeights, count_words, document_scores, rank_with_documents
from rag.retrieval.library import Library
from rag.types import Chunk, Hit

FILL = "Nothing here is about the question at all, only words that fill a chunk of ordinary length. "
QUESTION = "Why can't other users delete my files in the shared temporary directory?"
# /tmp's page answers it, but each of its chunks holds a few of the question's words; the rm page
# holds "delete files directory" in one short chunk, so chunk BM25 puts it first
TMP = [
    "/tmp is the temporary directory of the system. ",
    "It is shared: everyone may write files there. ",
    "Its sticky bit: only an owner may remove what is theirs, never other users. ",
]
RM = ["Delete files with rm: rm deletes files, rm -r deletes a directory of files. "]
PERMISSIONS = [
    "Permissions say who may read files. ",
    "Groups let other people use shared things. ",
    "A directory needs the x bit to be entered by users. ",
    "The other bits are for other users. ",
]


@pytest.fixture
def pages(library: Library) -> Library:
    for doc_id, texts in (("tmp", TMP), ("rm", RM), ("permissions", PERMISSIONS)):
        chunks = [Chunk(doc_id, f"{doc_id}.md", 0, i, text + FILL) for i, text in enumerate(texts)]
        vectors = np.ones((len(chunks), library.embedder.dim), np.float32)  # keyword mode: unused
        library.store.add_document(chunks, vectors, "alice", f"{doc_id}-v1", 1)
    return library


def test_a_page_that_matches_the_question_as_a_whole_comes_before_one_dense_chunk(pages: Library):
    hits = pages.retrieve(QUESTION, ["alice"], k=3, mode="keyword").hits
    assert [h.chunk.source for h in hits] == ["tmp.md", "rm.md", "permissions.md"]
    assert [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].score > hits[1].score > hits[2].score  # the fused score, in rank order


def test_the_chunk_ranking_alone_puts_the_dense_chunk_first(pages: Library, monkeypatch):
    # the case above is one the chunk ranking gets wrong (what the keyword path did before)
    monkeypatch.setattr(library_module, "DOCUMENT_RANKING", False)
    hits = pages.retrieve(QUESTION, ["alice"], k=3, mode="keyword").hits
    assert hits[0].chunk.source == "rm.md"
    assert [h.chunk.source for h in hits].count("tmp.md") >= 1


def test_only_the_owners_documents_are_ranked_and_shown(pages: Library):
    assert pages.retrieve(QUESTION, ["bob"], k=3, mode="keyword").hits == []
    chunks = [Chunk("bobs", "bobs.md", 0, 0, "temporary shared directory " * 20)]
    pages.store.add_document(chunks, np.ones((1, pages.embedder.dim), np.float32), "bob", "b1", 1)
    hits = pages.retrieve(QUESTION, ["alice"], k=5, mode="keyword").hits
    assert "bobs.md" not in {h.chunk.source for h in hits}


def test_hybrid_search_is_unchanged(pages: Library, monkeypatch):
    # only the keyword-only path ranks documents; the hybrid fusion is Milvus's, as before
    found = pages.retrieve("temporary directory", ["alice"], k=3, mode="hybrid").hits
    monkeypatch.setattr(library_module, "DOCUMENT_RANKING", False)
    assert pages.retrieve("temporary directory", ["alice"], k=3, mode="hybrid").hits == found


def _hit(doc_id: str, index: int, rank: int) -> Hit:
    return Hit(rank, 10.0 - rank, Chunk(doc_id, f"{doc_id}.md", 0, index, ""))


def test_each_documents_best_chunk_comes_first_then_the_rest():
    hits = [_hit("a", 0, 1), _hit("a", 1, 2), _hit("b", 0, 3), _hit("a", 2, 4), _hit("c", 0, 5)]
    documents = {"a": ["x"], "b": ["x"], "c": ["x"]}  # no word of the query: ranks by chunk alone
    ranked = _ranked(hits, documents, "q", WordWeights({}, 3))
    assert [(h.chunk.doc_id, h.chunk.index) for h in ranked] == [
        ("a", 0),
        ("b", 0),
        ("c", 0),
        ("a", 1),
        ("a", 2),
    ]
    assert [h.rank for h in ranked] == [1, 2, 3, 4, 5]


def test_a_document_that_matches_as_a_whole_moves_up():
    hits = [_hit("dense", 0, 1), _hit("spread", 0, 2), _hit("other", 0, 3), _hit("spread", 1, 4)]
    documents = {"dense": ["alpha alpha"], "spread": ["alpha", "beta gamma"], "other": ["delta"]}
    weights = WordWeights({"alpha": 2, "beta": 1, "gamma": 1}, 3)
    assert _scores("alpha beta gamma", documents, weights)["spread"] > 0
    ranked = _ranked(hits, documents, "alpha beta gamma", weights)
    # spread: chunk rank 2, document rank 1; dense: 1 and 2 (a tie goes to the better chunk)
    assert [h.chunk.doc_id for h in ranked][:3] == ["dense", "spread", "other"]
    # a third document matching better as a whole than `dense` pushes it to document rank 3:
    # spread (chunk 2, document 1) now comes before dense (chunk 1, document 3)
    documents["other"] = ["beta gamma alpha"]
    ranked = _ranked(hits, documents, "alpha beta gamma", weights)
    assert [h.chunk.doc_id for h in ranked] == ["spread", "dense", "other", "spread"]


def test_a_document_not_read_keeps_the_place_its_best_chunk_gives_it():
    hits = [_hit("big", 0, 1), _hit("small", 0, 2)]
    ranked = _ranked(hits, {"small": ["alpha"]}, "alpha", WordWeights({"alpha": 1}, 2))
    assert [h.chunk.doc_id for h in ranked] == ["big", "small"]


def test_a_word_the_store_does_not_index_weighs_nothing():
    weights = WordWeights({"alpha": 1, "the": 0}, 10)
    assert weights.idf("the") == 0.0 and weights.idf("missing") == 0.0
    assert weights.idf("alpha") > WordWeights({"alpha": 5}, 10).idf("alpha") > 0
    scores = _scores("the", {"a": ["the the the"], "b": ["x"]}, weights)
    assert scores == {"a": 0.0, "b": 0.0}
    # whole words only: "alphabet" is not "alpha"
    assert _scores("alpha", {"a": ["alphabet"]}, weights) == {"a": 0.0}


def _scores(query: str, texts: dict[str, list[str]], weights: WordWeights) -> dict[str, float]:
    return document_scores(query, {doc_id: count_words(t) for doc_id, t in texts.items()}, weights)


def _ranked(hits: list[Hit], texts: dict[str, list[str]], query: str, weights: WordWeights) -> list[Hit]:
    return rank_with_documents(hits, _scores(query, texts, weights))


def test_counted_words_score_to_the_bit_what_scanning_the_text_scored():
    # the scores ranked documents by scanning their whole text (a27d538; the bench keeps the scan):
    # counting each document's words once must give the same floats, or a ranking could change:
    # the terms add up in the order the words first appear (in the query's word order, this fails)
    rng = random.Random(3)
    vocabulary = ["alpha", "Alpha", "alphabet", "beta", "gamma", "apt", "x_y", "42"]
    vocabulary += ["ＡＰＴ", "サーバー", "削除"]
    for _ in range(300):
        documents = {
            f"d{i}": [" ".join(rng.choices(vocabulary, k=rng.randint(0, 30))) for _ in range(4)]
            for i in range(rng.randint(1, 6))
        }
        query = " ".join(rng.sample(vocabulary, rng.randint(1, 8)))
        weights = WordWeights({w.lower(): rng.randint(1, 9) for w in vocabulary}, 10)
        assert _scores(query, documents, weights) == scanned_scores(query, documents, weights)
