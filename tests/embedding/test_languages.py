"""Which languages a model reads: declared by its name, English-only unless it says otherwise."""

from rag.embedding.languages import covered_languages, covers


def test_the_offline_default_and_english_bge_read_english_only():
    english = ("all-MiniLM-L6-v2 (packaged)", "BAAI/bge-large-en-v1.5", "BAAI/bge-small-en-v1.5 [onnx]")
    for model in english:
        assert covered_languages(model) == {"en"}
        assert not covers(model, "ja")


def test_multilingual_models_read_japanese():
    multilingual = ("BAAI/bge-m3", "intfloat/multilingual-e5-large", "paraphrase-multilingual-MiniLM-L12-v2")
    for model in multilingual:
        assert covered_languages(model) is None
        assert covers(model, "ja") and covers(model, "en")


def test_a_japanese_model_reads_japanese_and_english():
    assert covers("cl-nagoya/ruri-base", "ja")
    assert not covers("cl-nagoya/ruri-base", "zh")
