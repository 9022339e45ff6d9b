"""The Sources panel of a whole conversation: one group of sources per answer, the latest shown.

Each answer's [n] links point at its own sources (`sources.anchor` with `sources.answer_key`); the
panel used to hold only the latest answer's, so [1] in an earlier answer opened nothing, live and
after a reload. Now every answer's group is in the panel (earlier ones hidden by CSS) and a click on
a citation shows the group it belongs to (`layout.CITATION_JS`). The sources stay in one place
beside the chat, where the user already looks, and the chat messages stay Markdown without HTML
(the inert-chat rules). Earlier groups leave out "Show in context" (the neighbours are a store
query per source: 5 per answer) and are built from the saved turns (`Turn.hits`).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from rag.review.checks import check_citations
from rag.web.render import chat_markdown, turn_of
from rag.web.sources import answer_key, link_citations, sources_html
from rag.workspace.conversations import Conversation, Turn


def group_html(body: str, question: str, key: str, number: int, latest: bool) -> str:
    """One answer's sources (`body`, from `sources_html`), labelled with its question; `latest`
    is the group shown until a citation elsewhere is clicked."""
    label = f"Sources of answer {number}: {html.escape(_short(question))}"
    back = "" if latest else ' · <a href="#rag-latest" class="rag-show-latest">show the latest answer\'s</a>'
    css = "rag-answer-sources rag-current" if latest else "rag-answer-sources"
    return (
        f'<section class="{css}" data-answer="{html.escape(key)}">'
        f'<p class="rag-answer-of">{label}{back}</p>{body}</section>'
    )


def panel_html(groups: Sequence[str]) -> str:
    """The panel: the groups in answer order (`group_html`)."""
    return f'<div class="rag-panel">{"".join(groups)}</div>'


def saved_group(turn: Turn, number: int, latest: bool) -> str:
    """A saved answer's group: its hits with their marked sentences, what was searched and the
    sources it cites (a turn saved without checks is checked now)."""
    cited = (turn.checks or check_citations(turn.answer, turn.hits)).valid
    key = answer_key(turn.question, turn.answer)
    body = sources_html(turn.hits, turn.query, turn.marks, cited, answer=key)
    return group_html(body, turn.question, key, number, latest)


def saved_groups(turns: Sequence[Turn]) -> list[str]:
    """The groups of saved answers, none shown (a new answer follows them)."""
    return [saved_group(turn, number, False) for number, turn in enumerate(turns, 1)]


def conversation_panel(turns: Sequence[Turn]) -> str:
    """A reopened conversation's panel: every answer's sources, the last one's shown."""
    if not turns:
        return sources_html([])
    *earlier, last = turns
    return panel_html([*saved_groups(earlier), saved_group(last, len(turns), True)])


def linked_answer(turn: Turn) -> str:
    """A saved answer as the chat shows it: its [n] linked to its own group's sources."""
    ranks = [hit.rank for hit in turn.hits]
    return link_citations(chat_markdown(turn.answer), ranks, answer_key(turn.question, turn.answer))


def relink(shown: list[dict], history: Sequence[dict], conversation: Conversation | None) -> None:
    """Earlier answers come back from the Chatbot as plain [n] (`unlink_citations`, for the
    model); the ones saved in `conversation` (their message names the turn) get their links back,
    so a click on them still opens their sources after the next question."""
    if conversation is None:
        return
    saved = {turn.seq: turn for turn in conversation.turns}
    for message, original in zip(shown, history, strict=False):
        named = turn_of(original)
        if named and named.conversation == conversation.id and named.seq in saved:
            message["content"] = linked_answer(saved[named.seq])


def _short(question: str, limit: int = 80) -> str:
    """The question on one line, cut at `limit` characters (a label, not the question)."""
    line = " ".join(question.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
