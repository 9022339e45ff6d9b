"""Plain data passed between the stages; no stage needs another stage's internals."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import PurePath
from typing import Literal, Protocol

SHARED_OWNER = "shared"


class Progress(Protocol):
    """Long work reports `fraction` in [0, 1] and what it is doing; UI and CLI map it."""

    def __call__(self, fraction: float, message: str) -> None: ...


def no_progress(fraction: float, message: str) -> None:
    """The progress callback for callers that don't show progress."""


SECTION_SEPARATOR = " › "


@dataclass(frozen=True)
class Page:
    """A stretch of a document with one location: chunks never straddle two of them, so each chunk
    can cite its page (PDF), slide (PPTX) and section (Markdown/HTML/Word headings, a PDF's outline)."""

    number: int  # 1-based for paged formats (PDF pages, PPTX slides); 0 when the format has no pages
    text: str
    section: str = ""  # heading path, e.g. "Index › HNSW › Index building parameters"


@dataclass(frozen=True)
class Document:
    source: str  # the name users see: a file name or a path relative to an ingested folder
    kind: Literal["pdf", "html", "markdown", "text", "docx", "pptx"]
    pages: list[Page]
    content_hash: str  # sha256 of the raw bytes: identical uploads are recognised by it
    title: str = ""
    notes: tuple[str, ...] = ()  # how it was read, for the ingest report: ("OCR",)

    @property
    def page_count(self) -> int:
        """Real pages (PDF, slides); a Markdown file split into sections still counts as one page."""
        return len({p.number for p in self.pages if p.number}) or 1


def page_unit(source: str) -> str:
    """What a numbered `Page` of this source is called: "slide" for presentations, else "page".

    Derived from the name because the name is what every stored chunk keeps (no schema field);
    a presentation uploaded without its .pptx suffix is cited by "page" instead.
    """
    return "slide" if PurePath(source).suffix.lower() in {".pptx", ".ppt"} else "page"

    @property
    def page_count(self) -> int:
        """Real pages (PDF); a Markdown file split into sections still counts as one page."""
        return len({p.number for p in self.pages if p.number}) or 1


@dataclass(frozen=True)
class Chunk:
    """`text` is the chunk as users see it; `indexed_text` (title and section path in front) is what
    gets embedded and keyword-indexed, so a chunk from the middle of a section still carries the
    words of its headings."""

    doc_id: str
    source: str
    page: int
    index: int
    text: str
    section: str = ""
    title: str = ""

    @property
    def heading(self) -> str:
        """Title › section path, without repeating a title that is also the first heading."""
        parts = self.section.split(SECTION_SEPARATOR) if self.section else []
        if self.title and (not parts or parts[0] != self.title):
            parts.insert(0, self.title)
        return SECTION_SEPARATOR.join(parts)

    @property
    def indexed_text(self) -> str:
        return f"{self.heading}\n{self.text}" if self.heading else self.text

    @property
    def location(self) -> str:
        """Where in its document the chunk sits ("page 3", "slide 3"), or "" for formats without pages."""
        return f"{page_unit(self.source)} {self.page}" if self.page else ""

    @property
    def position(self) -> tuple[str, int]:
        """(doc_id, index): which chunk of which document, whatever its version."""
        return (self.doc_id, self.index)

    def label(self) -> str:
        """The chunk's source as every view names it: "manual.pdf, page 3", "deck.pptx, slide 2"
        or "notes.md"."""
        return ", ".join(part for part in (self.source, self.location) if part)


Context = dict[tuple[str, int], list[Chunk]]  # a chunk's `position` → it and its neighbours, in order

