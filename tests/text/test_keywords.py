"""Keyword text: Japanese runs split into words by SudachiPy, every other character left as it was."""

import re

from rag.text.keywords import japanese_words, keyword_text
from rag.text.languages import language_of


def test_english_text_is_returned_unchanged():
    text = "How do I hold a package with apt-mark? The indexes (HNSW, IVF_FLAT) are built.\n\n| a | b |"
    assert keyword_text(text) is text


def test_a_japanese_sentence_becomes_words_without_particles():
    words = japanese_words("vLLMはGPUメモリ使用量を半分に削減します")
    assert {"メモリ", "使用", "半分", "削減"} <= set(words)
    assert not {"は", "を", "に", "ます"} & set(words)  # particles and auxiliary verbs dropped


def test_mixed_text_keeps_its_latin_part_byte_for_byte():
    text = "sources.list にある deb-src の行を消す: apt-get update で GRUB_TIMEOUT=5"
    result = keyword_text(text)
    latin = re.findall(r"[A-Za-z0-9_.=:-]+", text)
    assert re.findall(r"[A-Za-z0-9_.=:-]+", result) == latin
    assert "行" in result.split() and "消す" in result.split()


def test_a_question_and_the_passage_that_answers_it_share_words():
    question = set(keyword_text("パッケージを今のバージョンに固定するには？").split())
    passage = set(keyword_text("パッケージ選択状態を hold にすることでバージョンを固定できます。").split())
    assert {"パッケージ", "バージョン", "固定"} <= question & passage


def test_a_run_longer_than_sudachis_input_limit_is_split_into_pieces():
    words = japanese_words("削減" * 30_000)  # 180,000 bytes of UTF-8; Sudachi refuses over 49,149
    assert words.count("削減") == 30_000


def test_language_is_told_by_script():
    assert language_of("aptでパッケージを固定するには？") == "ja"
    assert language_of("如何固定软件包版本") == "zh"
    assert language_of("패키지를 고정하는 방법") == "ko"
    assert language_of("How do I hold a package?") == "en"
    assert language_of("（hold）？") == "en"  # full-width punctuation alone is not Japanese
