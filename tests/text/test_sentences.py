"""Sentence spans: English rules unchanged, Japanese/Chinese full stops end a sentence without a space."""

from rag.text.sentences import sentence_spans, split_sentences


def test_english_sentences_and_abbreviations():
    text = "Milvus stores vectors, e.g. embeddings. It scales out! Does it? Yes."
    assert split_sentences(text) == [
        "Milvus stores vectors, e.g. embeddings.",
        "It scales out!",
        "Does it?",
        "Yes.",
    ]


def test_a_japanese_paragraph_is_split_at_each_full_stop():
    text = "vLLMはGPUメモリ使用量を半分に削減します。スループットも向上します！本当ですか？はい。"
    assert split_sentences(text) == [
        "vLLMはGPUメモリ使用量を半分に削減します。",
        "スループットも向上します！",
        "本当ですか？",
        "はい。",
    ]


def test_a_quoted_sentence_stays_inside_its_sentence_and_spans_point_at_the_text():
    text = "彼は「分かりました。」と言った。「はい。」 次の文です。"
    spans = sentence_spans(text)
    assert [text[a:b] for a, b in spans] == ["彼は「分かりました。」と言った。", "「はい。」", "次の文です。"]


def test_mixed_japanese_and_english_text():
    text = "Milvus Lite is a file. 検索は速い。 It needs no server."
    assert split_sentences(text) == ["Milvus Lite is a file.", "検索は速い。", "It needs no server."]
