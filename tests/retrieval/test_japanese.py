"""A Japanese page on real Milvus Lite with the packaged (English-only) MiniLM: a Japanese question
finds the passage that answers it in the default mode, and English documents beside it are
searched as before (issue 23)."""

import pytest

from rag.ingest.pipeline import Ingestor
from rag.retrieval.library import Library

ANSWER = "PagedAttentionの仕組みにより、vLLMはGPUメモリ使用量を半分に削減します。"
PAGE = f"""<!doctype html><html><head><title>MilvusとvLLMで作るRAG</title></head><body>
<h1>MilvusとvLLMで作るRAG</h1>
<h2>はじめに</h2><p>この記事ではGPUを使ったRAGの構成を紹介します。vLLMとMilvusを組み合わせます。</p>
<h2>vLLMのインストール</h2><p>vLLMはpipでインストールできます。GPUとCUDAのドライバが必要です。</p>
<h2>メモリ効率</h2><p>{ANSWER}そのため同じGPUでより多くの要求を同時に処理できます。</p>
<h2>Milvusの準備</h2><p>MilvusはDockerで起動します。コレクションを作成してベクトルを登録します。</p>
<h2>GPUの監視</h2><p>GPUの温度と使用率はnvidia-smiで確認します。vLLMの稼働中も確認できます。</p>
<h2>まとめ</h2><p>以上でRAGの構成は完成です。質問に答えられるか試してください。</p>
</body></html>"""
ENGLISH = "# Indexes\n\nHNSW builds a graph over the vectors; M sets how many neighbours each node keeps."


@pytest.fixture
def filled(library: Library, ingestor: Ingestor) -> Library:
    result = ingestor.ingest_bytes("rag-article.html", PAGE.encode(), "anon:a")
    assert result.status == "added"
    assert any("Japanese" in note and "keyword search" in note for note in result.notes), result.notes
    english = ingestor.ingest_bytes("indexes.md", ENGLISH.encode(), "anon:a")
    assert english.status == "added" and english.notes == ()  # MiniLM reads English: no note
    return library


def test_a_japanese_question_finds_its_passage_in_the_default_mode(filled: Library):
    assert filled.settings.search.retrieval == "hybrid"
    hits = filled.retrieve("vLLMはGPUメモリ使用量をどれだけ削減しますか？", ["anon:a"], k=3).hits
    assert ANSWER in hits[0].chunk.text, [h.chunk.text[:40] for h in hits]


def test_the_keyword_leg_matches_japanese_words_not_whole_sentences(filled: Library):
    hits = filled.retrieve("メモリの削減", ["anon:a"], k=1, mode="keyword").hits
    assert hits and ANSWER in hits[0].chunk.text


def test_an_english_question_is_still_searched_by_both_legs(filled: Library):
    assert filled._mode("How many neighbours does HNSW keep?", None) == "hybrid"
    assert filled._mode("vLLMはメモリを削減しますか", None) == "keyword"
    assert filled._mode("vLLMはメモリを削減しますか", "dense") == "dense"  # a mode asked for is kept
    hits = filled.retrieve("How many neighbours does HNSW keep?", ["anon:a"], k=1).hits
    assert hits[0].chunk.source == "indexes.md"


def test_a_question_typed_in_full_width_with_the_other_katakana_spelling_finds_its_passage(filled: Library):
    # the page writes 「CUDAのドライバ」; an IME gives full-width letters, many write 「ドライバー」
    hits = filled.retrieve("ＣＵＤＡのドライバーはどれ？", ["anon:a"], k=1).hits
    assert hits and "CUDAのドライバ" in hits[0].chunk.text, [h.chunk.text[:40] for h in hits]