SCORE_EXPLANATION = (
    "score: higher is closer. Hybrid retrieval (the default): Milvus's weighted fusion of keyword (BM25) "
    "and cosine similarity, 0 to 1; dense: cosine similarity between question and chunk; keyword: BM25"
)


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk, `rank` 1 is best. `score` depends on the retrieval mode: cosine similarity
    (dense), BM25 (keyword) or the fused score (hybrid); higher is better in every mode.

    `citation()` is the one spelling of "[rank] source, page" shared by the prompt, the Sources
    panel, the CLI and the stats, so that the model's [n] and what the user reads agree.
    """

    rank: int
    score: float
    chunk: Chunk

    def citation(self) -> str:
        return f"[{self.rank}] {self.chunk.label()}"


@dataclass(frozen=True)
class DocumentInfo:
    doc_id: str
    source: str
    owner: str
    chunks: int
    pages: int
    added_at: int  # unix seconds
    content_hash: str


IngestStatus = Literal["added", "unchanged", "replaced", "failed"]


@dataclass(frozen=True)
class IngestResult:
    source: str
    status: IngestStatus
    chunks: int = 0
    reason: str = ""
    notes: tuple[str, ...] = ()  # from `Document.notes`: "OCR", pages that could not be read

    def describe(self) -> str:
        """One line for the CLI and the upload panel: "scan.pdf: added (3 chunks, OCR)"."""
        if self.status == "failed":
            return f"{self.source}: failed: {self.reason}"
        if self.status == "unchanged":
            detail = f" ({self.reason})" if self.reason else ""
            return f"{self.source}: unchanged{detail}"
        return f"{self.source}: {self.status} ({', '.join((f'{self.chunks} chunks', *self.notes))})"


@dataclass(frozen=True)
class GenerationStats:
    model: str
    retrieval_ms: float
    first_token_ms: float
    output_tokens: int
    tokens_per_s: float

    def describe(self) -> str:
        """The one-line summary shown under an answer (CLI and web app)."""
        return (
            f"{self.model} · retrieval {self.retrieval_ms:.0f} ms · first token {self.first_token_ms:.0f} ms"
            f" · {self.output_tokens} tokens · {self.tokens_per_s:.1f} tokens/s"
        )


@dataclass(frozen=True)
class Mark:
    """A sentence of a source marked as evidence: its span in `Chunk.text` and what it is like."""

    start: int
    end: int
    score: float
    by: str  # "question", "answer" or "both": what it is similar to


Marks = dict[int, list[Mark]]  # a hit's rank → its marked sentences, in text order


@dataclass(frozen=True)
class SentenceSupport:
    sentence: str
    compared: tuple[int, ...]  # the source numbers it was compared with
    best_source: int | None
    score: float
    supported: bool


@dataclass(frozen=True)
class AnswerChecks:
    """What was checked about one answer (rag.review.checks computes it): its citations and, once
    it is complete, whether each sentence is supported by what it cites."""

    cited: tuple[int, ...]  # every [n] in the answer, in order
    missing: tuple[int, ...]  # cited numbers with no source of that number
    sentences: tuple[SentenceSupport, ...] = field(default=())
    threshold: float = 0.0  # the support threshold the sentences were held to

    @property
    def cites_anything(self) -> bool:
        return bool(self.cited)

    @property
    def valid(self) -> tuple[int, ...]:
        return tuple(n for n in self.cited if n not in self.missing)

    @property
    def unsupported(self) -> list[SentenceSupport]:
        return [s for s in self.sentences if not s.supported]

    @property
    def ok(self) -> bool:
        return self.cites_anything and not self.missing and not self.unsupported

    def problems(self) -> list[str]:
        """What a reader should know, in plain words; empty when every check passed."""
        found = []
        if not self.cites_anything:
            found.append("the answer cites no source")
        if self.missing:
            found.append(
                "cites " + ", ".join(f"[{n}]" for n in self.missing) + " but there is no such source"
            )
        if self.unsupported:
            found.append(
                f"{len(self.unsupported)} of {len(self.sentences)} sentences are not supported by what "
                f"they cite (similarity below {self.threshold:.2f})"
            )
        return found

    def describe(self) -> str:
        """One line of plain text (safe as Markdown) for under the answer (web app and CLI)."""
        parts = [
            "cites " + ", ".join(f"[{n}]" for n in self.valid) if self.valid else "",
            f"{len(self.sentences) - len(self.unsupported)} of {len(self.sentences)} sentences supported"
            if self.sentences
            else "",
        ]
        summary = " · ".join(p for p in parts if p)
        if self.ok:
            return f"✓ Checks: {summary}"
        return "⚠ Checks: " + "; ".join(self.problems()) + (f" ({summary})" if summary else "")

    def to_dict(self) -> dict:
        """Plain JSON types only (the saved conversation, the feedback export); `from_dict` reads it."""
        data = asdict(self)
        data["problems"] = self.problems()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> AnswerChecks:
        sentences = tuple(
            SentenceSupport(s["sentence"], tuple(s["compared"]), s["best_source"], s["score"], s["supported"])
            for s in data.get("sentences", ())
        )
        return cls(tuple(data["cited"]), tuple(data["missing"]), sentences, data.get("threshold", 0.0))


@dataclass(frozen=True)
class HitsEvent:
    hits: list[Hit]
    query: str = ""  # what was searched, when the conversation shaped it ("Searched for: …")


@dataclass(frozen=True)
class DeltaEvent:
    text: str


@dataclass(frozen=True)
class StatsEvent:
    stats: GenerationStats


@dataclass(frozen=True)
class ErrorEvent:
    message: str


@dataclass(frozen=True)
class EvidenceEvent:
    """The sentences of each source that bear on the question, found while the model writes (at
    most one per answer, before the `ReviewEvent`, which replaces its marks)."""

    marks: Marks


@dataclass(frozen=True)
class ReviewEvent:
    """The review of a complete answer, the last event of an answer that finished: the evidence
    marks for the question and the answer, and the checks. Computed once per answer."""

    marks: Marks
    checks: AnswerChecks


AnswerEvent = HitsEvent | DeltaEvent | StatsEvent | ErrorEvent | EvidenceEvent | ReviewEvent


@dataclass
class Usage:
    """What a finished generation cost; filled in by the LLM backend as it streams."""

    prompt_tokens: int = 0
    output_tokens: int = 0
    first_token_s: float | None = None
    finish_reason: str | None = None
