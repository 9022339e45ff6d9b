"""Candidate documents' counted words kept by version (rag/retrieval/document_words.py): the same
rankings as reading every document's text for every question, on real Milvus Lite, and never an
old version's or an old analyzer's text."""

import random

import numpy as np
import pytest

from rag.retrieval.document_words import ENTRY_WORDS, DocumentWordsCache
from rag.retrieval.documents import count_words
from rag.retrieval.library import Library
from rag.store.vector_store import VectorStore
from rag.types import Chunk
from tests.conftest import make_settings

WORDS = ["shared", "temporary", "directory", "files", "delete", "sticky", "owner", "users", "bit", "rm"]
QUESTIONS = [
    "Why can't other users delete my files in the shared temporary directory?",
    "sticky bit owner",
    "rm files for users",
    "rm files",
    "temporary owner bit directory",
]


def _add(store: VectorStore, doc_id: str, texts: list[str], content_hash: str, owner: str = "alice") -> None:
    chunks = [Chunk(doc_id, f"{doc_id}.md", 0, i, text) for i, text in enumerate(texts)]
    store.add_document(chunks, np.ones((len(chunks), store.dim), np.float32), owner, content_hash, 1)


@pytest.fixture
def documents(library: Library) -> Library:
    """Twelve documents of 1-8 chunks, each chunk 40 words drawn from a small vocabulary."""
    rng = random.Random(7)
    for d in range(12):
        texts = [" ".join(rng.choices(WORDS + ["filler"] * 12, k=40)) for _ in range(rng.randint(1, 8))]
        _add(library.store, f"doc{d}", texts, f"h{d}")
    return library


def _ranked(library: Library) -> list[list[tuple[str, int, float]]]:
    found = [library.retrieve(q, ["alice"], 5, mode="keyword").hits for q in QUESTIONS]
    return [[(h.chunk.doc_id, h.chunk.index, h.score) for h in hits] for hits in found]


def test_the_rankings_with_kept_words_are_those_read_afresh(documents: Library, monkeypatch):
    documents.document_words = DocumentWordsCache(budget=0)  # keeps nothing: every text read
    afresh = _ranked(documents)
    documents.document_words = DocumentWordsCache()
    reads = []
    read = documents.store.version_keyword_texts
    monkeypatch.setattr(documents.store, "version_keyword_texts", lambda v: reads.append(len(v)) or read(v))
    assert _ranked(documents) == afresh  # filling the cache
    assert reads  # (two reads for the five questions: the first question meets 11 documents)
    reads.clear()
    assert _ranked(documents) == afresh  # served from it
    assert reads == []  # the second round read no document's text
    assert any(afresh) and documents.document_words.words > 0


def test_a_replaced_documents_new_text_is_counted(library: Library):
    cache, store = library.document_words, library.store
    _add(store, "d", ["apple apple banana", "cherry"], "v1")
    assert cache.read(store, ["d"], ["alice"])["d"] == count_words(["apple apple banana", "cherry"])
    _add(store, "d", ["durian", "apple"], "v2")  # same document, new content
    assert cache.read(store, ["d"], ["alice"])["d"] == count_words(["durian", "apple"])
    # deleted, then the first content again: another `added_at`, read again
    store.delete_document("d")
    assert cache.read(store, ["d"], ["alice"]) == {}
    _add(store, "d", ["apple apple banana", "cherry"], "v1")
    assert cache.read(store, ["d"], ["alice"])["d"] == count_words(["apple apple banana", "cherry"])


def test_text_rewritten_for_a_newer_analyzer_is_read_again(library: Library):
    cache, store = library.document_words, library.store
    _add(store, "d", ["Apple Banana"], "v1")
    assert cache.read(store, ["d"], ["alice"])["d"] == count_words(["Apple Banana"])
    store.keyword_refresh(lambda text: text + " cherry", version=99).bring_up_to_date()
    assert cache.read(store, ["d"], ["alice"])["d"] == count_words(["Apple Banana cherry"])


def test_on_a_server_a_pass_another_process_recorded_is_seen(library: Library, monkeypatch):
    cache, store = library.document_words, library.store
    monkeypatch.setattr(store.writes, "exclusive", False)
    _add(store, "d", ["Apple Banana"], "v1")
    cache.read(store, ["d"], ["alice"])
    passes = store.writes.keyword_passes
    store.keyword_refresh(lambda text: text + " cherry", version=99).bring_up_to_date()
    store.writes.keyword_passes = passes  # as if another process (`rag reindex`) had passed
    assert cache.read(store, ["d"], ["alice"])["d"] == count_words(["Apple Banana cherry"])


