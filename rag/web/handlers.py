"""What the web app's events do, without Gradio layout: each method takes plain values plus who is
asking (the browser's workspace key, the request, a Hugging Face profile) and returns what the
components show.

Only this module, `chat_stream.py` and `layout.py` know Gradio. Errors from the stages become
per-file lines, assistant messages or `gr.Error`s here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import gradio as gr

from rag.assistant import Assistant
from rag.errors import LimitError
from rag.web.answer_sources import conversation_panel, linked_answer
from rag.web.chat_stream import flatten, stream_chat
from rag.web.document_events import DocumentEvents
from rag.web.render import (
    chat_markdown,
    conversation_choices,
    kept_metadata,
    stats_lines,
    turn_metadata,
    turn_of,
)
from rag.web.sources import sources_html
from rag.web.views import ChatView, ConversationView, DocumentsView, PageView
from rag.workspace.conversations import Conversation, SavedTurn
from rag.workspace.owners import WORKSPACE_COOKIE, hf_owner, key_owner, new_workspace_key, user_owner

log = logging.getLogger(__name__)
ChatHistory = list[dict]
Profile = gr.OAuthProfile | None


class WebApp(DocumentEvents):
    """The workspace, conversation, chat, feedback and status events; the document events are
    `DocumentEvents`' (rag/web/document_events.py)."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.settings = assistant.settings
        self._in_flight: dict[str, int] = {}  # owner → answers streaming (only touched on the loop)

    # -- workspaces --------------------------------------------------------------------------

    def owner(self, workspace: str, request: gr.Request | None, profile: Profile = None) -> str:
        """Whose documents these are: a Hugging Face user (by account id), a login user, this
        browser's workspace (its key), or, for an API client, the key in its `rag_workspace`
        cookie (issued by the server on /config). Never the session hash alone: the client picks
        it, so a client reusing another's would get the other's workspace."""
        if profile is not None:
            try:
                return hf_owner(profile)
            except ValueError as exc:
                raise gr.Error(f"{exc}: sign out and in again") from None
        if request is not None and request.username:
            return user_owner(request.username)
        if self.settings.web.require_login:
            raise gr.Error("Sign in first: this app keeps documents per signed-in user.")
        owner = key_owner(workspace) or key_owner(_cookies(request).get(WORKSPACE_COOKIE, ""))
        if owner is None:
            raise gr.Error(
                "No workspace key: reload the page. API clients: connect with gradio_client, which gets "
                f"one in the {WORKSPACE_COOKIE} cookie from /config, or send your own there "
                "(32 hex digits, e.g. secrets.token_hex(16))."
            )
        self.assistant.touch(owner)
        return owner

    def restore(
        self, stored_key: str, stored_conversation: str, request: gr.Request, profile: Profile
    ) -> PageView:
        """Page load: reopen this browser's workspace (or make one) and its current conversation."""
        key = stored_key if key_owner(stored_key) else new_workspace_key()
        owner = self.owner(key, request, profile)
        conversation = self.assistant.conversation(owner, stored_conversation or "")
        conversation_id = conversation.id if conversation else ""
        return PageView(
            key,
            key,
            conversation_id,
            conversation_id,
            *conversation_view(conversation),
            self.conversation_list(owner, conversation_id),
            *self._list_updates_if_loaded(owner),
        )

    def _list_updates_if_loaded(self, owner: str) -> DocumentsView:
        """The document list, or no change while the library is still loading: the page load must
        not wait for it, since the workspace key it returns is what every upload needs (an upload
        made in the first seconds got "No workspace key"). The list follows (`documents`)."""
        if self.assistant.embedder_status == "loading":
            return DocumentsView(gr.update(), gr.update(visible=False))
        return self._list_updates(owner)

    def new_workspace(self, workspace: str, request: gr.Request, profile: Profile) -> PageView:
        """A fresh, empty workspace for this browser; the old one is left to the idle clean-up."""
        key = new_workspace_key()
        owner = self.owner(key, request, profile)
        return PageView(
            key,
            key,
            "",
            "",
            *conversation_view(None),
            self.conversation_list(owner, ""),
            *self._list_updates(owner),
        )

    def delete_workspace(self, workspace: str, request: gr.Request, profile: Profile) -> PageView:
        """Delete this workspace's documents, chunks and conversations, then start a new one."""
        owner = self.owner(workspace, request, profile)
        self.assistant.delete_workspace(owner)
        gr.Info("Workspace deleted: its documents and conversations are gone.")
        return self.new_workspace(workspace, request, profile)

    # -- conversations -----------------------------------------------------------------------

    def conversation_list(self, owner: str, current: str) -> dict:
        summaries = self.assistant.conversation_list(owner)
        return gr.update(choices=conversation_choices(summaries), value=current or None)

    def open_conversation(
        self, conversation_id: str | None, workspace: str, request: gr.Request, profile: Profile
    ) -> ConversationView:
        owner = self.owner(workspace, request, profile)
        conversation = self.assistant.conversation(owner, conversation_id or "")
        current = conversation.id if conversation else ""
        return ConversationView(
            current, current, *conversation_view(conversation), self.conversation_list(owner, current)
        )

    def delete_conversation(
        self, conversation_id: str, workspace: str, request: gr.Request, profile: Profile
    ) -> ConversationView:
        """Delete the open conversation and start a new chat."""
        owner = self.owner(workspace, request, profile)
        if conversation_id:
            self.assistant.delete_conversation(owner, conversation_id)
        return ConversationView("", "", *conversation_view(None), self.conversation_list(owner, ""))

    def refresh_conversations(
        self, conversation_id: str, workspace: str, request: gr.Request, profile: Profile
    ):
        """After an answer: remember the conversation in the browser and list it."""
        owner = self.owner(workspace, request, profile)
        return conversation_id, self.conversation_list(owner, conversation_id)

    # -- chat --------------------------------------------------------------------------------

    async def chat(
        self,
        message: str,
        history: ChatHistory | None,
        selected: list[str] | None,
        only_selected: bool,
        workspace: str,
        conversation: str,
        request: gr.Request,
        profile: Profile,
    ) -> AsyncIterator[tuple]:
        """Stream one answer (see `webapp_chat.stream_chat` for what each step shows). Anything
        over a limit is refused at once, before any work is spent on it."""
        question = flatten(message).strip()
        if not question:
            raise gr.Error("Type a question first.")
        earlier = [
            {"role": m.get("role"), "content": flatten(m.get("content"))} | kept_metadata(m)
            for m in history or []
        ]
        try:
            self.assistant.check_size(question, earlier, selected)
        except LimitError as exc:
            raise gr.Error(str(exc)) from None
        owner = self.owner(workspace, request, profile)
        if self._in_flight.get(owner, 0) >= self.settings.limits.max_chats_per_session:
            raise gr.Error(
                f"You already have {self.settings.limits.max_chats_per_session} answers streaming "
                "(RAG_MAX_CHATS_PER_SESSION): wait for one to finish, or press Stop."
            )
        if only_selected and not selected:
            gr.Warning("No documents selected: searching all of them.")
        doc_ids = selected if only_selected and selected else None
        self._in_flight[owner] = self._in_flight.get(owner, 0) + 1
        try:
            async for step in stream_chat(self.assistant, owner, question, earlier, doc_ids, conversation):
                yield step
        finally:  # also on Stop (the task is cancelled) and on a closed connection
            self._in_flight[owner] -= 1
            if not self._in_flight[owner]:
                del self._in_flight[owner]

    # -- feedback ----------------------------------------------------------------------------

    def feedback(
        self,
        vote: gr.LikeData,
        history: ChatHistory | None,
        workspace: str,
        request: gr.Request,
        profile: Profile,
    ) -> None:
        """👍/👎 on an answer: the vote is kept with the answer's turn (one per turn: a new one
        replaces it; clicking the same thumb again, `liked == ""`, takes it back). The turn is the
        one the message names (`render.turn_metadata`), never worked out from its position."""
        owner = self.owner(workspace, request, profile)
        index = vote.index[0] if isinstance(vote.index, list | tuple) else vote.index
        messages = history or []
        turn = turn_of(messages[index]) if isinstance(index, int) and 0 <= index < len(messages) else None
        choice = {True: "up", False: "down"}.get(vote.liked) if isinstance(vote.liked, bool) else None
        if turn is None or not self.assistant.rate(owner, turn.conversation, turn.seq, choice):
            gr.Warning("Only saved answers can be rated (this one was stopped or has not finished).")
            return
        gr.Info("Thanks: your rating was recorded." if choice else "Your rating was taken back.")

    # -- status ------------------------------------------------------------------------------

    def engine_status(self) -> str:
        state = self.assistant.engine_state
        icon = {"ready": "🟢", "loading": "🟡", "error": "🔴"}.get(state.status, "⚪")
        detail = f": {state.detail}" if state.detail else ""
        embed_icon = {"loading": "🟡 ", "error": "🔴 "}.get(self.assistant.embedder_status, "")
        embed = f" · {embed_icon}embeddings: {self.assistant.embed_model}"
        return f"{icon} **LLM {state.status}**{detail}{embed}"


def conversation_view(conversation: Conversation | None) -> ChatView:
    """The chat, the sources of every answer (the last one's shown) and the last answer's stats."""
    if conversation is None or not conversation.turns:
        return ChatView([], sources_html([]), "")
    messages = []
    for turn in conversation.turns:
        messages.append({"role": "user", "content": chat_markdown(turn.question)})
        messages.append(
            {
                "role": "assistant",
                "content": linked_answer(turn),
                "metadata": turn_metadata(SavedTurn(conversation.id, turn.seq)),
            }
        )
    last = conversation.turns[-1]
    sources = conversation_panel(conversation.turns)  # every answer's sources: old [n] still open
    return ChatView(messages, sources, stats_lines(last.stats, last.checks))


def _cookies(request: gr.Request | None) -> dict:
    """The request's cookies (none for a request without them, e.g. the tests' stand-ins)."""
    try:
        return dict(request.cookies or {}) if request is not None else {}
    except AttributeError:
        return {}
