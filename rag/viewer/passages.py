"""Where a cited passage sits in a page's text: a span of the page's characters.

The passage (the sentence the answer check found supporting, else the chunk's text) was read from
the page by the loaders (pypdf, Tesseract, python-docx …), the page text here by another reader
(pdfium's text layer, Tesseract's words), so the two differ in whitespace, line breaks, hyphens at
line ends and ligatures. Both are compared folded (`fold`: case, whitespace, dashes, ligatures
normalised, every folded character mapped back to its page index): an exact find first, else the
longest common runs of the two, kept when they cover at least half of the passage and lie within
twice its length of each other. Nothing found: None, and the viewer shows the page without a box
rather than a box in the wrong place.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from difflib import SequenceMatcher

MIN_RUN = 8  # a shorter common run ("the ", "tion") says nothing about where the passage is
MIN_COVERED = 0.5  # of the passage's folded characters found in order on the page
LONGEST_PASSAGE = 4000  # the rest of a longer passage is not looked for (SequenceMatcher is O(n·m))


def fold(text: str) -> tuple[str, list[int]]:
    """`text` compared loosely: NFKC (ligatures, full-width forms), lower case, runs of whitespace
    as one space, hyphen or soft hyphen at a line end dropped; with each kept character's index in
    `text`."""
    out: list[str] = []
    where: list[int] = []
    space = False
    i = 0
    while i < len(text):
        char = text[i]
        if char in "-\u00ad" and i + 1 < len(text) and text[i + 1] in "\r\n":
            i += 1
            while i < len(text) and text[i] in "\r\n ":
                i += 1
            continue
        if char.isspace() or unicodedata.category(char) == "Cc":
            space = bool(out)
            i += 1
            continue
        if space:
            out.append(" ")
            where.append(i)
            space = False
        for folded in unicodedata.normalize("NFKC", char).lower():
            out.append(folded)
            where.append(i)
        i += 1
    return "".join(out), where


def find_span(page_text: str, passage: str) -> tuple[int, int] | None:
    """The [start, end) of `passage` in `page_text` (indices of `page_text`), or None when it is
    not clearly there."""
    page, page_at = fold(page_text)
    wanted, _ = fold(passage[:LONGEST_PASSAGE])
    if not page or len(wanted) < 3:
        return None
    start = page.find(wanted)
    if start >= 0:
        return page_at[start], page_at[start + len(wanted) - 1] + 1
    runs = _common_runs(page, wanted)
    if not runs:
        return None
    first, last = runs[0], runs[-1]
    covered = sum(size for _, size in runs)
    end = last[0] + last[1]
    if covered < MIN_COVERED * len(wanted) or end - first[0] > 2 * len(wanted):
        return None
    return page_at[first[0]], page_at[end - 1] + 1


def _common_runs(page: str, wanted: str) -> list[tuple[int, int]]:
    """(start in `page`, length) of the passage's runs of at least `MIN_RUN` characters found on
    the page in order, the page side kept to the longest block's neighbourhood."""
    matcher = SequenceMatcher(None, page, wanted, autojunk=False)
    longest = matcher.find_longest_match(0, len(page), 0, len(wanted))
    if longest.size < MIN_RUN:
        return []
    low = max(0, longest.a - longest.b - len(wanted))
    high = min(len(page), longest.a + 2 * len(wanted))
    matcher = SequenceMatcher(None, page[low:high], wanted, autojunk=False)
    return [(low + block.a, block.size) for block in matcher.get_matching_blocks() if block.size >= MIN_RUN]


def marked_spans(page_text: str, marks: Sequence[str], chunk: str = "") -> list[tuple[int, int]]:
    """The spans to mark on a page: each of `marks` (the sentences the answer check found
    supporting) found there, in page order; the `chunk`'s own span only when none of them is."""
    spans = sorted(span for mark in marks if (span := find_span(page_text, mark)) is not None)
    if not spans and chunk and (span := find_span(page_text, chunk)) is not None:
        spans = [span]
    return spans
