"""How much work one uploaded file may cause, in one place, and how a parser's failure on a hostile
file becomes a `LoadError` that names the file and the reason.

A few kB can hold the one ingest slot for hours (issue 19): a 36 kB DOCX whose cell spans 100,000
columns (9.4 s), 1,000 vertically merged rows (about 17 min), 200 nested HTML tables in 9.6 kB
(68 s, 20.4 M characters), a 330 kB PDF of 2,000 "scanned" pages (2,000 OCR runs of up to 180 s
each). Every extractor therefore passes its output through a `Budget`: characters
(`RAG_MAX_DOCUMENT_CHARS`, counted while extracting, not after) and a wall-clock deadline
(`RAG_PARSE_TIMEOUT_S`); OCR has its own page count and deadline (`RAG_MAX_OCR_PAGES`,
`RAG_OCR_TIMEOUT_S`); a rendered page is bounded in pixels (`MAX_RENDER_SIDE`); the OCR programs
run under memory and CPU rlimits (`limited`). The parsers still run in the app's process: the checks
sit in their loops, so a loop that is not checked is the gap (docs/RELIABILITY.md).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from rag.errors import LoadError
from rag.settings import LimitSettings

# Pixels on the longer side of a rendered page: 300 dpi on A3 (16.5 in) is 4,961, so 6,000 never
# shrinks a real scan; a 200 x 200 inch page at 150 dpi would be 30,000 (0.8 GiB grey) without it.
MAX_RENDER_SIDE = 6000
# Address space of one pdftoppm/tesseract run: a 6,000 x 6,000 grey page needs ~36 MB, tesseract
# peaked at ~250 MB on a 300 dpi Letter page here; 2 GiB bounds a hostile file, not a real one.
TOOL_MEMORY_BYTES = 2 << 30
# A parsed HTML element costs ~1.3 kB in BeautifulSoup: 200,000 took 4.7-8.9 s and 255-278 MB here,
# while a 5 M-character page of small tags is 625,000 (~0.8 GB). Real pages have one element per
# 35-50 characters, so one per 25 characters of RAG_MAX_DOCUMENT_CHARS (200,000) refuses none.
CHARS_PER_ELEMENT = 25


@dataclass(frozen=True)
class LoadLimits:
    """How much one document may expand to and how long reading it may take: a small hostile file
    must be refused early, with bounded memory, not parsed to the end."""

    max_pages: int = 2000
    max_chars: int = 5_000_000
    parse_seconds: float = 180.0
    max_ocr_pages: int = 300
    ocr_seconds: float = 1800.0

    @classmethod
    def from_settings(cls, limits: LimitSettings) -> LoadLimits:
        """The settings' budgets (`settings.limits`), for ingestion and the source viewer alike."""
        return cls(
            max_pages=limits.max_pages,
            max_chars=limits.max_document_chars,
            parse_seconds=limits.parse_timeout_s,
            max_ocr_pages=limits.max_ocr_pages,
            ocr_seconds=limits.ocr_timeout_s,
        )


DEFAULT_LIMITS = LoadLimits()


class Budget:
    """One document's allowance, spent while it is read: `take` counts extracted characters and
    checks the deadline, so a runaway parser stops at its next piece of output, not at its end."""

    def __init__(
        self, source: str, limits: LoadLimits = DEFAULT_LIMITS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.source, self.limits, self.clock = source, limits, clock
        self.chars = 0
        self.deadline = clock() + limits.parse_seconds
        self._over_time = f"reading it took over {limits.parse_seconds:g} s (RAG_PARSE_TIMEOUT_S)"

    def take(self, text: str | int, where: str = "") -> None:
        """Count `text` (or a number of characters) against the limit; raise once over it."""
        self.chars += text if isinstance(text, int) else len(text)
        if self.chars > self.limits.max_chars:
            raise LoadError(self.source, too_much_text(self.chars, self.limits, where))
        self.check()

    def check(self) -> None:
        if self.clock() > self.deadline:
            raise LoadError(self.source, self._over_time)

    def count_elements(self, count: int, what: str = "HTML") -> None:
        """Refuse a document whose parse tree alone would be too big (checked before parsing)."""
        allowed = self.limits.max_chars // CHARS_PER_ELEMENT
        if count > allowed:
            raise LoadError(
                self.source,
                f"the {what} has {count:,} elements, more than {allowed:,} (one per {CHARS_PER_ELEMENT} "
                "characters of RAG_MAX_DOCUMENT_CHARS)",
            )

    def remaining(self) -> float:
        return self.deadline - self.clock()

    def start_ocr(self, pages: int) -> None:
        """OCR is slow by nature (seconds a page): it gets its own page count and deadline."""
        if pages > self.limits.max_ocr_pages:
            raise LoadError(
                self.source,
                f"the PDF has {pages:,} scanned pages to OCR, more than the limit of "
                f"{self.limits.max_ocr_pages:,} (RAG_MAX_OCR_PAGES)",
            )
        self.deadline = self.clock() + self.limits.ocr_seconds
        self._over_time = f"OCR took over {self.limits.ocr_seconds:g} s (RAG_OCR_TIMEOUT_S)"

    def ocr_over_time(self, done: int, total: int) -> LoadError:
        return LoadError(self.source, f"{self._over_time} after {done} of {total} scanned pages")


def too_much_text(chars: int, limits: LoadLimits, where: str = "") -> str:
    return (
        f"the document holds more than {limits.max_chars:,} characters of text{where} "
        f"({chars:,}; the limit is RAG_MAX_DOCUMENT_CHARS)"
    )


def parser_failure(source: str, exc: BaseException) -> LoadError | None:
    """The `LoadError` for an exception a parser raises on a hostile or damaged file, or None for
    one that is a bug. lxml refuses XML nested deeper than 256 or an entity chain ("billion
    laughs"); pypdf refuses a decompression bomb; Pillow an image over 179 M pixels."""
    for kinds, reason in _known_failures():
        if isinstance(exc, kinds):
            detail = " ".join(str(exc).split())[:200]
            return LoadError(source, f"{reason} ({type(exc).__name__}: {detail})" if detail else reason)
    return None


@cache
def _known_failures() -> tuple[tuple[tuple[type[BaseException], ...], str], ...]:
    from lxml.etree import XMLSyntaxError
    from PIL.Image import DecompressionBombError
    from pypdf.errors import LimitReachedError, PyPdfError

    return (
        (
            (XMLSyntaxError,),
            "the file's XML is malformed, nested too deeply or expands entities, and is not read",
        ),
        ((RecursionError,), "the file is nested too deeply to read"),
        ((LimitReachedError, DecompressionBombError), "the file expands to more data than is read safely"),
        ((PyPdfError,), "the PDF is damaged and cannot be read"),
        ((MemoryError,), "reading the file needs more memory than the server allows"),
    )


def limited(command: list[str], memory_bytes: int = TOOL_MEMORY_BYTES, cpu_seconds: int = 0) -> list[str]:
    """`command` under util-linux's `prlimit` (address space, CPU seconds) when it is installed: an
    rlimit set in the child without `preexec_fn`, which is unsafe in the threaded app."""
    prlimit = shutil.which("prlimit")
    if not prlimit or not shutil.which(command[0]):  # a missing program must still fail as missing
        return command
    cpu = [f"--cpu={cpu_seconds}"] if cpu_seconds > 0 else []
    return [prlimit, f"--as={memory_bytes}", *cpu, "--", *command]
