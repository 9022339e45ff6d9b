"""The text the keyword (BM25) leg indexes and searches: Japanese words split apart by SudachiPy,
everything else exactly as given.

Milvus's analyzers split words at spaces and punctuation, so a Japanese sentence (no spaces) was one
"word" that no question matched; Milvus Lite 2.5 has no Japanese analyzer (its `lindera` and `icu`
tokenizers crash the server), so the words are found here and stored separated by spaces, which
the analyzer then keeps apart; the same is done to a question. Only runs of kana and kanji change: a
text without them (English) is returned as it is, so English keyword text is what it always was,
and a mixed run ("aptでパッケージを") keeps its Latin part untouched.

Sudachi's split mode A (the shortest units) with particles, auxiliary verbs and symbols dropped:
of SudachiPy A/C, fugashi+unidic-lite and Janome it ranked best on the Japanese dev set
(bench/ja_tokenizers.py: hit@5 1.00, MRR@5 0.91; no analyzer 0.77 / 0.64) at ~430,000 characters/s,
small beside embedding (~10,000 characters/s on 2 cores).
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

from rag.text.languages import HAN, KANA

_RUN = re.compile(f"[{KANA}{HAN}ー々〆〇]+")
_SKIPPED = {"助詞", "助動詞", "補助記号", "空白"}  # particles, auxiliary verbs, symbols, space
_PIECE = 4000  # characters per call: Sudachi refuses inputs over 49,149 bytes (3 bytes a character)
_local = threading.local()  # a Sudachi tokenizer is not safe to share between threads


def keyword_text(text: str) -> str:
    """`text` with each run of Japanese script replaced by its words, separated by spaces."""
    if not _RUN.search(text):
        return text
    return _RUN.sub(lambda run: f" {' '.join(japanese_words(run.group()))} ", text)


def japanese_words(run: str) -> list[str]:
    """The content words of a run of kana and kanji, in order."""
    tokenizer, mode = _tokenizer()
    words: list[str] = []
    for start in range(0, len(run), _PIECE):
        for morpheme in tokenizer.tokenize(run[start : start + _PIECE], mode):
            if morpheme.part_of_speech()[0] not in _SKIPPED:
                words.append(morpheme.surface())
    return words


def _tokenizer():
    if not hasattr(_local, "tokenizer"):
        from sudachipy import SplitMode

        _local.tokenizer = (_dictionary().tokenizer(), SplitMode.A)
    return _local.tokenizer


@lru_cache(maxsize=1)
def _dictionary():
    """sudachidict_core, loaded once per process (~0.2 s) and only when Japanese text appears."""
    from sudachipy import Dictionary

    return Dictionary(dict="core")
