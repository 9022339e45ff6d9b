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


def test_full_width_letters_and_half_width_katakana_are_normalised():
    text = keyword_text("ＡＰＴで ｻｰﾊﾞｰ の（hold）を設定")
    words = set(re.findall(r"\w+", text))  # the words as Milvus's analyzer splits them
    assert {"APT", "サーバ", "hold", "設定"} <= words, text
    assert keyword_text("ＧＲＵＢ　ｍｅｎｕ") == "GRUB menu"  # no kana at all, still normalised


def test_question_words_and_dependent_verbs_are_left_out():
    words = japanese_words("ディスクの空きが減っていく。何を疑えばいい？どうすればいいですか")
    assert {"ディスク", "空き", "減っ", "疑え"} <= set(words), words
    assert not {"何", "どう", "すれ", "いい", "いく"} & set(words)  # pronoun, adverb, 非自立可能
    assert "し" not in japanese_words("ファイルを保存したい")


def test_katakana_spelled_either_way_gives_one_word():
    assert japanese_words("サーバー") == japanese_words("サーバ") == ["サーバ"]
    assert japanese_words("ディレクトリーを作る")[0] == japanese_words("ディレクトリを作る")[0]
    assert japanese_words("キー") == ["キー"]  # under 4 characters: left as it is


def test_a_mixed_question_meets_its_passage_written_the_other_way():
    question = keyword_text("ＵＳＢメモリのフォルダをサーバにコピーするにはどうすればいい？").split()
    passage = keyword_text("USB メモリーのフォルダーを rsync でサーバーへコピーします。").split()
    assert {"USB", "メモリ", "フォルダ", "サーバ", "コピー"} <= set(question) & set(passage)
    assert not {"どう", "すれ", "いい", "する"} & set(question)
