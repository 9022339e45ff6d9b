"""The document use cases of the Assistant: ingest and upload (with the upload rules and the
workspace quota), web pages, sync, Stop, the sample, the list, refresh and delete. Part of
`Assistant` (rag/assistant.py), which builds the library they work on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from rag.answer import check_selection
from rag.retrieval.library import Library
from rag.settings import Settings
from rag.store.originals import Originals
from rag.types import SHARED_OWNER, DocumentInfo, IngestResult, Progress, no_progress
from rag.workspace.owners import visible_owners

if TYPE_CHECKING:  # ingestion is imported when first used: `rag search` needs none of it
    from rag.ingest.pipeline import Ingestor, Quota, SourceFile
    from rag.ingest.sync import SyncReport

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "assets" / "sample"


@dataclass(frozen=True)
class Deletion:
    deleted: list[str]  # names of the documents removed
    refused: int  # ids that were shared, someone else's or unknown: left alone


class DocumentUseCases:
    settings: Settings
    library: Library

    @cached_property
    def originals(self) -> Originals:
        """Each document's original file, for the source viewer (rag/store/originals.py)."""
        return Originals.from_settings(self.settings)

    @cached_property
    def ingestor(self) -> Ingestor:
        """Beside retrieval, not inside it: retrieval never needs to know how documents arrive.
        Built on first use: its imports (text splitters, PDF and web loaders) were 40% of the
        import time of a cold `rag search`, which needs none of them (bench/cold_start.py)."""
        from rag.ingest.pipeline import Ingestor

        return Ingestor(self.settings, self.library.embedder, self.library.store)

    def ingest(
        self, files: list[SourceFile], owner: str, progress: Progress = no_progress
    ) -> list[IngestResult]:
        """Files from a trusted caller (the CLI, the evaluation): no upload limits."""
        return self.ingestor.ingest_files(files, owner, progress)

    def upload(
        self, files: list[SourceFile], owner: str, progress: Progress = no_progress
    ) -> list[IngestResult]:
        """Files from a visitor, within the upload limits and the workspace's quota: a file over a
        limit fails with the limit's name as its reason, and the rest go in. Results keep the order
        of `files`."""
        limits = self.settings.limits
        refused: dict[int, IngestResult] = {}
        seen: set[str] = set()
        request_bytes = 0
        for i, file in enumerate(files):
            size = file.path.stat().st_size
            reason = ""
            if i >= limits.max_files_per_upload:
                reason = (
                    f"more than {limits.max_files_per_upload} files in one upload (RAG_MAX_FILES_PER_UPLOAD)"
                )
            elif file.name in seen:
                reason = "another file of this upload has that name"
            elif size > limits.max_upload_mb * 1024 * 1024:
                reason = f"larger than the {limits.max_upload_mb} MB limit"
            elif request_bytes + size > limits.max_upload_request_mb * 1024 * 1024:
                reason = (
                    f"the upload passes {limits.max_upload_request_mb} MB in all (RAG_MAX_UPLOAD_REQUEST_MB)"
                )
            if reason:
                refused[i] = IngestResult(file.name, "failed", reason=reason)
            else:
                request_bytes += size
            seen.add(file.name)
        accepted = [f for i, f in enumerate(files) if i not in refused]
        ingested = iter(self.ingestor.ingest_files(accepted, owner, progress, self._quota(owner)))
        return [refused[i] if i in refused else next(ingested) for i in range(len(files))]

    def ingest_url(
        self, url: str, owner: str, progress: Progress = no_progress, follow: bool = False
    ) -> list[IngestResult]:
        """A URL from a trusted caller (the CLI): no workspace quota, but the same SSRF guard and
        fetch limits as a visitor's (rag/ingest/fetch.py). One result per page."""
        from rag.ingest.urls import ingest_url

        return ingest_url(self.ingestor, url.strip(), owner, progress, None, follow)

    def upload_url(
        self, url: str, owner: str, progress: Progress = no_progress, follow: bool = False
    ) -> list[IngestResult]:
        """A URL from a visitor: its pages count against the workspace's quota like uploaded files."""
        from rag.ingest.urls import ingest_url

        return ingest_url(self.ingestor, url.strip(), owner, progress, self._quota(owner), follow)

    def sync(
        self, source: str, owner: str, progress: Progress = no_progress, follow: bool = False
    ) -> SyncReport:
        """A folder or URL made to match the library again (`rag sync`): changed documents
        re-ingested, new ones added, vanished ones removed. A trusted caller's: no quota."""
        from rag.ingest.sync import sync_source

        return sync_source(self.ingestor, source.strip(), owner, progress, follow)

    def stop_ingest(self, owner: str) -> int:
        """Stop `owner`'s uploads before their next step (rag/ingest/fair.py); how many ran."""
        return self.ingestor.stop(owner)

    def _quota(self, owner: str) -> Quota | None:
        if owner == SHARED_OWNER:
            return None
        from rag.ingest.pipeline import Quota

        documents = self.library.store.list_documents([owner])
        return Quota(
            self.settings.limits.max_workspace_documents - len(documents),
            self.settings.limits.max_workspace_chunks - sum(d.chunks for d in documents),
        )

    def load_sample(self, progress: Progress = no_progress) -> list[IngestResult] | None:
        """The newcomer path: the sample docs go into the shared library while it is empty (it is
        otherwise managed with the CLI). None when the shared library already has documents."""
        if self.library.store.list_documents([SHARED_OWNER]):
            return None
        from rag.ingest.pipeline import collect_files

        return self.ingest(collect_files([SAMPLE_DIR]), SHARED_OWNER, progress)

    def documents(self, owner: str, include_shared: bool = True) -> list[DocumentInfo]:
        owners = visible_owners(owner) if include_shared else [owner]
        return self.library.store.list_documents(owners)

    def refresh(
        self, owner: str, doc_ids: Sequence[str], progress: Progress = no_progress
    ) -> list[IngestResult]:
        """Fetch `owner`'s selected web pages again (the Refresh button): a page whose content
        changed is replaced, one that didn't stays. Documents that are not from a URL, shared or
        someone else's are left alone; the pages count against the quota like an upload."""
        from rag.ingest.fetch import is_url
        from rag.ingest.urls import ingest_url

        check_selection(doc_ids, self.settings.limits.max_selected_documents)
        own = {d.doc_id: d.source for d in self.library.store.list_documents([owner])}
        urls = [own[i] for i in dict.fromkeys(doc_ids) if i in own and is_url(own[i])]
        results: list[IngestResult] = []
        for url in urls:
            results += ingest_url(self.ingestor, url, owner, progress, self._quota(owner))
        return results

    def delete(self, owner: str, doc_ids: Sequence[str]) -> Deletion:
        """Delete `owner`'s own documents among `doc_ids`; the shared library is read-only unless
        `owner` is the shared library itself (the CLI). Raises LimitError for too many ids."""
        check_selection(doc_ids, self.settings.limits.max_selected_documents)
        own = {d.doc_id: d for d in self.library.store.list_documents([owner])}
        deleted = []
        for doc_id in dict.fromkeys(doc_ids):
            if doc_id in own:
                self.library.store.delete_document(doc_id)
                self.originals.remove(owner, doc_id)
                deleted.append(own[doc_id].source)
        return Deletion(deleted, sum(1 for d in set(doc_ids) if d not in own))

    def delete_named(self, owner: str, name: str) -> bool:
        """Delete one of `owner`'s documents by name; False if there is none."""
        from rag.ingest.chunking import document_id

        return bool(self.delete(owner, [document_id(owner, name)]).deleted)
