"""Text the web app shows, built from the stage types (the Sources panel: rag.web.sources). Document
text and file names are always HTML-escaped: markup inside a document must never reach the browser
as markup."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.types import SHARED_OWNER, AnswerChecks, DocumentInfo, IngestResult, page_unit
from rag.workspace.conversations import ConversationSummary, SavedTurn


def stats_lines(stats: str, checks: AnswerChecks | None = None) -> str:
    """What shows under an answer: its stats line, then its checks (Markdown line break between).
    A turn saved before the checks were kept apart has them inside `stats` and no `checks`."""
    return "  \n".join(part for part in (stats, checks.describe() if checks else "") if part)


TURN_ID = re.compile(r"turn:([0-9a-f]{32}):([0-9]{1,9})")


def turn_metadata(saved: SavedTurn) -> dict:
    """What a saved answer's chat message carries (Chatbot `metadata`; without a title it shows
    nothing) so that a 👍/👎 on it names its turn, whatever else the chat shows: a stopped answer is
    shown but never saved, so counting messages would name the wrong turn."""
    return {"id": f"turn:{saved.conversation}:{saved.seq}"}


def kept_metadata(message: dict) -> dict:
    """The only `metadata` a chat message from the browser keeps: its turn's id, rebuilt from a
    valid one (anything else a client sends, of any size, is dropped, not echoed back)."""
    turn = turn_of(message)
    return {"metadata": turn_metadata(turn)} if turn else {}


def turn_of(message: object) -> SavedTurn | None:
    """The turn an answer's chat message shows (from `turn_metadata`); None if it was not saved."""
    if not isinstance(message, dict) or message.get("role") != "assistant":
        return None
    metadata = message.get("metadata")
    found = TURN_ID.fullmatch(str(metadata.get("id") or "")) if isinstance(metadata, dict) else None
    return SavedTurn(found[1], int(found[2])) if found else None


# A code fence (``` or ~~~, any length) whose info string starts with "mermaid", in any case, wherever it
# sits on its line: Gradio's Chatbot draws a fenced ```mermaid block as a diagram wherever Markdown
# starts a block there, which is not only a line start (inside `>` block quotes at any depth, inside
# list items, and after a one-character paragraph that its `start` hook cuts off), and a diagram's
# labels load remote images. Gradio has no setting that turns diagrams off short of turning all
# Markdown off, so every such fence gets a zero-width space before "mermaid": the fence stays a plain
# code block whose text looks the same, and no form of the diagram opener is left anywhere.
MERMAID_FENCE = re.compile(r"((?:`{3,}|~{3,})[^\S\r\n]*)(?=mermaid)", re.IGNORECASE)
MERMAID_SHOWN = re.compile(r"((?:`{3,}|~{3,})[^\S\r\n]*)\u200b(?=mermaid)", re.IGNORECASE)


def chat_markdown(text: str) -> str:
    """Chat text for the Chatbot's Markdown: no HTML, no images and no mermaid diagrams (the
    Chatbot renders them, and a diagram's labels can load remote images), so an answer that echoes
    a document (or a prompt injection in one) can't make the browser load anything. Every message
    the chat shows goes through here: live ones, the history a chat sends back, restored ones."""
    text = MERMAID_FENCE.sub("\\1\u200b", text)
    return text.replace("<", "&lt;").replace("![", "!\\[")


def chat_text(markdown: str) -> str:
    """The inverse of `chat_markdown`, for history coming back from the Chatbot."""
    markdown = MERMAID_SHOWN.sub(r"\1", markdown)
    return markdown.replace("!\\[", "![").replace("&lt;", "<")


def upload_report(results: Sequence[IngestResult]) -> str:
    lines = [result.describe() for result in results]
    failed = sum(1 for r in results if r.status == "failed")
    summary = f"{len(results) - failed} of {len(results)} file(s) in" + (
        f", {failed} failed" if failed else ""
    )
    return "\n".join([summary, *lines])


def conversation_choices(summaries: Sequence[ConversationSummary]) -> list[tuple[str, str]]:
    """(first question, id) pairs for the conversation list, the most recent first. Gradio shows
    choice labels as text, so a question with markup stays inert."""
    return [(summary.title, summary.id) for summary in summaries]


def document_choices(documents: Sequence[DocumentInfo]) -> list[tuple[str, str]]:
    """(label, doc_id) pairs for the documents list; shared ones are marked."""
    choices = []
    for doc in documents:
        where = " · shared" if doc.owner == SHARED_OWNER else ""
        pages = f", {doc.pages} {page_unit(doc.source)}s" if doc.pages > 1 else ""
        choices.append((f"{doc.source} ({doc.chunks} chunks{pages}){where}", doc.doc_id))
    return choices
