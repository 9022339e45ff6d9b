"""Markdown and HTML → title + sections (heading path, body text), for section-aware chunking.

Retrieval misses chunks that sit under a telling heading but don't repeat its words; cutting the
text along its headings and carrying the heading path with every chunk fixes both. Headings inside
fenced code blocks are code, not structure.

HTML is walked without recursion and each element is visited a bounded number of times: a file of a
few thousand nested elements overflowed Python's stack ("RecursionError", issue 19 point 17), and
200 nested tables in 9.6 kB took 68 s and gave 20.4 M characters when every table re-read its
nested ones. The text is counted against the document's `Budget` as it is produced.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from bs4 import BeautifulSoup, NavigableString, Tag

from rag.ingest.budgets import Budget
from rag.types import SECTION_SEPARATOR

_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
_FRONT_TITLE = re.compile(r"^title:[ \t]*(.+?)[ \t]*$", re.M)
_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_ANCHOR = re.compile(r"\{#[^}]*\}\s*$")
_TAG = re.compile(r"<[^>]+>")
_START_TAG = re.compile(r"<[A-Za-z]")
_HEADING_TAGS = {f"h{n}": n for n in range(1, 7)}
_CELLS = {"td", "th"}
HIDDEN_TAGS = ["script", "style", "noscript", "template", "svg", "head", "iframe", "object"]


@dataclass(frozen=True)
class Section:
    path: str  # "A › B › C"; empty for text before the first heading
    text: str


class _Outline:
    """Collects body lines under the heading path that is current when they arrive."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, str]] = []
        self.lines: list[str] = []
        self.sections: list[Section] = []
        self.first_h1 = ""

    def heading(self, level: int, name: str) -> None:
        self.flush()
        name = clean_heading(name)
        if not name:
            return
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, name))
        if level == 1 and not self.first_h1:
            self.first_h1 = name

    def flush(self) -> None:
        body = "\n".join(self.lines).strip("\n")
        if body.strip():
            self.sections.append(Section(SECTION_SEPARATOR.join(n for _, n in self.stack), body))
        self.lines = []

    def finish(self) -> list[Section]:
        """The sections; a file that is only headings (a stub page) keeps its last heading as text."""
        self.flush()
        if not self.sections and self.stack:
            path = SECTION_SEPARATOR.join(n for _, n in self.stack)
            self.sections.append(Section(path, self.stack[-1][1]))
        return self.sections


def clean_heading(raw: str) -> str:
    """Heading text without link targets, anchors, inline markup or HTML."""
    text = _LINK.sub(r"\1", raw)
    text = _ANCHOR.sub("", text)
    text = _TAG.sub("", text)
    text = text.replace("`", "").replace("**", "").replace("__", "")
    return " ".join(text.split()).replace(SECTION_SEPARATOR.strip(), "-")


def markdown_sections(text: str) -> tuple[str, list[Section]]:
    """(title, sections): the title from front matter `title:`, else the first `#` heading."""
    title = ""
    front = _FRONT_MATTER.match(text)
    if front:
        found = _FRONT_TITLE.search(front.group(1))
        title = found.group(1).strip("'\"") if found else ""
        text = text[front.end() :]
    outline = _Outline()
    fence = ""
    for line in text.splitlines():
        if fence:
            outline.lines.append(line)
            if line.strip().startswith(fence):
                fence = ""
            continue
        opening = _FENCE.match(line)
        if opening:
            fence = opening.group(1)
            outline.lines.append(line)
            continue
        atx = _ATX.match(line)
        if atx:
            outline.heading(len(atx.group(1)), atx.group(2))
            continue
        if _SETEXT.match(line) and _setext_text(outline.lines):
            name = outline.lines.pop()
            outline.heading(1 if "=" in line else 2, name)
            continue
        outline.lines.append(line)
    sections = outline.finish()
    return title or outline.first_h1, sections


def _setext_text(lines: list[str]) -> bool:
    """A `===`/`---` underline makes a heading only of a one-line paragraph that isn't a table row."""
    if not lines or not lines[-1].strip() or lines[-1].lstrip().startswith(("|", "-", "*", ">")):
        return False
    return len(lines) == 1 or not lines[-2].strip()


