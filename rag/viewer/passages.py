"""Where a cited passage sits in a page's text: a span of the page's characters.

The passage (the sentence the answer check found supporting, else the chunk's text) was read from
the page by the loaders (pypdf, Tesseract, python-docx …), the page text here by another reader
(pdfium's text layer, Tesseract's words), so the two differ in whitespace, line breaks, hyphens at
line ends and ligatures. Both are compared folded (`fold`: case, whitespace, dashes, ligatures
normalised, every folded character mapped back to its page index): an exact find first, else the
longest common runs of the two, kept when they cover at least half of the passage and lie within
twice its length of each other. Nothing found: None, and the viewer shows the page without a box
rather than a box in the wrong place.

The loose search is bounded (`Budget`): `SequenceMatcher` compares each page character with every
equal passage character, and a visitor controls both (their own upload, the `marks` their browser
sends): a page of one repeated letter and a 4,000-character passage of it took 42 s per passage.
"""

from __future__ import annotations

import unicodedata
from array import array
from collections import Counter
from collections.abc import Sequence
from difflib import SequenceMatcher

MIN_RUN = 8  # a shorter common run ("the ", "tion") says nothing about where the passage is
MIN_COVERED = 0.5  # of the passage's folded characters found in order on the page
LONGEST_PASSAGE = 4000  # the rest of a longer passage is not looked for (SequenceMatcher is O(n·m))
# character pairs the loose search may compare for one view: a 5,000-character page against a whole
# 2,500-character chunk is 0.65 M (0.3 s on the busy 2-core machine); a repeated letter costs
# ~0.75 µs a pair there, so one view's search stays under ~3 s whatever the page and passages
MAX_PAIRS = 2_000_000
LONGEST_FOLDING = 4  # NFKC of ligatures is 2-3 characters ("ﬃ"), of squared words 4 ("㍿" 株式会社)


class Budget:
    """The pairs one view's loose searches may still compare, shared by its passages and pages."""

    def __init__(self, pairs: int = MAX_PAIRS) -> None:
        self.pairs = pairs

    def spend(self, page: str, wanted: str) -> bool:
        """Take the search's pairs (counted in linear time) if they are left; False: skip it. The
        second, narrower search compares a part of the page, so it costs at most as much again."""
        in_page = Counter(page)
        cost = sum(in_page[char] * n for char, n in Counter(wanted).items())
        if cost > self.pairs:
            return False
        self.pairs -= cost
        return True


def fold(text: str) -> tuple[str, Sequence[int]]:
    """`text` compared loosely: NFKC (ligatures, full-width forms), lower case, runs of whitespace
    as one space, hyphen or soft hyphen at a line end dropped; with each kept character's index in
    `text`. Each distinct character is folded once and shared, a folding longer than
    `LONGEST_FOLDING` is not used, and the indices are an array of ints: a character folded to
    18 (U+FDFA) made 18 string and int objects, ~1 kB a page character."""
    out: list[str] = []
    where = array("i")  # 4 bytes an index: a document has at most RAG_MAX_DOCUMENT_CHARS (5 M)
    folded_as: dict[str, str] = {}
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
        folded = folded_as.get(char)
        if folded is None:
            folded = unicodedata.normalize("NFKC", char).lower()
            folded = folded_as[char] = folded if len(folded) <= LONGEST_FOLDING else char.lower()
        out.append(folded)
        if len(folded) == 1:
            where.append(i)
        else:
            where.extend([i] * len(folded))
        i += 1
    return "".join(out), where


def find_span(page_text: str, passage: str, budget: Budget | None = None) -> tuple[int, int] | None:
    """The [start, end) of `passage` in `page_text` (indices of `page_text`), or None when it is
    not clearly there (or finding it loosely would pass `budget`: a fresh one when None)."""
    return _find(fold(page_text), passage, budget or Budget())


def _find(folded: tuple[str, list[int]], passage: str, budget: Budget) -> tuple[int, int] | None:
    page, page_at = folded
    wanted, _ = fold(passage[:LONGEST_PASSAGE])
    if not page or len(wanted) < 3:
        return None
    start = page.find(wanted)
    if start >= 0:
        return page_at[start], page_at[start + len(wanted) - 1] + 1
    if not budget.spend(page, wanted):
        return None
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


def marked_spans(
    page_text: str, marks: Sequence[str], chunk: str = "", budget: Budget | None = None
) -> list[tuple[int, int]]:
    """The spans to mark on a page: each of `marks` (the sentences the answer check found
    supporting) found there, in page order; the `chunk`'s own span only when none of them is.
    `budget`: the view's, when it searches several pages (None: a fresh one for this page)."""
    budget = budget or Budget()
    folded = fold(page_text)  # once for every passage: a section may be 5 M characters
    spans = sorted(span for mark in marks if (span := _find(folded, mark, budget)) is not None)
    if not spans and chunk and (span := _find(folded, chunk, budget)) is not None:
        spans = [span]
    return spans
