"""The composition root: one `Assistant` per process, built once from one `Settings`.

It holds the library (embedder, store, ingestor), the LLM, the prompt budget and the sampling, all
from the same settings, and offers the use cases the web app, the CLI and the evaluation need:
answer, retrieve, ingest, upload (with its rules), list, delete, the sample. Callers never reach
into the store or the ingestor, and workspace rules (who sees and may delete what) live here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from rag.answer import Question, answer, check_selection, check_size
from rag.embedding.embedder import Embedder
from rag.generation.backends import SamplingConfig
from rag.generation.llm import LLM, EngineState
from rag.generation.prompts import Message, PromptBudget
from rag.retrieval.library import Library, Retrieval
from rag.settings import Settings
from rag.types import (
    SHARED_OWNER,
    AnswerEvent,
    Context,
    DocumentInfo,
    Hit,
    IngestResult,
    Progress,
    no_progress,
)
from rag.workspace.conversations import (
    Conversation,
    ConversationStore,
    ConversationSummary,
    SavedTurn,
    Turn,
    conversations_path,
)
from rag.workspace.owners import WorkspaceJanitor, visible_owners

if TYPE_CHECKING:  # ingestion is imported when first used: `rag search` needs none of it
    from rag.ingest.pipeline import Ingestor, Quota, SourceFile
    from rag.ingest.sync import BackgroundSync, SyncReport

log = logging.getLogger(__name__)
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "assets" / "sample"


@dataclass(frozen=True)
class Deletion:
    deleted: list[str]  # names of the documents removed
    refused: int  # ids that were shared, someone else's or unknown: left alone


class Assistant:
    def __init__(self, settings: Settings, embedder: Embedder | None = None, llm: LLM | None = None) -> None:
        """`embedder` and `llm` let a process share loaded models between assistants (tests)."""
        self.settings = settings
        self.library = Library.open(settings, embedder)
        self.llm = llm or LLM(settings)
        self.budget = PromptBudget.from_settings(settings)
        self.sampling = SamplingConfig.from_settings(settings)
        self.conversations = ConversationStore(
            conversations_path(settings.store.data_dir), settings.limits.max_conversations
        )
        self.janitor = WorkspaceJanitor(
            self.library.store, self.conversations, settings.limits.workspace_ttl_hours * 3600
        )
        self._syncer: BackgroundSync | None = None

    @cached_property
    def ingestor(self) -> Ingestor:
        """Beside retrieval, not inside it: retrieval never needs to know how documents arrive.
        Built on first use: its imports (text splitters, PDF and web loaders) were 40% of the
        import time of a cold `rag search`, which needs none of them (bench/cold_start.py)."""
        from rag.ingest.pipeline import Ingestor

        return Ingestor(self.settings, self.library.embedder, self.library.store)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """What a long-running server needs: the engine loading in the background (requests that
        need no LLM are served meanwhile) and the janitor of abandoned workspaces."""
        self.llm.start_in_background()
        self.janitor.start()
        if self.settings.ingest.sync_interval_s > 0:  # sources synced before, again (rag/ingest/sync.py)
            from rag.ingest.sync import BackgroundSync

            self._syncer = BackgroundSync(self.ingestor, self.settings.ingest.sync_interval_s)
            self._syncer.start()

    def close(self) -> None:
        """Stop the janitor (writing the last uses), the engine and its children, then the store."""
        if self._syncer is not None:
            self._syncer.stop()
        self.janitor.stop()
        self.llm.shutdown()
        self.library.close()

    def __enter__(self) -> Assistant:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the UI shows about the models -------------------------------------------------------

    @property
    def embed_model(self) -> str:
        return self.library.embedder.name

    @property
    def model_name(self) -> str:
        """The LLM's public name (a local path shows as its folder name)."""
        return self.llm.model_name

    @property
    def engine_state(self) -> EngineState:
        return self.llm.state

    def touch(self, owner: str) -> None:
        """`owner` used the app now: its workspace is not abandoned."""
        self.janitor.touch(owner)

    # -- questions ---------------------------------------------------------------------------

    def answer(
        self,
        question: str,
        owner: str,
        history: Sequence[Message] = (),
        doc_ids: Sequence[str] | None = None,
        k: int | None = None,
        mode: str | None = None,
    ) -> AsyncIterator[AnswerEvent]:
        """Stream an answer from what `owner` may see (their workspace and the shared library).
        Raises LimitError at once for a question, history or selection over the limits."""
        self.check_size(question, history, doc_ids)
        request = Question(question, visible_owners(owner), list(history), doc_ids, k, mode)
        return answer(
            request, self.library, self.llm, self.budget, self.sampling, self.settings.search.query_rewrite_s
        )

    def check_size(
        self, question: str, history: Sequence[Message] = (), doc_ids: Sequence[str] | None = None
    ) -> None:
        limits = self.settings.limits
        check_size(
            question,
            history,
            limits.max_question_chars,
            limits.max_history_chars,
            limits.max_history_messages,
        )
        check_selection(doc_ids, limits.max_selected_documents)

    def retrieve(
        self, question: str, owner: str, k: int | None = None, doc_ids: Sequence[str] | None = None
    ) -> Retrieval:
        return self.library.retrieve(question, visible_owners(owner), k, doc_ids)

    def in_context(self, owner: str, hits: Sequence[Hit]) -> Context:
        """Each hit's chunk with its neighbours in its document ("Show in context")."""
        return self.library.store.neighbours([hit.chunk for hit in hits], visible_owners(owner))

    # -- documents ---------------------------------------------------------------------------

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
                deleted.append(own[doc_id].source)
        return Deletion(deleted, sum(1 for d in set(doc_ids) if d not in own))

    def delete_named(self, owner: str, name: str) -> bool:
        """Delete one of `owner`'s documents by name; False if there is none."""
        from rag.ingest.chunking import document_id

        return bool(self.delete(owner, [document_id(owner, name)]).deleted)

    # -- conversations and workspaces --------------------------------------------------------

    def save_turn(self, owner: str, conversation_id: str | None, turn: Turn) -> SavedTurn:
        """Keep a finished answer; returns the conversation's id (a new one for a new chat) and the
        turn's number in it."""
        return self.conversations.save(owner, conversation_id, turn)

    def rate(self, owner: str, conversation_id: str, seq: int, vote: str | None) -> bool:
        """👍 ("up"), 👎 ("down") or no vote (None) on one of `owner`'s answers; False if there is
        no such answer. One vote per answer: the last one counts."""
        return self.conversations.vote(owner, conversation_id, seq, vote, self.llm.model_name)

    def conversation_list(self, owner: str) -> list[ConversationSummary]:
        return self.conversations.list(owner)

    def conversation(self, owner: str, conversation_id: str) -> Conversation | None:
        return self.conversations.load(owner, conversation_id) if conversation_id else None

    def delete_conversation(self, owner: str, conversation_id: str) -> bool:
        return self.conversations.delete(owner, conversation_id)

    def delete_workspace(self, owner: str) -> None:
        """Everything of one workspace: documents, chunks, conversations. Never the shared library."""
        if owner == SHARED_OWNER:
            raise ValueError("the shared library is not a workspace")
        self.janitor.delete_workspace(owner)

    def health(self) -> dict:
        """The store and the engine, checked now; `ok` only when both work."""
        store_ok = self.library.store.ping()
        engine_ok = self.llm.healthy()
        return {
            "ok": store_ok and engine_ok,
            "store": "ok" if store_ok else "error",
            "engine": self.llm.state.status,
            "model": self.llm.model_name,
        }
