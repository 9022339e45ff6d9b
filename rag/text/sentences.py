"""Text → sentence spans: the unit that answer checks, evidence highlighting and the repetition
guard compare. Spans (not copies) so that a highlighter can wrap the exact characters of a chunk.

Rules, kept simple on purpose: a blank line ends a paragraph; a line that starts a list item,
heading or table row starts a new unit; inside a paragraph ".", "!" or "?" followed by white space
ends a sentence unless the word before is a common abbreviation ("e.g.", "Fig."); a full-width
"。", "！" or "？" (Japanese, Chinese) ends one with or without white space after it, a closing
bracket such as "」" stays with it (Japanese puts no space between sentences: a whole paragraph was one
"sentence", so evidence marks and answer checks did not work on it). PDF text breaks lines
mid-sentence, so a single newline alone does not end one.
"""

from __future__ import annotations

import re

_ABBREVIATIONS = {"e.g", "i.e", "etc", "vs", "fig", "no", "nr", "dr", "mr", "mrs", "ms", "st", "cf", "approx"}
_BOUNDARY = re.compile(
    r"\n[ \t]*\n\s*"  # a blank line
    r"|\n(?=[ \t]*(?:[-*•#|>]|\d+[.)][ \t]))"  # a new list item, heading, table row or quote
    r"|(?P<stop>(?<=[.!?])[\"')\]]*[ \t\n]+)"  # end of a sentence
    # end of a CJK sentence, no space needed; a quote that closes right after it ends it only when
    # white space follows (「分かりました。」と言った。 is one sentence)
    r"|(?<=[。！？])(?:[」』）】〕\"')\]]+(?=\s|$))?(?![」』）】〕])[ \t\n　]*"
)
CITATION = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\](?!\()")  # [2] or [1, 3]; not a link "[2](url)"
_WORD = re.compile(r"\w+")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in `text`, leading/trailing white space excluded."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        if match.group("stop") and _after_abbreviation(text, match.start()):
            continue
        _add(spans, text, start, match.start() + _closing(match.group()))
        start = match.end()
    _add(spans, text, start, len(text))
    return spans


def split_sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in sentence_spans(text)]


def strip_citations(sentence: str) -> str:
    """The sentence without its [n] markers, for comparing meaning rather than references."""
    return re.sub(r"\s+([.,;:!?])", r"\1", " ".join(CITATION.sub(" ", sentence).split()))


def cited_numbers(text: str) -> list[int]:
    """Every [n] in `text`, in order of appearance, each once."""
    return list(dict.fromkeys(int(n) for group in CITATION.findall(text) for n in group.split(",")))


def words(text: str) -> list[str]:
    """Lower-case word tokens: the unit of n-gram and overlap comparisons."""
    return _WORD.findall(text.lower())


def _closing(boundary: str) -> int:
    """How many closing quotes/brackets after the full stop still belong to the sentence."""
    return len(boundary) - len(boundary.lstrip("\"')]」』）】〕"))


def _after_abbreviation(text: str, end: int) -> bool:
    if end == 0 or text[end - 1] != ".":
        return False
    word = re.search(r"([\w.]+)\.$", text[max(0, end - 12) : end])
    return bool(word) and word.group(1).lower() in _ABBREVIATIONS


def _add(spans: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    if piece.strip():
        left = len(piece) - len(piece.lstrip())
        spans.append((start + left, start + len(piece.rstrip())))
