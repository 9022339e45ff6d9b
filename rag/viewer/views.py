"""What the source viewer is asked for and what it shows, as plain data (the web draws it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rag.viewer.pdf_render import Box

MAX_PASSAGE_CHARS = 4000  # a passage is a sentence or a chunk (512 tokens ≈ 2,500 characters)
MAX_PASSAGES = 6


@dataclass(frozen=True)
class ViewRequest:
    """One source to show: its document, its page (0: none) and section, the sentences to mark
    (`marks`: those the answer check found supporting) and the chunk's text, marked when none of
    them is found. `zoom` scales a page image."""

    doc_id: str
    page: int = 0
    section: str = ""
    marks: tuple[str, ...] = ()
    chunk: str = ""
    zoom: float = 1.0

    def bounded(self) -> ViewRequest:
        """The request within the viewer's limits (it comes from a browser)."""
        marks = tuple(m[:MAX_PASSAGE_CHARS] for m in self.marks[:MAX_PASSAGES] if m.strip())
        zoom = min(max(self.zoom, 0.5), 3.0)
        chunk = self.chunk[:MAX_PASSAGE_CHARS]
        return ViewRequest(self.doc_id[:64], max(0, self.page), self.section[:500], marks, chunk, zoom)


@dataclass(frozen=True)
class PageView:
    """A PDF page as an image, the passage boxed (`boxes`: fractions of the image)."""

    source: str
    number: int
    pages: int
    png: bytes
    width: int
    height: int
    boxes: list[Box] = field(default_factory=list)
    found_by: str = ""  # "text layer", "OCR", or "" when the passage is not on this page
    scanned: bool = False


@dataclass(frozen=True)
class SectionView:
    """A section of a text document (HTML, Markdown, Word, a slide), the passage at `span`."""

    source: str
    location: str  # the section path, or "slide 3"
    text: str
    spans: list[tuple[int, int]] = field(default_factory=list)  # the marked passages
    cut: bool = False  # the section was longer than the viewer shows; `text` is the part around the passage


@dataclass(frozen=True)
class NotKept:
    """A document without a kept original (added before originals were kept, or over the
    workspace's bound): what can be said, and the chunk's text."""

    source: str
    reason: str


SourceView = PageView | SectionView | NotKept
