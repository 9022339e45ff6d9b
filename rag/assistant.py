"""The composition root: one `Assistant` per process, built once from one `Settings`.

It holds the library (embedder, store, ingestor), the LLM, the prompt budget and the sampling, all
from the same settings, and offers the use cases the web app, the CLI and the evaluation need:
answer, retrieve, ingest, upload (with its rules), list, delete, the sample. Callers never reach
into the store or the ingestor, and workspace rules (who sees and may delete what) live here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING

from rag.answer import Question, answer, check_selection, check_size
from rag.documents import DocumentUseCases
from rag.embedding.embedder import Embedder
from rag.generation.backends import SamplingConfig
from rag.generation.llm import LLM, EngineState
from rag.generation.prompts import Message, PromptBudget
from rag.retrieval.library import Library, Retrieval
from rag.retrieval.loading import PUBLIC_ERROR, LoadingLibrary
from rag.settings import Settings
from rag.types import (
    SHARED_OWNER,
    AnswerEvent,
    Context,
    Hit,
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
    from rag.ingest.sync import BackgroundSync
    from rag.viewer.source_viewer import SourceViewer
    from rag.viewer.views import SourceView, ViewRequest

log = logging.getLogger(__name__)


class Assistant(DocumentUseCases):
    """The questions, conversations, workspaces and lifecycle; the document use cases are
    `DocumentUseCases`' (rag/documents.py)."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        llm: LLM | None = None,
        background: bool = False,
    ) -> None:
        """`embedder` and `llm` let a process share loaded models between assistants (tests);
        `background`: open the library in a thread and serve meanwhile (the web app)."""
        self.settings = settings
        self.llm = llm or LLM(settings)
        self.budget = PromptBudget.from_settings(settings)
        self.sampling = SamplingConfig.from_settings(settings)
        self.conversations = ConversationStore(
            conversations_path(settings.store.data_dir), settings.limits.max_conversations
        )
        self._janitor: WorkspaceJanitor | None = None  # needs the store: made once the library is open
        self._early_uses: list[str] = []  # workspaces used while it was loading
        self._uses_lock = threading.Lock()
        self._syncer: BackgroundSync | None = None
        # in the background the load begins at start(): the web app calls it as it begins to listen
        self.loading = LoadingLibrary(lambda: self._open_library(embedder), background, begin=False)

    def _open_library(self, embedder: Embedder | None) -> Library:
        library = Library.open(self.settings, embedder)
        self._make_janitor(library)
        return library

    @property
    def library(self) -> Library:
        """The embedder and the store; waits while they are still loading (the web app's first
        seconds: rag/retrieval/loading.py), raises what stopped them from loading."""
        return self.loading.wait()

    @property
    def janitor(self) -> WorkspaceJanitor:
        self.loading.wait()
        assert self._janitor is not None
        return self._janitor

    @janitor.setter
    def janitor(self, janitor: WorkspaceJanitor) -> None:
        self._janitor = janitor

    def _make_janitor(self, library: Library) -> None:
        janitor = WorkspaceJanitor(
            library.store,
            self.conversations,
            self.settings.limits.workspace_ttl_hours * 3600,
            originals=self.originals,
        )
        with self._uses_lock:
            for owner in self._early_uses:
                janitor.touch(owner)
            self._janitor, self._early_uses = janitor, []

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """What a long-running server needs: the engine loading in the background (requests that
        need no LLM are served meanwhile), the library's load when it is in the background, and the
        janitor of abandoned workspaces."""
        self.loading.begin()
        self.llm.start_in_background()
        self.loading.when_ready(lambda _: self._start_upkeep())

    def _start_upkeep(self) -> None:
        """Once the library is open: the janitor, and the sync of earlier sources (rag/ingest/sync.py)."""
        self.janitor.start()
        if self.settings.ingest.sync_interval_s > 0:
            from rag.ingest.sync import BackgroundSync

            self._syncer = BackgroundSync(self.ingestor, self.settings.ingest.sync_interval_s)
            self._syncer.start()

    def close(self) -> None:
        """Stop the janitor (writing the last uses), the engine and its children, then the store."""
        if self._syncer is not None:
            self._syncer.stop()
        if self._janitor is not None:  # none while the library is still loading
            self._janitor.stop()
        if "viewer" in self.__dict__:  # its render workers, when it was used
            self.viewer.close()
        self.llm.shutdown()
        library = self.loading.ready_library()
        if library is not None:  # a library still loading is left to the process's exit
            library.close()

    def __enter__(self) -> Assistant:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the UI shows about the models -------------------------------------------------------

    @property
    def embed_model(self) -> str:
        """The embedding model's name, or how long it has been loading (never waits: the header)."""
        return self.loading.describe()

    def wait_for_library(self) -> str:
        """Wait until the library is open: "" then, else what a visitor may be told of the failure
        (the exception itself was logged by the loader)."""
        try:
            self.loading.wait()
        except Exception:
            return PUBLIC_ERROR
        return ""

    @property
    def embedder_status(self) -> str:
        """ "loading", "ready" or "error" (rag/retrieval/loading.py)."""
        return self.loading.status

    @property
    def model_name(self) -> str:
        """The LLM's public name (a local path shows as its folder name)."""
        return self.llm.model_name

    @property
    def engine_state(self) -> EngineState:
        return self.llm.state

    def touch(self, owner: str) -> None:
        """`owner` used the app now: its workspace is not abandoned (cheap: called on the event loop)."""
        with self._uses_lock:
            if self._janitor is None:
                self._early_uses.append(owner)
                return
        self._janitor.touch(owner)

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

    @cached_property
    def viewer(self) -> SourceViewer:
        """The source viewer (rag/viewer/), built on first use: its render workers start then."""
        from rag.ingest.budgets import LoadLimits
        from rag.viewer.source_viewer import SourceViewer

        limits = LoadLimits.from_settings(self.settings.limits)
        return SourceViewer(self.library.store, self.originals, limits, self.ingestor.slots.turn)

    def view_source(self, owner: str, request: ViewRequest, client: str = "") -> SourceView:
        """A source's original page or section, as `owner` may see it (their workspace and the shared
        library); `client` (their address) takes turns at the render workers. Raises ViewerError
        for anything else."""
        return self.viewer.view(visible_owners(owner), request, client)

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
        """The store and the engine, checked now; `ok` only when both work. Never waits for the
        library: while it loads, `store` and `embedder` say "loading"."""
        library = self.loading.ready_library()
        store_ok = library is not None and library.store.ping()
        engine_ok = self.llm.healthy()
        return {
            "ok": store_ok and engine_ok,
            "store": ("ok" if store_ok else "error") if library is not None else self.loading.status,
            "embedder": self.loading.status,
            "engine": self.llm.state.status,
            "model": self.llm.model_name,
        }