def test_nothing_is_kept_or_served_while_a_pass_may_rewrite_the_text(library: Library):
    cache, store = library.document_words, library.store
    _add(store, "d", ["apple"], "v1")
    store.writes.rewriting += 1  # as while a pass runs (or, on a server, may run elsewhere)
    assert cache.read(store, ["d"], ["alice"])["d"] == count_words(["apple"])
    assert cache.words == 0
    store.writes.rewriting -= 1
    cache.read(store, ["d"], ["alice"])
    assert cache.words == 1


def test_the_words_kept_stay_within_the_budget_least_recently_used_first(library: Library, monkeypatch):
    store = library.store
    _add(store, "a", ["one two three"], "a1")  # 3 distinct words
    _add(store, "b", ["four five"], "b1")  # 2
    _add(store, "c", ["six seven eight nine"], "c1")  # 4
    _add(store, "big", [" ".join(f"w{i}" for i in range(20))], "g1")  # 20: more than the budget
    cache = DocumentWordsCache(budget=7 + 2 * ENTRY_WORDS)  # two versions' cost, 7 words
    cache.read(store, ["a", "b"], ["alice"])
    cache.read(store, ["a"], ["alice"])  # a used last: b goes first
    cache.read(store, ["c", "big"], ["alice"])
    assert cache.words == 7 and cache.versions == 2  # a and c; b dropped, big never kept
    reads = []
    read = store.version_keyword_texts
    monkeypatch.setattr(
        store, "version_keyword_texts", lambda v: reads.append(sorted(x.doc_id for x in v)) or read(v)
    )
    assert cache.read(store, ["a", "b", "c", "big"], ["alice"]).keys() == {"a", "b", "c", "big"}
    assert reads == [["b", "big"]]
    assert cache.words <= 7 and cache.versions == 2


def test_versions_of_no_words_are_bounded_too(library: Library):
    """Keyword text of symbols only counts no word, yet each version kept costs ~620 bytes."""
    store = library.store
    for d in range(6):
        _add(store, f"s{d}", ["★ → ★", "---"], f"s{d}")
    cache = DocumentWordsCache(budget=3 * ENTRY_WORDS)
    found = cache.read(store, [f"s{d}" for d in range(6)], ["alice"])
    assert len(found) == 6 and all(words.size == 0 for words in found.values())
    assert cache.versions == 3  # the three read last (seen failing: 6 when a version cost nothing)


def test_the_owners_and_the_row_limit_choose_the_documents_as_before(library: Library):
    store = library.store
    _add(store, "mine", ["apple"], "m1")
    _add(store, "bobs", ["apple"], "b1", owner="bob")
    cache = library.document_words
    for _ in range(2):  # read, then kept
        assert cache.read(store, ["bobs", "mine"], ["alice"]).keys() == {"mine"}
        assert list(cache.read(store, ["bobs", "mine"], None)) == ["bobs", "mine"]


def test_on_a_server_the_other_replicas_replace_and_pass_are_seen(milvus_uri: str, tmp_path):
    """Two stores on one Milvus Lite server (replicas): what B writes, A's kept words follow: a
    replaced version, then B's keyword pass (seen failing without the recorded analyzer version in
    `keyword_text_state`)."""
    a, b = (VectorStore(make_settings(tmp_path / n, milvus_uri=milvus_uri), 4, "m") for n in "ab")
    try:
        cache = DocumentWordsCache()
        _add(b, "d", ["Apple Banana"], "v1")
        assert cache.read(a, ["d"], ["alice"])["d"] == count_words(["Apple Banana"])
        _add(b, "d", ["Durian", "Apple"], "v2")
        assert cache.read(a, ["d"], ["alice"])["d"] == count_words(["Durian", "Apple"])
        b.keyword_refresh(lambda text: text + " cherry", version=99).bring_up_to_date()
        assert cache.read(a, ["d"], ["alice"])["d"] == count_words(["Durian cherry", "Apple cherry"])
    finally:
        a.close()
        b.close()
