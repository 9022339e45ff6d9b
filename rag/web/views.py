"""What an event sets on the page, as named tuples whose field names are the components' names.

Gradio takes an event's outputs as a list of components and its result as a tuple in the same
order. Before this, that order was written twice, in `layout.py` and in `handlers.py` (the page
load returned 10 values); now a view type names each value, and `outputs` builds the component
list from the same fields, so the two can't drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

Update = dict[str, Any]  # a gr.update(...)


class ChatView(NamedTuple):
    """A conversation on screen: its messages, the Sources panel of its last answer, its stats."""

    chatbot: list[dict]
    sources: str
    stats: str


class DocumentsView(NamedTuple):
    """The document list, and the sample button offered while nothing is visible."""

    docs: Update
    sample: Update


class UploadView(NamedTuple):
    """After adding or deleting documents: the per-file report and the refreshed list."""

    upload_status: str
    docs: Update
    sample: Update


class ConversationView(NamedTuple):
    """A conversation opened, closed or deleted: its id (for the session and for the browser),
    what it shows, and the conversation list."""

    conversation: str
    stored_conversation: str
    chatbot: list[dict]
    sources: str
    stats: str
    conversations: Update


class PageView(NamedTuple):
    """A page load or a workspace switch: the workspace key (session and browser), the open
    conversation (same), the chat, the conversation list and the documents."""

    workspace: str
    stored_key: str
    conversation: str
    stored_conversation: str
    chatbot: list[dict]
    sources: str
    stats: str
    conversations: Update
    docs: Update
    sample: Update


def outputs(view: type[tuple], components: Mapping[str, Any]) -> list[Any]:
    """The components an event with result type `view` sets, in the order of its fields."""
    return [components[name] for name in view._fields]  # type: ignore[attr-defined]