def html_sections(html: str, budget: Budget | None = None) -> tuple[str, list[Section]]:
    """(title, sections) of the visible text: `<title>` (else the first `<h1>`) and the h1-h6 path.

    Code (`<pre>`) and tables come out as fenced blocks and `|` rows, so the chunker keeps them whole
    where they fit; scripts, styles and markup never reach the text. A table inside a table cell is
    that cell's text. `budget` counts the text as it comes out (RAG_MAX_DOCUMENT_CHARS).
    """
    budget = budget or Budget("the HTML document")
    budget.count_elements(sum(1 for _ in _START_TAG.finditer(html)))
    soup = BeautifulSoup(html, "html.parser")
    budget.check()
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    hidden = set(HIDDEN_TAGS)
    for tag in _find(soup, hidden, hidden):
        tag.decompose()
    for pre in _find(soup, {"pre"}, {"pre"}):
        pre.replace_with(NavigableString(f"\n\x00```\n{pre.get_text()}\n```\x00\n"))
    for table in _find(soup, {"table"}, {"table"}):
        rows = []
        for row in _find(table, {"tr"}, {"tr", "table"}):
            cells = [c.get_text(" ", strip=True) for c in _find(row, _CELLS, _CELLS | {"tr", "table"})]
            rows.append("| " + " | ".join(cells).replace("\x00", "") + " |")
            budget.check()  # cells are disjoint, so the rows are no longer than the markup
        found = table.find("caption", recursive=False)  # a "Table: …" line, repeated by split_tables
        caption = "Table: " + found.get_text(" ", strip=True).replace("\x00", "") if found else ""
        table.replace_with(NavigableString(f"\n\x00{caption}\x00" + "\n".join(rows) + "\x00\n"))
    outline = _Outline()
    buffer: list[str] = []

    def flush_text() -> None:
        text = "".join(buffer)
        buffer.clear()
        for part in text.split("\x00"):
            if part.startswith(("```", "| ")):
                outline.lines.append(part.strip("\n"))
            else:
                outline.lines.extend(" ".join(line.split()) for line in part.splitlines() if line.strip())

    for piece in _pieces(soup.body or soup):
        if isinstance(piece, tuple):
            flush_text()
            outline.heading(*piece)
        else:
            buffer.append(piece)
            budget.take(piece)
    flush_text()
    sections = outline.finish()
    return title or outline.first_h1, sections


_BLOCK_TAGS = {
    "p", "div", "li", "ul", "ol", "br", "section", "article", "blockquote", "dd", "dt", "dl", "tr",
    "header", "footer", "main", "nav", "aside", "figure", "figcaption", "hr", "form", "details", "summary",
}  # fmt: skip


def _pieces(node: Tag) -> Iterator[str | tuple[int, str]]:
    """Headings as (level, text), text as strings with a newline around every block element, in
    document order. A stack of child iterators (and the newline that closes a block) replaces
    recursion, so nesting depth costs memory, not Python's stack."""
    stack: list[Iterator[object] | str] = [iter(node.children)]
    while stack:
        top = stack[-1]
        if isinstance(top, str):
            stack.pop()
            yield top
            continue
        child = next(top, None)
        if child is None:
            stack.pop()
        elif isinstance(child, Tag):
            if child.name in _HEADING_TAGS:
                yield (_HEADING_TAGS[child.name], child.get_text(" ", strip=True))
            elif child.name in _BLOCK_TAGS:
                yield "\n"
                stack += ["\n", iter(child.children)]
            else:
                stack.append(iter(child.children))
        elif type(child) is NavigableString:  # not comments, doctypes or CDATA
            yield str(child)


def _find(root: Tag, names: set[str], stop: set[str]) -> list[Tag]:
    """The descendants of `root` named in `names`, in document order, without looking inside one
    found or inside a `stop` element: each element is visited once, where bs4's `find_all` on
    every nested table re-reads all the tables inside it."""
    found: list[Tag] = []
    stack: list[Tag] = [child for child in reversed(list(root.children)) if isinstance(child, Tag)]
    while stack:
        node = stack.pop()
        if node.name in names:
            found.append(node)
        elif node.name not in stop:
            stack += [child for child in reversed(list(node.children)) if isinstance(child, Tag)]
    return found
