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

from rag.chat import answer, describe_stats
from rag.ingest import SourceFile, collect_files
from rag.library import Library
from rag.llm import LLM
from rag.render import chat_markdown, chat_text, document_choices, sources_html, upload_report
from rag.types import SHARED_OWNER, DeltaEvent, ErrorEvent, HitsEvent, IngestResult, StatsEvent
from rag.workspaces import WorkspaceJanitor, session_owner, user_owner, visible_owners

log = logging.getLogger(__name__)
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "assets" / "sample"
ChatHistory = list[dict]


class WebApp:
    def __init__(self, library: Library, llm: LLM, janitor: WorkspaceJanitor) -> None:
        self.library = library
        self.llm = llm
        self.janitor = janitor
        self.settings = library.settings

    # -- workspaces --------------------------------------------------------------------------

    def owner(self, request: gr.Request | None) -> str:
        """A login user's workspace, else this browser session's private one."""
        if request is not None and request.username:
            return user_owner(request.username)
        session = request.session_hash if request is not None and request.session_hash else ""
        if not session:
            raise gr.Error("no browser session: reload the page")
        owner = session_owner(session)
        self.janitor.touch(owner)
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
        results = self._ingest(files, owner, progress)
        return upload_report(results), *self.documents(request)

    def load_sample(self, request: gr.Request, progress: gr.Progress = gr.Progress()) -> tuple:  # noqa: B008
        """The newcomer path: the sample docs go into the shared library while it is empty (the
        shared library is otherwise managed with the CLI)."""
        self.owner(request)
        if self.library.store.list_documents([SHARED_OWNER]):
            return "The shared library already has documents; nothing loaded.", *self.documents(request)
        results = self.library.ingestor.ingest_files(
            collect_files([SAMPLE_DIR]), SHARED_OWNER, _progress(progress)
        )
        return upload_report(results), *self.documents(request)

    def _ingest(self, files: list[SourceFile], owner: str, progress: gr.Progress) -> list[IngestResult]:
        """Files over the size limit, or a second file of the same name, fail; the rest go in."""
        limit_mb = self.settings.max_upload_mb
        refused: dict[int, IngestResult] = {}
        seen: set[str] = set()
        for i, file in enumerate(files):
            if file.name in seen:
                refused[i] = IngestResult(
                    file.name, "failed", reason="another file of this upload has that name"
                )
            elif file.path.stat().st_size > limit_mb * 1024 * 1024:
                refused[i] = IngestResult(file.name, "failed", reason=f"larger than the {limit_mb} MB limit")
            seen.add(file.name)
        accepted = [f for i, f in enumerate(files) if i not in refused]
        ingested = iter(self.library.ingestor.ingest_files(accepted, owner, _progress(progress)))
        return [refused[i] if i in refused else next(ingested) for i in range(len(files))]

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
        return self.library.store.list_documents(visible_owners(self.owner(request)))

    def delete(self, doc_ids: list[str] | None, request: gr.Request) -> tuple:
        """Delete the selected documents of this workspace; the shared library is read-only here."""
        owner = self.owner(request)
        own = {d.doc_id: d for d in self.library.store.list_documents([owner])}
        refused = [d for d in doc_ids or [] if d not in own]
        for doc_id in doc_ids or []:
            if doc_id in own:
                self.library.store.delete_document(doc_id)
        deleted = [own[d].source for d in doc_ids or [] if d in own]
        message = f"Deleted: {', '.join(deleted)}" if deleted else "Nothing deleted."
        if refused:
            message += (
                f"\n{len(refused)} shared or unknown document(s) left alone (shared ones: use the CLI)."
            )
        return message, *self.documents(request)

    def delete_by_name(self, name: str, request: gr.Request) -> str:
        """API: delete one of this workspace's documents by its name."""
        if not self.library.delete_named(self.owner(request), name):
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
        owners = visible_owners(self.owner(request))
        doc_ids = selected if only_selected and selected else None
        if only_selected and not selected:
            gr.Warning("No documents selected: searching all of them.")
        shown = [{"role": m["role"], "content": chat_markdown(m["content"])} for m in history]
        shown += [{"role": "user", "content": chat_markdown(question)}, {"role": "assistant", "content": ""}]
        sources, reply = sources_html([]), ""
        yield shown, sources, "Retrieving…", ""
        async for event in answer(question, history, self.library, self.llm, owners, doc_ids):
            if isinstance(event, HitsEvent):
                sources = sources_html(event.hits)
                ready = self.llm.state.status == "ready"
                yield shown, sources, "Generating…" if ready else "Waiting for the model to load…", ""
            elif isinstance(event, DeltaEvent):
                reply += event.text
                shown[-1]["content"] = chat_markdown(reply)
                yield shown, sources, "Generating…", ""
            elif isinstance(event, ErrorEvent):
                shown[-1]["content"] = chat_markdown(f"⚠️ The model could not answer: {event.message}")
                yield shown, sources, "Error: see the answer", ""
            elif isinstance(event, StatsEvent):
                yield shown, sources, describe_stats(event.stats), ""

    def engine_status(self) -> str:
        state = self.llm.state
        icon = {"ready": "🟢", "loading": "🟡", "error": "🔴"}.get(state.status, "⚪")
        detail = f": {state.detail}" if state.detail else ""
        embed = f" · embeddings: {self.library.embedder.name}"
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
