"""`rag sync FOLDER_OR_URL`: make the library match a source again, and say what that took.

A folder: each file whose bytes' hash differs from the stored document's is re-ingested, a new
file is added, and a document whose file is gone since the last sync is removed. A URL (a page or
a sitemap): each page is fetched with the ETag/Last-Modified it had (an unchanged page answers
304 and costs no download), a changed one is re-ingested, and a page that is gone (404/410, or no
longer in the sitemap) is removed. A page that failed otherwise (a timeout) is kept: a flaky server
must not empty the library.

What a source held at its last sync is kept in `<data dir>/sources.json` (per owner and source),
because the store knows a document's name but not which folder or sitemap it came from; the first
sync of a source therefore removes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rag.errors import RagError
from rag.ingest.chunking import document_id
from rag.ingest.crawl import PageResult, crawl
from rag.ingest.fetch import FetchError, Validators, canonical, is_url
from rag.ingest.pipeline import Ingestor, SourceFile, collect_files
from rag.ingest.urls import fetcher_for
from rag.private_files import PRIVATE_FILE_MODE, private_dir
from rag.types import IngestResult, Progress, no_progress

log = logging.getLogger(__name__)
REGISTRY_FILE = "sources.json"
GONE = {404, 410}

Action = Literal["added", "updated", "removed", "unchanged", "failed"]


@dataclass(frozen=True)
class SyncAction:
    action: Action
    name: str
    detail: str = ""

    def describe(self) -> str:
        return f"{self.action} {self.name}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class SyncReport:
    source: str
    actions: list[SyncAction]

    @property
    def changes(self) -> list[SyncAction]:
        """What the sync did: everything but the unchanged documents."""
        return [a for a in self.actions if a.action != "unchanged"]

    def summary(self) -> str:
        counts = {kind: sum(1 for a in self.actions if a.action == kind) for kind in Action.__args__}
        done = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
        return f"{self.source}: {done or 'nothing to sync'}"


class SourceRegistry:
    """What each synced source held at its last sync: name → {"etag", "last_modified"}."""

    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / REGISTRY_FILE

    def load(self, owner: str, source: str) -> dict[str, dict[str, str]]:
        return self._read().get(_key(owner, source), {})

    def save(self, owner: str, source: str, documents: dict[str, dict[str, str]]) -> None:
        """Written whole to a temporary file and renamed: a crash leaves the old registry or the new."""
        entries = self._read()
        entries[_key(owner, source)] = documents
        folder = private_dir(self.path.parent)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".sources-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(entries, out, ensure_ascii=False, indent=1, sort_keys=True)
        os.chmod(tmp, PRIVATE_FILE_MODE)
        os.replace(tmp, self.path)

    def sources(self) -> list[tuple[str, str]]:
        """Every (owner, source) synced before."""
        return [(owner, source) for owner, _, source in (key.partition("\t") for key in self._read())]

    def _read(self) -> dict[str, dict[str, dict[str, str]]]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"{self.path}: unreadable ({exc}); delete it to start the syncs afresh"
            ) from None


def _key(owner: str, source: str) -> str:
    return f"{owner}\t{source}"


def sync_source(
    ingestor: Ingestor, source: str, owner: str, progress: Progress = no_progress, follow: bool = False
) -> SyncReport:
    """Sync a folder or a URL into `owner`'s documents; see the module's docstring. The workspace's
    deletion mark is read once: a workspace deleted during the sync gets none of its files."""
    registry = SourceRegistry(ingestor.settings.store.data_dir)
    since = ingestor.store.deletion_mark(owner)
    if is_url(source):
        key = canonical(source)
        before = registry.load(owner, key)
        actions, now = _sync_url(ingestor, key, owner, before, progress, follow, since)
    else:
        folder = Path(source).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"no such folder: {source}")
        key = str(folder.resolve())
        before = registry.load(owner, key)
        actions, now = _sync_folder(ingestor, collect_files([folder]), owner, progress, since)
    actions += _remove(ingestor, owner, [name for name in before if name not in now])
    registry.save(owner, key, now)
    progress(1.0, "synced")
    return SyncReport(source, actions)


def _sync_folder(
    ingestor: Ingestor, files: list[SourceFile], owner: str, progress: Progress, since: int
) -> tuple[list[SyncAction], dict[str, dict[str, str]]]:
    actions = []
    for i, file in enumerate(files):
        progress(i / max(len(files), 1), f"[{i + 1}/{len(files)}] {file.name}")
        try:
            data = file.path.read_bytes()
        except OSError as exc:
            actions.append(SyncAction("failed", file.name, f"cannot read the file ({exc.strerror})"))
            continue
        actions.append(_ingest_if_changed(ingestor, file.name, data, owner, "", since))
    return actions, {file.name: {} for file in files}


def _sync_url(
    ingestor: Ingestor,
    url: str,
    owner: str,
    before: dict[str, dict[str, str]],
    progress: Progress,
    follow: bool,
    since: int,
) -> tuple[list[SyncAction], dict[str, dict[str, str]]]:
    known = {name: Validators(v.get("etag", ""), v.get("last_modified", "")) for name, v in before.items()}
    actions: list[SyncAction] = []
    now: dict[str, dict[str, str]] = {}
    cap = ingestor.settings.ingest.max_crawl_pages
    with fetcher_for(ingestor.settings) as fetcher:
        try:
            for i, page in enumerate(crawl(fetcher, url, follow, cap, known)):
                progress(min(i / cap, 0.99), f"page {i + 1}: {page.url}")
                action = _sync_page(ingestor, page, owner, since)
                if action.action == "failed" and page.error and page.error.status in GONE:
                    continue  # gone: not kept in `now`, so removed like a page the sitemap dropped
                actions.append(action)
                now[page.url] = _validators(page, before.get(page.url, {}))
        except FetchError as exc:  # the URL itself: gone (all its pages go), or failing (all stay)
            if exc.status in GONE:
                return [], {}
            return [SyncAction("failed", url, exc.reason)], before
    return actions, now


def _validators(page: PageResult, before: dict[str, str]) -> dict[str, str]:
    fetched = page.page
    if fetched is None or fetched.not_modified:
        return before
    return {"etag": fetched.etag, "last_modified": fetched.last_modified}


def _sync_page(ingestor: Ingestor, page: PageResult, owner: str, since: int) -> SyncAction:
    if page.error or page.page is None:
        return SyncAction("failed", page.url, page.error.reason if page.error else "not fetched")
    if page.page.not_modified:
        return SyncAction("unchanged", page.url, "304 Not Modified")
    return _ingest_if_changed(ingestor, page.url, page.page.data, owner, page.page.filename, since)


def _ingest_if_changed(
    ingestor: Ingestor, name: str, data: bytes, owner: str, filename: str, since: int
) -> SyncAction:
    """The stored document's hash is that of its bytes (`Document.content_hash`): equal bytes are
    not parsed again."""
    existing = ingestor.store.find_document(document_id(owner, name))
    if existing and existing.content_hash == hashlib.sha256(data).hexdigest():
        return SyncAction("unchanged", name)
    return _action(ingestor.ingest_bytes(name, data, owner, filename=filename, since=since))


def _action(result: IngestResult) -> SyncAction:
    if result.status == "failed":
        return SyncAction("failed", result.source, result.reason)
    if result.status == "unchanged":
        return SyncAction("unchanged", result.source, result.reason)
    kind: Action = "updated" if result.status == "replaced" else "added"
    return SyncAction(kind, result.source, f"{result.chunks} chunks")


def _remove(ingestor: Ingestor, owner: str, names: Iterable[str]) -> list[SyncAction]:
    removed = []
    for name in names:
        doc_id = document_id(owner, name)
        if ingestor.store.find_document(doc_id):
            ingestor.store.delete_document(doc_id)
            ingestor.originals.remove(owner, doc_id)
            removed.append(SyncAction("removed", name))
    return removed


class BackgroundSync:
    """`RAG_SYNC_INTERVAL_S`: every so often, each source synced before (`rag sync`) is synced again
    in a thread. Its ingest steps take turns in the fair slots (rag/ingest/fair.py) under the
    source's owner, like an upload, so uploads and chats go on meanwhile. A source that fails (a
    folder gone, a server down) is logged and tried again next time; nothing is removed for it."""

    def __init__(self, ingestor: Ingestor, interval_s: float) -> None:
        self.ingestor, self.interval_s = ingestor, interval_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rag-sync", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stops before the next source; a sync under way gets `timeout_s` to finish."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def run_once(self) -> list[SyncReport]:
        reports = []
        for owner, source in SourceRegistry(self.ingestor.settings.store.data_dir).sources():
            if self._stopping.is_set():
                break
            try:
                reports.append(sync_source(self.ingestor, source, owner))
            except (RagError, OSError, ValueError) as exc:
                log.warning("background sync of %s failed: %s", source, exc)
                continue
            log.info("background sync: %s", reports[-1].summary())
        return reports

    def _loop(self) -> None:
        while not self._stopping.wait(self.interval_s):
            try:
                self.run_once()
            except Exception:  # a bug in one round must not end the syncs
                log.exception("background sync round failed")
