"""Where a passage sits on a scanned page: Tesseract's word boxes, merged into line rectangles.

The scan has no text layer, so the page image goes through Tesseract again (the same program,
language and rlimits as ingestion, rag/ingest/ocr.py) with its `tsv` output, which gives every
word its box and its block, paragraph and line. The words are joined into the page's text (a space
between words, a line break between lines), the passage is found in it (`rag.viewer.passages`) and
the words it covers become one rectangle per line, as fractions of the image.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from rag.ingest.budgets import limited
from rag.ingest.ocr import LANGUAGE_ENV, TESSERACT
from rag.viewer.passages import marked_spans

log = logging.getLogger(__name__)
OCR_TIMEOUT_S = 30.0  # one page; ingestion took 2-6 s a Letter page at 200 dpi on the busy 2-core machine


@dataclass(frozen=True)
class Word:
    line: tuple[int, int, int]  # Tesseract's (block, paragraph, line)
    left: int
    top: int
    width: int
    height: int
    text: str


def passage_rects(
    png: bytes, width: int, height: int, marks: Sequence[str], chunk: str = "", timeout: float = OCR_TIMEOUT_S
) -> list[tuple[float, float, float, float]]:
    """(left, top, width, height) fractions of the image, one per line of the marked passages
    (`rag.viewer.passages.marked_spans`) in Tesseract's words; [] when none is found or Tesseract
    is missing or fails."""
    words = read_words(png, timeout)
    text, spans = words_text(words)
    rects = []
    for start, end in marked_spans(text, marks, chunk):
        covered = [w for w, (s, e) in zip(words, spans, strict=True) if s < end and e > start]
        rects += [_fraction(rect, width, height) for rect in line_rects(covered)]
    return rects


def read_words(png: bytes, timeout: float = OCR_TIMEOUT_S) -> list[Word]:
    """Tesseract's words with their boxes, in reading order."""
    language = os.environ.get(LANGUAGE_ENV, "eng")
    command = limited([TESSERACT, "stdin", "stdout", "-l", language, "--psm", "3", "tsv"])
    try:
        done = subprocess.run(
            command,
            input=png,
            capture_output=True,
            timeout=timeout,
            env=os.environ | {"OMP_THREAD_LIMIT": "1"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("tesseract gave no word boxes: %s", exc)
        return []
    return parse_tsv(done.stdout.decode(errors="replace")) if done.returncode == 0 else []


def parse_tsv(tsv: str) -> list[Word]:
    """Words (level 5 rows with text) of Tesseract's TSV."""
    words = []
    for row in tsv.splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) < 12 or cells[0] != "5" or not cells[11].strip():
            continue
        block, par, line, left, top, width, height = (int(c) for c in (*cells[2:5], *cells[6:10]))
        words.append(Word((block, par, line), left, top, width, height, cells[11].strip()))
    return words


def words_text(words: Sequence[Word]) -> tuple[str, list[tuple[int, int]]]:
    """The page's text from its words, and each word's [start, end) in it."""
    parts, spans, at, previous = [], [], 0, None
    for word in words:
        if previous is not None:
            parts.append("\n" if word.line != previous else " ")
            at += 1
        spans.append((at, at + len(word.text)))
        parts.append(word.text)
        at += len(word.text)
        previous = word.line
    return "".join(parts), spans


def line_rects(words: Sequence[Word]) -> list[tuple[int, int, int, int]]:
    """One (left, top, right, bottom) pixel rectangle per line of `words`."""
    lines: dict[tuple[int, int, int], list[int]] = {}
    for w in words:
        box = lines.setdefault(w.line, [w.left, w.top, w.left + w.width, w.top + w.height])
        box[:] = [
            min(box[0], w.left),
            min(box[1], w.top),
            max(box[2], w.left + w.width),
            max(box[3], w.top + w.height),
        ]
    return [(a, b, c, d) for a, b, c, d in lines.values()]


def _fraction(rect: tuple[int, int, int, int], width: int, height: int) -> tuple[float, float, float, float]:
    left, top, right, bottom = rect
    return left / width, top / height, (right - left) / width, (bottom - top) / height
