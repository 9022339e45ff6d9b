"""What the web app's events do, without Gradio layout: each method takes plain values plus the
request (for the workspace) and returns what the components show.

Only this module and `ui.py` know Gradio. Errors from the stages become per-file lines,
assistant messages or `gr.Error`s here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import gradio as gr

from rag.assistant import Assistant
from rag.ingest import SourceFile
from rag.render import chat_markdown, chat_text, document_choices, sources_html, upload_report
from rag.types import SHARED_OWNER, DeltaEvent, ErrorEvent, HitsEvent, StatsEvent
from rag.workspaces import session_owner, user_owner

log = logging.getLogger(__name__)
ChatHistory = list[dict]


class WebApp:
    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.settings = assistant.settings

    # -- workspaces --------------------------------------------------------------------------

    def owner(self, request: gr.Request | None) -> str:
        """A login user's workspace, else this browser session's private one."""
        if request is not None and request.username:
            return user_owner(request.username)
        session = request.session_hash if request is not None and request.session_hash else ""
        if not session:
            raise gr.Error("no browser session: reload the page")
        owner = session_owner(session)
        self.assistant.janitor.touch(owner)
        return owner

    # -- documents ---------------------------------------------------------------------------

    def ingest(
        self,
        paths: list[str] | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple:
        owner = self.owner(request)
        files = [SourceFile(Path(p).name, Path(p)) for p in paths or []]
        if not files:
            return "No files received.", *self.documents(request)
        results = self.assistant.upload(files, owner, _progress(progress))
        return upload_report(results), *self.documents(request)

    def load_sample(self, request: gr.Request, progress: gr.Progress = gr.Progress()) -> tuple:  # noqa: B008
        self.owner(request)
        results = self.assistant.load_sample(_progress(progress))
        if results is None:
            return "The shared library already has documents; nothing loaded.", *self.documents(request)
        return upload_report(results), *self.documents(request)

    def documents(self, request: gr.Request) -> tuple:
        """The document list this session may see, and whether to offer the sample."""
        return _list_updates(self._visible_documents(request))

    def list_documents(self, request: gr.Request) -> tuple:
        """API: the visible documents as plain records (and the list's choices, so that an API
        session can then pass their ids to /chat)."""
        docs = self._visible_documents(request)
        records = [
            {
                "id": d.doc_id,
                "name": d.source,
                "chunks": d.chunks,
                "pages": d.pages,
                "shared": d.owner == SHARED_OWNER,
            }
            for d in docs
        ]
        return records, *_list_updates(docs)

    def _visible_documents(self, request: gr.Request) -> list:
        return self.assistant.documents(self.owner(request))

    def delete(self, doc_ids: list[str] | None, request: gr.Request) -> tuple:
        """Delete the selected documents of this workspace; the shared library is read-only here."""
        deletion = self.assistant.delete(self.owner(request), doc_ids or [])
        message = f"Deleted: {', '.join(deletion.deleted)}" if deletion.deleted else "Nothing deleted."
        if deletion.refused:
            message += (
                f"\n{deletion.refused} shared or unknown document(s) left alone (shared ones: use the CLI)."
            )
        return message, *self.documents(request)

    def delete_by_name(self, name: str, request: gr.Request) -> str:
        """API: delete one of this workspace's documents by its name."""
        if not self.assistant.delete_named(self.owner(request), name):
            raise gr.Error(f"no document named {name!r} in your workspace")
        return f"Deleted: {name}"

    # -- chat --------------------------------------------------------------------------------

    async def chat(
        self,
        message: str,
        history: ChatHistory | None,
        selected: list[str] | None,
        only_selected: bool,
        request: gr.Request,
    ) -> AsyncIterator[tuple]:
        """Stream one answer: the chunks panel fills first, then the answer grows, then stats."""
        question = flatten(message).strip()
        history = [{"role": m["role"], "content": chat_text(flatten(m["content"]))} for m in history or []]
        if not question:
            raise gr.Error("Type a question first.")
        owner = self.owner(request)
        doc_ids = selected if only_selected and selected else None
        if only_selected and not selected:
            gr.Warning("No documents selected: searching all of them.")
        shown = [{"role": m["role"], "content": chat_markdown(m["content"])} for m in history]
        shown += [{"role": "user", "content": chat_markdown(question)}, {"role": "assistant", "content": ""}]
        sources, reply = sources_html([]), ""
        yield shown, sources, "Retrieving…", ""
        async for event in self.assistant.answer(question, owner, history, doc_ids):
            if isinstance(event, HitsEvent):
                sources = sources_html(event.hits)
                ready = self.assistant.llm.state.status == "ready"
                yield shown, sources, "Generating…" if ready else "Waiting for the model to load…", ""
            elif isinstance(event, DeltaEvent):
                reply += event.text
                shown[-1]["content"] = chat_markdown(reply)
                yield shown, sources, "Generating…", ""
            elif isinstance(event, ErrorEvent):
                shown[-1]["content"] = chat_markdown(f"⚠️ The model could not answer: {event.message}")
                yield shown, sources, "Error: see the answer", ""
            elif isinstance(event, StatsEvent):
                yield shown, sources, event.stats.describe(), ""

    def engine_status(self) -> str:
        state = self.assistant.llm.state
        icon = {"ready": "🟢", "loading": "🟡", "error": "🔴"}.get(state.status, "⚪")
        detail = f": {state.detail}" if state.detail else ""
        embed = f" · embeddings: {self.assistant.embed_model}"
        return f"{icon} **LLM {state.status}**{detail}{embed}"


def flatten(content: object) -> str:
    """Gradio 6 sends message content as a list of blocks; keep the text, drop files."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text", "")) if content.get("type", "text") == "text" else ""
    if isinstance(content, list | tuple):
        return "\n".join(part for part in (flatten(item) for item in content) if part)
    return str(content)


def _list_updates(docs: list) -> tuple:
    """The document list's choices, and the sample button shown only while nothing is visible."""
    return gr.update(choices=document_choices(docs), value=[]), gr.update(visible=not docs)


def _progress(progress: gr.Progress):
    def report(fraction: float, message: str) -> None:
        progress(fraction, desc=message)

    return report
