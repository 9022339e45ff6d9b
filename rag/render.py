"""Text the web app shows, built from the stage types. Document text and file names are always
HTML-escaped: markup inside a document must never reach the browser as markup."""

from __future__ import annotations

import html
from collections.abc import Sequence

from rag.types import SHARED_OWNER, DocumentInfo, Hit, IngestResult

SCORE_HELP = (
    "score: higher is closer. Hybrid retrieval (the default): Milvus's weighted fusion of keyword (BM25) "
    "and cosine similarity, 0 to 1; dense: cosine similarity between question and chunk; keyword: BM25"
)


def sources_html(hits: Sequence[Hit]) -> str:
    """The retrieved-chunks panel: rank, score, source, page and the chunk text, as inert text."""
    if not hits:
        return '<div class="rag-sources-empty">No chunks retrieved yet.</div>'
    items = []
    for hit in hits:
        page = f" · page {hit.chunk.page}" if hit.chunk.page else ""
        source = html.escape(hit.chunk.source)
        section = (
            f'<div class="rag-section">{html.escape(hit.chunk.heading)}</div>' if hit.chunk.heading else ""
        )  # title › section path, above the chunk
        items.append(
            f'<div class="rag-source" data-rank="{hit.rank}"><div class="rag-source-head">'
            f'<b>[{hit.rank}]</b> <span class="rag-score">{hit.score:.3f}</span> '
            f'<span class="rag-name">{source}</span>{page} · chunk {hit.chunk.index}</div>{section}'
            f'<pre class="rag-text">{html.escape(hit.chunk.text)}</pre></div>'
        )
    return f'<div class="rag-sources"><p class="rag-help">{SCORE_HELP}</p>{"".join(items)}</div>'


def chat_markdown(text: str) -> str:
    """Chat text for the Chatbot's Markdown: no HTML and no images, so an answer that echoes a
    document (or a prompt injection in one) can't make the browser load anything."""
    return text.replace("<", "&lt;").replace("![", "!\\[")


def chat_text(markdown: str) -> str:
    """The inverse of `chat_markdown`, for history coming back from the Chatbot."""
    return markdown.replace("!\\[", "![").replace("&lt;", "<")


def upload_report(results: Sequence[IngestResult]) -> str:
    lines = [result.describe() for result in results]
    failed = sum(1 for r in results if r.status == "failed")
    summary = f"{len(results) - failed} of {len(results)} file(s) in" + (
        f", {failed} failed" if failed else ""
    )
    return "\n".join([summary, *lines])


def document_choices(documents: Sequence[DocumentInfo]) -> list[tuple[str, str]]:
    """(label, doc_id) pairs for the documents list; shared ones are marked."""
    choices = []
    for doc in documents:
        where = " · shared" if doc.owner == SHARED_OWNER else ""
        pages = f", {doc.pages} pages" if doc.pages > 1 else ""
        choices.append((f"{doc.source} ({doc.chunks} chunks{pages}){where}", doc.doc_id))
    return choices
