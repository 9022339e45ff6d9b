"""The Sources panel and the citation links of an answer, as the browser gets them: the review's
evidence marks (`rag.types.Mark`) and checks drawn into inert HTML and Markdown.

Everything from a document is HTML-escaped before the `<mark>` tags go in, and the output has no
script, no style attribute with URLs and no remote reference. An answer's [n] become Markdown links
to source n of that answer (`anchor`), so a click brings the source into view.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Sequence

from rag.text.sentences import CITATION
from rag.types import SCORE_EXPLANATION, Chunk, Context, Hit, Mark, Marks
from rag.web.links import source_name_html  # a web page's source links to it


def anchor(rank: int, answer: str = "") -> str:
    """The id of source n's element, which citation links point at. `answer` (see `answer_key`)
    ties it to one answer: the panel shows only the latest answer's sources, and [1] in an earlier
    answer opened the newest answer's source 1."""
    return f"rag-source-{answer}-{rank}" if answer else f"rag-source-{rank}"


def answer_key(question: str, answer: str) -> str:
    """A short id of one answer, the same live and when its conversation is reopened."""
    return hashlib.sha256(f"{question}\0{answer}".encode()).hexdigest()[:10]


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


def sources_html(
    hits: Sequence[Hit],
    query: str = "",
    marks: Marks | None = None,
    cited: Sequence[int] = (),
    context: Context | None = None,
    answer: str = "",
) -> str:
    """The Sources panel, the only builder of it: what was searched ("Searched for: …"), then each
    hit (rank, score, source, page, its text with the supporting sentences marked) as inert text.
    Source n has the id `anchor(n, answer)` (what the answer's citation links point at; `answer` is
    `answer_key`) and the class `rag-cited` when the answer cites it. With `context`
    (`Assistant.in_context`), each source can be expanded to its neighbouring chunks: a `<details>`
    element, so it opens without script."""
    searched = f'<p class="rag-query">{html.escape(query)}</p>' if query else ""
    if not hits:
        return searched + '<div class="rag-sources-empty">No chunks retrieved yet.</div>'
    marks, context = marks or {}, context or {}
    items = [
        _source_html(
            hit, marks.get(hit.rank, []), hit.rank in cited, context.get(hit.chunk.position, []), answer
        )
        for hit in hits
    ]
    explained = f'<p class="rag-help">{SCORE_EXPLANATION}</p>'
    return f'{searched}<div class="rag-sources">{explained}{"".join(items)}</div>'


def _source_html(
    hit: Hit, marks: Sequence[Mark], cited: bool, around: Sequence[Chunk], answer: str = ""
) -> str:
    location = f" · {html.escape(hit.chunk.location)}" if hit.chunk.location else ""
    head = (
        f'<b>[{hit.rank}]</b> <span class="rag-score">{hit.score:.3f}</span> '
        f"{source_name_html(hit.chunk.source)}{location} · chunk {hit.chunk.index}"
        ' <a href="#viewer" class="rag-view">open the original</a>'
    )
    element_id = anchor(hit.rank, answer)
    heading = hit.chunk.heading  # title › section path, shown above the chunk
    section = f'<div class="rag-section">{html.escape(heading)}</div>' if heading else ""
    # what the viewer is asked for (rag/web/viewer_panel.py): the document, page and section
    viewed = (
        f'data-doc="{html.escape(hit.chunk.doc_id)}" data-page="{hit.chunk.page}" '
        f'data-section="{html.escape(hit.chunk.section)}"'
    )
    return (
        f'<div class="rag-source{" rag-cited" if cited else ""}" id="{element_id}" data-rank="{hit.rank}" '
        f"{viewed}>"
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
