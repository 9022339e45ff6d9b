"""Which sentences of each retrieved chunk support the question and the answer, and inert HTML
that shows them marked; plus [n] citations in an answer turned into links to source n.

Computed at sentence level with the embedder the app already holds: one batch for a few dozen
short sentences, tens of milliseconds on a CPU (docs/BENCHMARKS.md), so it can run after every
answer. Everything from a document is HTML-escaped before the `<mark>` tags go in, and the output
has no script, no style attribute with URLs and no remote reference.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from rag.text.sentences import CITATION, sentence_spans, split_sentences, strip_citations
from rag.types import SCORE_EXPLANATION, Chunk, Context, Hit

# An answer sentence at least this similar to a source sentence counts as supported (rag.review.checks).
# bench/support_threshold.py on the 40 dev questions: best balanced accuracy at 0.53 (verbatim answer
# phrases kept 86%, unrelated chunks flagged 98%, other chunks of the same document 93%); rounded
# down to 0.50 (the same share kept there) because model answers paraphrase where those phrases copy.
SUPPORT_THRESHOLD = 0.5
QUESTION_MIN_SCORE = 0.3  # below this a chunk's best sentence is not shown as related to the question
PER_HIT = 2  # at most this many sentences of a chunk are marked for the question


def anchor(rank: int, answer: str = "") -> str:
    """The id of source n's element, which citation links point at. `answer` (see `answer_key`)
    ties it to one answer: the panel shows only the latest answer's sources, and [1] in an earlier
    answer opened the newest answer's source 1."""
    return f"rag-source-{answer}-{rank}" if answer else f"rag-source-{rank}"


def answer_key(question: str, answer: str) -> str:
    """A short id of one answer, the same live and when its conversation is reopened."""
    return hashlib.sha256(f"{question}\0{answer}".encode()).hexdigest()[:10]


class Encoder(Protocol):
    """What evidence and checks need from `rag.embedding.embedder.Embedder` (unit-length rows)."""

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


@dataclass(frozen=True)
class HitSentences:
    """One hit's sentences: their spans in `hit.chunk.text` and their vectors (one row each)."""

    hit: Hit
    spans: list[tuple[int, int]]
    vectors: np.ndarray

    def sentence(self, i: int) -> str:
        start, end = self.spans[i]
        return self.hit.chunk.text[start:end]


@dataclass(frozen=True)
class Mark:
    start: int
    end: int
    score: float
    by: str  # "question", "answer" or "both": what it is similar to (a CSS class each)


def index_hits(hits: Sequence[Hit], encoder: Encoder) -> list[HitSentences]:
    """Split every hit into sentences and embed them all in one batch (shared by the highlighting
    and the answer checks, so a chunk is embedded once per answer)."""
    spans = [sentence_spans(hit.chunk.text) or [(0, len(hit.chunk.text))] for hit in hits]
    texts = [hit.chunk.text[s:e] for hit, hit_spans in zip(hits, spans, strict=True) for s, e in hit_spans]
    vectors = encoder.embed_passages(texts) if texts else np.zeros((0, 1), dtype=np.float32)
    indexed, row = [], 0
    for hit, hit_spans in zip(hits, spans, strict=True):
        indexed.append(HitSentences(hit, hit_spans, vectors[row : row + len(hit_spans)]))
        row += len(hit_spans)
    return indexed


def find_evidence(
    question: str,
    indexed: Sequence[HitSentences],
    encoder: Encoder,
    answer: str = "",
    answer_min_score: float | None = None,
) -> dict[int, list[Mark]]:
    """Rank → the marks for that hit: its `PER_HIT` sentences closest to the question (when at
    least `QUESTION_MIN_SCORE`), and, once the answer is complete, every sentence that is the best
    match of an answer sentence with at least the support threshold (see rag.review.checks)."""
    threshold = SUPPORT_THRESHOLD if answer_min_score is None else answer_min_score
    marks: dict[int, dict[int, Mark]] = {item.hit.rank: {} for item in indexed}
    q = encoder.embed_query(question)
    for item in indexed:
        if not len(item.spans):
            continue
        scores = item.vectors @ q
        for i in np.argsort(-scores)[:PER_HIT]:
            if scores[i] >= QUESTION_MIN_SCORE:
                start, end = item.spans[i]
                marks[item.hit.rank][int(i)] = Mark(start, end, float(scores[i]), "question")
    claims = [c for c in (strip_citations(s) for s in split_sentences(answer)) if len(c.split()) >= 3]
    where = [(item, i) for item in indexed for i in range(len(item.spans))]
    if claims and where:
        every = np.vstack([item.vectors for item in indexed if len(item.spans)])
        similarity = encoder.embed_passages(claims) @ every.T  # claims × all sentences of all hits
        for row in similarity:
            best = int(np.argmax(row))
            if row[best] >= threshold:
                item, i = where[best]
                earlier = marks[item.hit.rank].get(i)
                by = "both" if earlier and earlier.by != "answer" else "answer"
                score = max(float(row[best]), earlier.score if earlier else 0.0)
                marks[item.hit.rank][i] = Mark(*item.spans[i], score, by)
    return {rank: sorted(found.values(), key=lambda m: m.start) for rank, found in marks.items()}


