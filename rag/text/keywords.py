"""The text the keyword (BM25) leg indexes and searches: Japanese words split apart by SudachiPy,
everything else exactly as given.

Milvus's analyzers split words at spaces and punctuation, so a Japanese sentence (no spaces) was one
"word" that no question matched; Milvus Lite 2.5 has no Japanese analyzer (its `lindera` and `icu`
tokenizers crash the server), so the words are found here and stored separated by spaces, which
the analyzer then keeps apart; the same is done to a question. Only text with Japanese script or
full-width characters changes: a text without them (English) is returned as it is, so English
keyword text is what it always was, and a mixed run ("aptでパッケージを") keeps its Latin part.

The steps follow Lucene's Japanese analyzer (Kuromoji), each measured (docs/BENCHMARKS.md) on the
30 dev questions and on 400 probe questions built mechanically from the corpus
(bench/ja_probe_questions.py), not chosen on the dev set:
- width: NFKC, so 「ＡＰＴ」 is "APT" and half-width 「ｻｰﾊﾞｰ」 is 「サーバー」 (Lucene's CJKWidthFilter).
- words: Sudachi's split mode A (the shortest units), surface forms: of SudachiPy A/C, fugashi and
  Janome it ranked best (bench/ja_tokenizers.py); Sudachi's normalized or dictionary forms, modes B
  and C, its synonym groups and character bigrams did no better on the probe, most of them worse.
- dropped: particles, auxiliary verbs, symbols (Lucene's stop tags), and the words a question adds
  without naming its topic: pronouns and adverbs (何, どこ, どう, なぜ), adnominals (この, どの),
  conjunctions, interjections, and the verbs and adjectives Sudachi marks 非自立可能 (する, いる,
  ある, なる, できる, いい, as in 「どうすればいい」「したい」): 「すれ」 and 「いい」 were the words that
  most often put a wrong chunk above the right one.
- katakana: a katakana word of 4 or more characters loses a final 「ー」, so 「サーバ」 finds
  「サーバー」 (Lucene's JapaneseKatakanaStemFilter, same length); Japanese writes it either way.
Together, probe hit@5 / MRR@5 0.935 / 0.841 -> 0.953 / 0.858 (28 questions ranked better, 14
worse); the same probe typed in full-width ASCII 0.74 -> 0.95, with the other katakana spelling
0.77 -> 0.91; the dev set unchanged at hit@5 0.93 (MRR@5 0.82 -> 0.82: 2 better, 2 worse).
Sudachi runs at ~430,000 characters/s, small beside embedding (~10,000 characters/s on 2 cores).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

from rag.text.languages import HAN, KANA

# Which analyzer made a keyword text: raise it whenever `keyword_text` gives another text for some
# input, and stores made before rewrite their chunks' keyword text at the next start
# (rag/retrieval/keyword_upkeep.py). 0: none recorded (Milvus's analyzer alone, or any older one);
# 1: Sudachi's words (issue 23's first round); 2: split mode A, width folding, question words
# dropped, katakana stems (2026-12-06).
ANALYZER_VERSION = 2
_RUN = re.compile(f"[{KANA}{HAN}ー々〆〇]+")
# ideographic space, full-width ASCII, half-width katakana
_WIDE = re.compile("[\u3000\uff01-\uff5e\uff61-\uff9f]")
# particles, auxiliary verbs, symbols, space; pronouns, adverbs, adnominals, conjunctions, interjections
SKIPPED = {"助詞", "助動詞", "補助記号", "空白", "代名詞", "副詞", "連体詞", "接続詞", "感動詞"}
DEPENDENT = "非自立可能"  # the second part-of-speech field of する, いる, ある, なる, できる, いい …
_KATAKANA_WORD = re.compile("[\u30a0-\u30ff]{4,}")  # Lucene's katakana block and minimum length
_PIECE = 4000  # characters per call: Sudachi refuses inputs over 49,149 bytes (3 bytes a character)
_local = threading.local()  # a Sudachi tokenizer is not safe to share between threads


def keyword_text(text: str) -> str:
    """`text` with its width normalised and each run of Japanese script replaced by its words,
    separated by spaces; `text` itself when it has neither."""
    if not (_RUN.search(text) or _WIDE.search(text)):
        return text
    text = unicodedata.normalize("NFKC", text)
    return _RUN.sub(lambda run: f" {' '.join(japanese_words(run.group()))} ", text)


def japanese_words(run: str) -> list[str]:
    """The content words of a run of kana and kanji, in order, katakana words stemmed."""
    tokenizer, mode = _tokenizer()
    words: list[str] = []
    for start in range(0, len(run), _PIECE):
        for morpheme in tokenizer.tokenize(run[start : start + _PIECE], mode):
            part_of_speech = morpheme.part_of_speech()
            if part_of_speech[0] not in SKIPPED and part_of_speech[1] != DEPENDENT:
                words.append(katakana_stem(morpheme.surface()))
    return words


def katakana_stem(word: str) -> str:
    """「サーバー」 -> 「サーバ」: the final long-vowel mark of a katakana word of 4 or more characters,
    which Japanese writes either way (JIS Z 8301 drops it, most newer texts keep it)."""
    return word[:-1] if word.endswith("ー") and _KATAKANA_WORD.fullmatch(word) else word


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
