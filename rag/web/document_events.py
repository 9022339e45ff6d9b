"""The document events of the web app: uploads, web pages, the sample, refresh, delete and the
document list. Part of `WebApp` (rag/web/handlers.py), which says who is asking."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from rag.assistant import Assistant
from rag.errors import LimitError
from rag.ingest.pipeline import SourceFile
from rag.types import SHARED_OWNER, Progress, no_progress
from rag.web.render import document_choices, upload_report
from rag.web.views import DocumentsView, UploadView

# Browsers and servers handle URLs up to ~2,000 characters reliably; a longer one is not a web page's.
MAX_URL_CHARS = 2000
Profile = gr.OAuthProfile | None


class DocumentEvents:
    assistant: Assistant

    def owner(self, workspace: str, request: gr.Request | None, profile: Profile = None) -> str:
        raise NotImplementedError  # WebApp's: the workspace of whoever is asking

    def ingest(
        self,
        paths: list[str] | None,
        workspace: str,
        request: gr.Request,
        profile: Profile,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> UploadView:
        owner = self.owner(workspace, request, profile)
        files = [SourceFile(Path(p).name, Path(p)) for p in paths or []]
        if not files:
            return UploadView("No files received.", *self._list_updates(owner))
        self._wait_for_library(upload_progress(progress))
        results = self.assistant.upload(files, owner, upload_progress(progress))
        return UploadView(upload_report(results), *self._list_updates(owner))

    def ingest_url(
        self,
        url: str,
        follow: bool,
        workspace: str,
        request: gr.Request,
        profile: Profile,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> UploadView:
        """A web page or sitemap into this visitor's workspace: the quota and the ingest slot of an
        upload, and the SSRF guard and fetch limits of rag/ingest/fetch.py."""
        owner = self.owner(workspace, request, profile)
        url = (url or "").strip()
        if not url:
            return UploadView("Enter a web page's URL (https://…).", *self._list_updates(owner))
        if len(url) > MAX_URL_CHARS:
            return UploadView(
                f"The URL is longer than {MAX_URL_CHARS} characters.", *self._list_updates(owner)
            )
        self._wait_for_library(upload_progress(progress))
        results = self.assistant.upload_url(url, owner, upload_progress(progress), follow=bool(follow))
        return UploadView(upload_report(results), *self._list_updates(owner))

    def stop_ingest(self, workspace: str, request: gr.Request, profile: Profile) -> None:
        """Stop this workspace's uploads before their next step; what they stored stays."""
        running = self.assistant.stop_ingest(self.owner(workspace, request, profile))
        gr.Info("Stopping the upload after its current step…" if running else "No upload is running.")

    def load_sample(
        self,
        workspace: str,
        request: gr.Request,
        profile: Profile,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> UploadView:
        owner = self.owner(workspace, request, profile)
        self._wait_for_library(upload_progress(progress))
        results = self.assistant.load_sample(upload_progress(progress))
        if results is None:
            return UploadView(
                "The shared library already has documents; nothing loaded.", *self._list_updates(owner)
            )
        return UploadView(upload_report(results), *self._list_updates(owner))

    def documents(self, workspace: str, request: gr.Request, profile: Profile) -> DocumentsView:
        """The document list this visitor may see, and whether to offer the sample."""
        return self._list_updates(self.owner(workspace, request, profile))

    def list_documents(self, workspace: str, request: gr.Request, profile: Profile) -> tuple:
        """API: the visible documents as plain records (and the list's choices, so that an API
        session can then pass their ids to /chat)."""
        owner = self.owner(workspace, request, profile)
        docs = self.assistant.documents(owner)
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

    def refresh(
        self,
        doc_ids: list[str] | None,
        workspace: str,
        request: gr.Request,
        profile: Profile,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> UploadView:
        """Fetch the selected web pages again; changed ones are replaced (rag/ingest/urls.py)."""
        owner = self.owner(workspace, request, profile)
        try:
            results = self.assistant.refresh(owner, doc_ids or [], upload_progress(progress))
        except LimitError as exc:
            raise gr.Error(str(exc)) from None
        message = upload_report(results) if results else "Select pages of yours added from a URL."
        return UploadView(message, *self._list_updates(owner))

    def delete(
        self, doc_ids: list[str] | None, workspace: str, request: gr.Request, profile: Profile
    ) -> UploadView:
        """Delete the selected documents of this workspace; the shared library is read-only here."""
        owner = self.owner(workspace, request, profile)
        try:
            deletion = self.assistant.delete(owner, doc_ids or [])
        except LimitError as exc:
            raise gr.Error(str(exc)) from None
        message = f"Deleted: {', '.join(deletion.deleted)}" if deletion.deleted else "Nothing deleted."
        if deletion.refused:
            message += (
                f"\n{deletion.refused} shared or unknown document(s) left alone (shared ones: use the CLI)."
            )
        return UploadView(message, *self._list_updates(owner))

    def delete_by_name(self, name: str, workspace: str, request: gr.Request, profile: Profile) -> str:
        """API: delete one of this workspace's documents by its name."""
        if not self.assistant.delete_named(self.owner(workspace, request, profile), name):
            raise gr.Error(f"no document named {name!r} in your workspace")
        return f"Deleted: {name}"

    def _wait_for_library(self, progress: Progress) -> None:
        """In the app's first seconds the embedder may still be loading: the upload waits for it,
        and its progress bar says so."""
        if self.assistant.embedder_status == "loading":
            progress(0.0, "waiting for the embedding model to load")
        failed = self.assistant.wait_for_library()
        if failed:
            raise gr.Error(failed)

    def _list_updates(self, owner: str) -> DocumentsView:
        return _list_updates(self.assistant.documents(owner))


def _list_updates(docs: list) -> DocumentsView:
    """The document list's choices, and the sample button shown only while nothing is visible."""
    return DocumentsView(gr.update(choices=document_choices(docs), value=[]), gr.update(visible=not docs))


def upload_progress(progress: gr.Progress | None) -> Progress:
    """Gradio's progress bar as the stages' `Progress` callback (none in tests and API calls)."""
    if progress is None:
        return no_progress

    def report(fraction: float, message: str) -> None:
        progress(fraction, desc=message)

    return report