def marked_text(text: str, marks: Sequence[Mark]) -> str:
    """`text` HTML-escaped, with `<mark>` around each marked span (spans must not overlap)."""
    out, cursor = [], 0
    for mark in sorted(marks, key=lambda m: m.start):
        if mark.start < cursor:
            continue
        out.append(html.escape(text[cursor : mark.start]))
        title = (
            f"similar to the {mark.by if mark.by != 'both' else 'question and the answer'} ({mark.score:.2f})"
        )
        out.append(
            f'<mark class="rag-mark rag-by-{mark.by}" title="{html.escape(title)}">'
            f"{html.escape(text[mark.start : mark.end])}</mark>"
        )
        cursor = mark.end
    out.append(html.escape(text[cursor:]))
    return "".join(out)


def evidence_html(
    hits: Sequence[Hit],
    marks: dict[int, list[Mark]],
    cited: Sequence[int] = (),
    context: Context | None = None,
    answer: str = "",
) -> str:
    """The Sources panel with the supporting sentences marked; source n has id `anchor(n, answer)`
    (what the answer's citation links point at) and the class `rag-cited` when the answer cites it.
    With `context` (`Assistant.in_context`), each source can be expanded to its neighbouring chunks:
    a `<details>` element, so it opens without script."""
    if not hits:
        return '<div class="rag-sources-empty">No chunks retrieved yet.</div>'
    context = context or {}
    items = [
        _source_html(
            hit, marks.get(hit.rank, []), hit.rank in cited, context.get(hit.chunk.position, []), answer
        )
        for hit in hits
    ]
    return f'<div class="rag-sources"><p class="rag-help">{SCORE_EXPLANATION}</p>{"".join(items)}</div>'


def _source_html(
    hit: Hit, marks: Sequence[Mark], cited: bool, around: Sequence[Chunk], answer: str = ""
) -> str:
    location = f" · {html.escape(hit.chunk.location)}" if hit.chunk.location else ""
    head = (
        f'<b>[{hit.rank}]</b> <span class="rag-score">{hit.score:.3f}</span> '
        f'<span class="rag-name">{html.escape(hit.chunk.source)}</span>{location} · chunk {hit.chunk.index}'
    )
    element_id = anchor(hit.rank, answer)
    heading = hit.chunk.heading  # title › section path, shown above the chunk
    section = f'<div class="rag-section">{html.escape(heading)}</div>' if heading else ""
    return (
        f'<div class="rag-source{" rag-cited" if cited else ""}" id="{element_id}" data-rank="{hit.rank}">'
        f'<div class="rag-source-head">{head}</div>{section}'
        f'<pre class="rag-text">{marked_text(hit.chunk.text, marks)}</pre>'
        f"{_context_html(hit.chunk, around)}</div>"
    )


def _context_html(chunk: Chunk, around: Sequence[Chunk]) -> str:
    """The chunk between its neighbours, each labelled; nothing when it has none."""
    if all(near.index == chunk.index for near in around):
        return ""
    parts = []
    for near in around:
        here = near.index == chunk.index
        css = "rag-context-text rag-context-self" if here else "rag-context-text"
        label = "this chunk" if here else f"chunk {near.index}"
        where = f" · {html.escape(near.location)}" if near.location and near.page != chunk.page else ""
        parts.append(
            f'<div class="rag-context-label">{label}{where}</div>'
            f'<pre class="{css}">{html.escape(near.text)}</pre>'
        )
    return f'<details class="rag-context"><summary>Show in context</summary>{"".join(parts)}</details>'


def link_citations(markdown: str, ranks: Sequence[int], answer: str = "") -> str:
    """[n] in answer Markdown → a link to source n of this answer (`anchor`); an [n] with no
    source n is struck through with a note. Apply it to text that already went through
    `render.chat_markdown` (no HTML, no images); it adds neither, only Markdown links to anchors
    on the same page."""
    available = set(ranks)

    def one(number: int) -> str:
        if number in available:
            return f"[\\[{number}\\]](#{anchor(number, answer)})"
        return f"~~\\[{number}\\]~~ _(no source {number})_"

    def replace(match: re.Match[str]) -> str:
        return " ".join(one(int(n)) for n in match.group(1).split(","))

    return CITATION.sub(replace, markdown)


_LINKED = re.compile(
    r"\[\\\[(\d+)\\\]\]\(#rag-source-(?:[0-9a-f]+-)?\d+\)|~~\\\[(\d+)\\\]~~ _\(no source \d+\)_"
)


def unlink_citations(markdown: str) -> str:
    """The inverse of `link_citations`, for answers coming back from the Chatbot as history: the
    model should see its own plain [n], not links or notes. (A list "[1, 2]" comes back as "[1] [2]".)"""
    return _LINKED.sub(lambda m: f"[{m.group(1) or m.group(2)}]", markdown)
