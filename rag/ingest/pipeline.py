"""Files → load → chunk → embed → store, one document at a time, with progress and per-file results.

A file that fails is reported with its reason and leaves the store as it was; the other files of
the same call go on.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from rag.embedding.embedder import Embedder
from rag.embedding.languages import covers
from rag.errors import RagError
from rag.ingest.chunking import document_id, iter_chunks
from rag.ingest.fair import NEVER_STOPPED, FairSlots, StopSignal
from rag.ingest.loaders import LoadLimits, load_document
from rag.ingest.streaming import embed_and_store
from rag.settings import Settings
from rag.store.originals import Originals
from rag.store.vector_store import VectorStore
from rag.store.versions import deleted_while_added
from rag.text.languages import language_name
from rag.types import IngestResult, Progress, no_progress

log = logging.getLogger(__name__)


@dataclass
class Quota:
    """What a workspace may still take in; the shared library and the CLI have none."""

    documents: int
    chunks: int


@dataclass(frozen=True)
class SourceFile:
    """A file to ingest: `name` is what users see, `path` where the bytes are."""

    name: str
    path: Path


def collect_files(paths: Iterable[str | Path]) -> list[SourceFile]:
    """Files as given, folders recursively; names inside a folder are relative to that folder."""
    files: list[SourceFile] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p, path)):
                files.append(SourceFile(child.relative_to(path).as_posix(), child))
        else:
            files.append(SourceFile(path.name, path))
    return files


class Ingestor:
    """Holds the stages an ingest needs; one per process, shared by CLI, UI and evaluation."""

    def __init__(self, settings: Settings, embedder: Embedder, store: VectorStore) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.limits = LoadLimits.from_settings(settings.limits)
        self.slots = FairSlots(settings.ingest.ingest_concurrency)  # rag/ingest/fair.py
        self.originals = Originals.from_settings(settings)
        self._stops: dict[str, set[StopSignal]] = {}
        self._stops_lock = threading.Lock()

    @contextmanager
    def stoppable(self, owner: str) -> Iterator[StopSignal]:
        """One upload's stop signal, tripped by `stop(owner)` while the upload runs."""
        signal = StopSignal()
        with self._stops_lock:
            self._stops.setdefault(owner, set()).add(signal)
        try:
            yield signal
        finally:
            with self._stops_lock:
                self._stops[owner].discard(signal)
                if not self._stops[owner]:
                    del self._stops[owner]

    def stop(self, owner: str) -> int:
        """Stop `owner`'s uploads before their next step; returns how many were running."""
        with self._stops_lock:
            signals = list(self._stops.get(owner, ()))
        for signal in signals:
            signal.trip()
        return len(signals)

    def ingest_files(
        self,
        files: list[SourceFile],
        owner: str,
        progress: Progress = no_progress,
        quota: Quota | None = None,
    ) -> list[IngestResult]:
        """One result per file; after a Stop the files not yet stored fail with the reason."""
        results = []
        since = self.store.deletion_mark(owner)  # one for the whole upload: see `_ingest`
        with self.stoppable(owner) as stop:
            for i, file in enumerate(files):
                span = _Span(progress, i, len(files), file.name)
                results.append(self._ingest_one(file, owner, span, quota, stop, since))
        progress(1.0, f"done: {len(files)} file(s)")
        return results

    def _ingest_one(
        self, file: SourceFile, owner: str, span: _Span, quota: Quota | None, stop: StopSignal, since: int
    ) -> IngestResult:
        try:
            span(0.0, "reading")
            data = file.path.read_bytes()
        except OSError as exc:
            return IngestResult(file.name, "failed", reason=f"cannot read the file ({exc.strerror})")
        return self.ingest_bytes(file.name, data, owner, span, quota, stop=stop, since=since)

    def ingest_bytes(
        self,
        name: str,
        data: bytes,
        owner: str,
        progress: Progress = no_progress,
        quota: Quota | None = None,
        filename: str = "",
        stop: StopSignal = NEVER_STOPPED,
        since: int | None = None,
    ) -> IngestResult:
        """Ingest one file's content; every failure becomes a `failed` result naming the reason.
        `filename` is what the loaders read it as when `name` is not a file name (a URL). `since`:
        the workspace's deletion mark when the upload this file is part of began (None: now)."""
        try:
            return self._ingest(name, data, owner, progress, quota, filename, stop, since)
        except RagError as exc:
            reason = getattr(exc, "reason", str(exc))
            log.info("ingest of %s failed: %s", name, reason)
            return IngestResult(name, "failed", reason=reason)
        except Exception as exc:  # an unexpected parser or store bug must not stop the other files
            log.exception("unexpected error ingesting %s", name)
            return IngestResult(name, "failed", reason=f"unexpected error: {type(exc).__name__}: {exc}")

    def _ingest(
        self,
        name: str,
        data: bytes,
        owner: str,
        progress: Progress,
        quota: Quota | None,
        filename: str = "",
        stop: StopSignal = NEVER_STOPPED,
        since: int | None = None,
    ) -> IngestResult:
        doc_id = document_id(owner, name)
        # live now, and the workspace's deletion mark when the upload began: a delete of either from
        # then on (while this file or an earlier one of the upload is parsed) is not undone by it
        # (rag/store/deletions.py); a mark read per file let a workspace deleted during the first
        # of several files get the rest (tests/reliability/test_delete_during_upload.py)
        if since is None:
            since = self.store.deletion_mark(owner)
        elif self.store.deletion_mark(owner) > since:
            # the workspace went while an earlier file of this upload was added: this one is
            # refused before it is parsed, not after (its write would refuse it anyway)
            raise deleted_while_added(name, workspace=True)
        was_live = self.store.find_document(doc_id) is not None
        progress(0.05, "parsing")

        def reading(fraction: float, message: str) -> None:  # page by page: Stop is looked at too
            stop.check()
            progress(0.05 + 0.1 * fraction, message)

        with self.slots.turn(owner, stop):  # each step in a fair turn (rag/ingest/fair.py)
            document = load_document(filename or name, data, reading, self.limits)
            if document.kind == "pdf":
                # pypdf's parsed objects are held in reference cycles until Python's next full
                # collection: 7 MB of a 1,000-page PDF's, through the whole embedding (tracemalloc);
                # collected here, a 100-page PDF's ingest peaked 181 -> 34 MB above the loaded
                # model and took 16.5 -> 10.7 s (bench/ingest_memory.py, docs/BENCHMARKS.md)
                gc.collect()
        document = replace(document, source=name)
        existing = self.store.find_document(doc_id)
        if existing and existing.content_hash == document.content_hash:
            # uploaded before originals were kept (or over the bound then): uploading again keeps it
            content_hash = document.content_hash
            kept = self.originals.has(owner, doc_id, content_hash)
            note = "" if kept else self._keep(owner, doc_id, name, data, content_hash, filename, quota)
            return IngestResult(name, "unchanged", existing.chunks, notes=(note,) if note else ())
        twin = None if existing else self.store.find_by_hash([owner], document.content_hash)
        if twin and twin.source != name:
            return IngestResult(name, "unchanged", twin.chunks, reason=f"same content as {twin.source}")
        if quota is not None and not existing and quota.documents <= 0:
            return IngestResult(
                name, "failed", reason=_full("documents", self.settings.limits.max_workspace_documents)
            )
        progress(0.15, "chunking")
        size, overlap = self.settings.ingest.chunk_size, self.settings.ingest.chunk_overlap
        # counted before anything is embedded (the quota and the version row need the number), then
        # chunked again as they are embedded: chunking is ~0.4 s of a 1,000-page PDF's minutes
        n_chunks = sum(1 for _ in iter_chunks(document, doc_id, size, overlap))
        added_chunks = n_chunks - (existing.chunks if existing else 0)
        if quota is not None and added_chunks > quota.chunks:
            return IngestResult(
                name, "failed", reason=_full("chunks", self.settings.limits.max_workspace_chunks)
            )
        pages, content_hash = document.page_count, document.content_hash
        replacing = was_live or existing is not None
        with self.store.write_document(
            doc_id, name, owner, content_hash, n_chunks, pages, replacing, since
        ) as writer:
            chunks = iter_chunks(document, doc_id, size, overlap)
            turn = partial(self.slots.turn, owner, stop)  # each sub-batch in a fair turn
            languages = embed_and_store(chunks, writer, self.embedder, turn, stop, progress)
            progress(0.9, f"storing {n_chunks} chunks")
        if quota is not None:
            quota.documents -= 0 if existing else 1
            quota.chunks -= added_chunks
        kept = self._keep(owner, doc_id, name, data, document.content_hash, filename, quota)
        notes = (*document.notes, *unread_languages(languages, self.embedder.name), *([kept] if kept else []))
        return IngestResult(name, "replaced" if existing else "added", n_chunks, notes=notes)

    def _keep(
        self,
        owner: str,
        doc_id: str,
        name: str,
        data: bytes,
        content_hash: str,
        filename: str,
        quota: Quota | None,
    ) -> str:
        """Keep the original for the source viewer; a visitor's (`quota`) within the workspace's
        bound. Returns the note when it is not kept; a disk error is logged, not a failed ingest.
        A delete of the document since it went live removed its rows before looking for the
        original: either that delete removes this one, or the look here finds the document gone."""
        try:
            note = self.originals.keep(owner, doc_id, name, data, content_hash, filename, quota is not None)
        except OSError as exc:
            log.warning("the original of %s was not kept: %s", name, exc)
            return f"the original is not kept for the source viewer ({exc.strerror})"
        if self.store.find_document(doc_id) is None:
            self.originals.remove(owner, doc_id)
        return note


def unread_languages(languages: Mapping[str, int], embed_model: str) -> list[str]:
    """A note for each language of the chunks (`languages`: chunks per language) that the embedder
    doesn't read: those chunks are found by keyword search only (a question in that language too;
    rag/retrieval/library.py)."""
    model = embed_model.split("/")[-1]
    return [
        f"{n} chunks in {language_name(language)}, which the embedder ({model}) doesn't read: "
        "found by keyword search only"
        for language, n in languages.items()
        if not covers(embed_model, language)
    ]


def _full(what: str, limit: int) -> str:
    setting = "RAG_MAX_WORKSPACE_DOCUMENTS" if what == "documents" else "RAG_MAX_WORKSPACE_CHUNKS"
    return f"the workspace is full: it may hold {limit:,} {what} ({setting}); delete some documents first"


class _Span:
    """Maps one file's own 0..1 progress into its slice of the whole upload."""

    def __init__(self, progress: Progress, index: int, total: int, name: str) -> None:
        self.progress, self.index, self.total, self.name = progress, index, total, name

    def __call__(self, fraction: float, message: str) -> None:
        overall = (self.index + fraction) / self.total
        self.progress(overall, f"[{self.index + 1}/{self.total}] {self.name}: {message}")


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)
