"""Which language a text is in, told by its script: the decision behind Japanese keyword text and
behind trusting the embedder (rag/retrieval/library.py) for a question.

Kana never occur in English and practically every Japanese sentence has them, so any kana makes a
text Japanese; Han characters without kana are taken as Chinese, Hangul as Korean. Everything else
is "en": the script can't tell English from French, and the offline default embedder's language is
English, so a Latin-script text is searched the way it always was.
"""

from __future__ import annotations

import re

KANA = "\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f"  # hiragana, katakana (with extensions, half-width)
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs (with extension A, compatibility)
HANGUL = "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"
CJK_RUN = re.compile(f"[{KANA}{HAN}{HANGUL}ー々〆〇]+")
_KANA = re.compile(f"[{KANA}]")
_HAN = re.compile(f"[{HAN}]")
_HANGUL = re.compile(f"[{HANGUL}]")


def language_of(text: str) -> str:
    """ "ja", "zh", "ko" or "en" (any other script)."""
    if _KANA.search(text):
        return "ja"
    if _HANGUL.search(text):
        return "ko"
    if _HAN.search(text):
        return "zh"
    return "en"


def language_name(code: str) -> str:
    return {"ja": "Japanese", "zh": "Chinese", "ko": "Korean", "en": "English"}.get(code, code)
