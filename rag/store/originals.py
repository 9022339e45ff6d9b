"""Each document's original bytes, kept so the source viewer can show the cited page.

Files live in `<data dir>/originals/<owner key>/<doc id>` (the bytes) and `<doc id>.json` (the
name, the name the loaders read it as, its content hash), 0700 folders and 0600 files like the rest
of the data dir (rag/private_files.py). The owner key is a hash of the owner, so a workspace's files
sit in one folder (counted and removed together) and a name from a browser never becomes a path:
the doc id must be the 32 hex digits `document_id` makes, and reads go through the owner the store
says the document has (`rag.viewer.source_viewer`), never one a visitor names.

A workspace's originals are bounded by `RAG_MAX_WORKSPACE_ORIGINALS_MB` (the documents themselves
by `RAG_MAX_WORKSPACE_DOCUMENTS`): 1,000 documents of up to 50 MB each would be 50 GB on disk per
anonymous visitor. Over it a document is still searchable; only its original is not kept, and the
ingest report says so. Documents ingested before originals were kept have none until uploaded again.
A visitor's original is also not kept when it would leave less than `MIN_FREE_BYTES` free on the
data dir's disk: workspaces cost nothing to make, and a PDF of one text line and a 49 MB image is
parsed in a moment but kept whole, so the bound per workspace doesn't bound the disk.

All workspaces' originals together are bounded by `RAG_MAX_ORIGINALS_MB` (the shared library's
are not counted: the operator sizes it): without it one visitor with many keys could take the
disk down to that reserve, and then nobody's original would be kept. At the bound a new original
is refused, not made room for: evicting would let one visitor's uploads delete other visitors'
originals (silently for them, and an attacker's flood would empty everyone's viewer), while a
refusal is told to the uploader at once, keeps the document searchable, and ends as workspaces
expire (`RAG_WORKSPACE_TTL_HOURS`) or are deleted. The refused document gets a record saying why,
so the viewer can say it too (`not_kept`). The total is not measured on every upload (a walk of
the tree is a `stat` per file: 100,000 originals would cost seconds per upload): it is measured
once, on first use, kept as a running count shared by every `Originals` of this process on the
same folder (`keep`, `remove`, `remove_owner`), and measured again at each janitor sweep
(`remove_unowned` walks the tree anyway), which corrects what other processes (the CLI, replicas
sharing the data dir) wrote meanwhile.

An original is written only once its document is live, and a delete removes the rows before the
original; so the ingest looks again after writing one (`rag.ingest.pipeline`) and removes it if the
document is gone meanwhile. What a killed process leaves (an original whose delete didn't finish, a
half-written temporary file) is removed by `remove_unowned`, which the workspace janitor runs at
start and with every sweep.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rag.private_files import PRIVATE_FILE_MODE, private_dir
from rag.settings import Settings
from rag.types import SHARED_OWNER

log = logging.getLogger(__name__)
FOLDER = "originals"
DOC_ID = re.compile(r"[0-9a-f]{32}")
# left free for Milvus Lite (its segments, compaction) and conversations.db, which share the data
# dir's disk: a store that can't write fails every workspace, not only the one that filled it
MIN_FREE_BYTES = 2 << 30
# a file younger than this is never taken for a leftover: a temporary file may be mid-write (50 MB
# takes well under a second), and a Milvus server's reads may lag another replica's commit (seconds)
LEFTOVER_AGE_S = 600


@dataclass(frozen=True)
class Original:
    """One document's kept file: `filename` is what the loaders read it as (a URL's page is read
    as the name its content type gave it), `content_hash` the version it belongs to."""

    doc_id: str
    name: str
    filename: str
    content_hash: str
    path: Path

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()

    def head(self, size: int = 1024) -> bytes:
        """The file's first bytes (what kind of file it is), without reading all of it."""
        with self.path.open("rb") as file:
            return file.read(size)


class _Total:
    """Bytes of the visitors' originals under one folder (None: not measured yet), shared by every
    `Originals` of this process on it: the ingest keeps with one, deletes and the janitor remove
    with another."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bytes: int | None = None


_TOTALS: dict[Path, _Total] = {}
_TOTALS_LOCK = threading.Lock()


def _total_for(root: Path) -> _Total:
    with _TOTALS_LOCK:
        return _TOTALS.setdefault(root.resolve(), _Total())


class Originals:
    """The kept originals under one data dir; any number may share a folder (in a process they
    share one running total of its bytes, which every sweep measures again)."""

    def __init__(
        self,
        data_dir: str | Path,
        max_workspace_bytes: int | None = None,
        min_free_bytes: int = MIN_FREE_BYTES,
        collection: str = "",
        store: str = "",
        max_total_bytes: int | None = None,
    ) -> None:
        """`max_workspace_bytes`: what one workspace's originals may take; None: no bound.
        `max_total_bytes`: what all workspaces' originals may take together (not the shared
        library's); None: no bound.
        `min_free_bytes`: what a visitor's original must leave free on the disk. `collection`: the
        store's (`RAG_COLLECTION`), written with each original: a data dir may hold several
        collections (a new embedding model means a new one), and `remove_unowned` asks only
        the current one about its own originals. `store`: the store's `RAG_MILVUS_URI` ("": the
        data dir's own Milvus Lite file), written likewise: another store with a collection of
        the same name (a Milvus server tried with this data dir) has none of these documents."""
        self.root = Path(data_dir) / FOLDER
        self.max_workspace_bytes = max_workspace_bytes
        self.min_free_bytes = min_free_bytes
        self.collection = collection
        self.store = store
        self.max_total_bytes = max_total_bytes
        self._total = _total_for(self.root)

    @classmethod
    def from_settings(cls, settings: Settings) -> Originals:
        """The data dir's originals, with the workspace bound (`RAG_MAX_WORKSPACE_ORIGINALS_MB`) and
        the bound of all workspaces together (`RAG_MAX_ORIGINALS_MB`)."""
        limits = settings.limits
        return cls(
            settings.store.data_dir,
            limits.max_workspace_originals_mb << 20,
            collection=settings.store.collection,
            store=settings.store.milvus_uri,
            max_total_bytes=limits.max_originals_mb << 20,
        )

    def keep(
        self,
        owner: str,
        doc_id: str,
        name: str,
        data: bytes,
        content_hash: str,
        filename: str = "",
        bounded: bool = True,
    ) -> str:
        """Keep (or replace) `doc_id`'s original; returns "" or, when a bound keeps it out, the note
        that says so (`bounded`: False for the shared library and the CLI). A refused original
        leaves a record of why (`not_kept`), for the viewer."""
        folder, doc_id = self._folder(owner), _checked(doc_id)
        meta = {
            "name": name,
            "filename": filename or name,
            "content_hash": content_hash,
            "collection": self.collection,
            "store": self.store,
        }
        record = json.dumps(meta).encode()
        added = len(data) + len(record) - self._size(folder / doc_id) - self._size(folder / f"{doc_id}.json")
        refused = self._refused(owner, doc_id, len(data), added) if bounded else ""
        if refused:
            self.remove(owner, doc_id)  # an older version's original would show the wrong page
            self._record_refusal(owner, doc_id, meta | {"not_kept": refused})
            return (
                f"the original is not kept for the source viewer: {refused}; the viewer shows the text only"
            )
        if not bounded:
            self._add(owner, added)
        private_dir(folder)
        try:
            _write(folder / doc_id, data)
            _write(folder / f"{doc_id}.json", record)
        except OSError:
            self._add(owner, -added)  # counted for it but not written (the next sweep measures anyway)
            raise
        return ""

    def _refused(self, owner: str, doc_id: str, size: int, added: int) -> str:
        """Why a visitor's original of `size` bytes (`added` more than its folder holds for it now)
        is not kept, or ""; when it is kept, `added` is already counted in the total."""
        if self.max_workspace_bytes is not None:
            # the files' bytes, not their records (a refusal's record must not count against the next)
            files = [path for path in _entries(self._folder(owner)) if not path.name.endswith(".json")]
            used = sum(map(self._size, files)) - self._size(self._folder(owner) / doc_id)
            if used + size > self.max_workspace_bytes:
                mb = self.max_workspace_bytes / (1 << 20)
                return f"the workspace's originals would pass {mb:g} MB (RAG_MAX_WORKSPACE_ORIGINALS_MB)"
        if _free_bytes(self.root) - size < self.min_free_bytes:
            log.warning(
                "an original is not kept: the data dir's disk has under %d MB free", self.min_free_bytes >> 20
            )
            return "the server's disk is nearly full (less than the free space it keeps for the store)"
        if not self._reserve(owner, added):
            mb = (self.max_total_bytes or 0) / (1 << 20)
            log.warning("an original is not kept: all workspaces' originals are at %g MB", mb)
            return f"the originals of all workspaces together would pass {mb:g} MB (RAG_MAX_ORIGINALS_MB)"
        return ""

    def total_bytes(self) -> int:
        """Bytes of all workspaces' originals (not the shared library's): the running count,
        measured on first use."""
        with self._total.lock:
            if self._total.bytes is None:
                self._total.bytes = self._measure()
            return self._total.bytes

    def _reserve(self, owner: str, added: int) -> bool:
        """Count `added` bytes of `owner`'s in the total, unless that passes `max_total_bytes`
        (checked and counted under one lock: two uploads at once can't both take the last room)."""
        if self.max_total_bytes is None or not self._counted(owner):
            self._add(owner, added)
            return True
        with self._total.lock:
            if self._total.bytes is None:
                self._total.bytes = self._measure()
            if added > 0 and self._total.bytes + added > self.max_total_bytes:
                return False
            self._total.bytes = max(0, self._total.bytes + added)
            return True

    def _add(self, owner: str, added: int) -> None:
        """Count `added` bytes (negative: removed) of `owner`'s in the running total, once measured."""
        if not self._counted(owner):
            return
        with self._total.lock:
            if self._total.bytes is not None:
                self._total.bytes = max(0, self._total.bytes + added)

    @staticmethod
    def _counted(owner: str) -> bool:
        return owner != SHARED_OWNER

    def _measure(self) -> int:
        """Bytes of every file in the visitors' folders (one walk of the tree)."""
        shared = self._folder(SHARED_OWNER)
        folders = [folder for folder in _entries(self.root) if folder != shared]
        return sum(self._size(path) for folder in folders for path in _entries(folder))

    def _record_refusal(self, owner: str, doc_id: str, meta: dict) -> None:
        """A record without bytes: why this version's original is not kept (for the viewer)."""
        record = json.dumps(meta).encode()
        try:
            private_dir(self._folder(owner))
            _write(self._folder(owner) / f"{doc_id}.json", record)
        except OSError:  # the disk is full: the viewer says what it can without it
            return
        self._add(owner, len(record))

    def not_kept(self, owner: str, doc_id: str, content_hash: str) -> str:
        """Why this version's original was refused when it was added ("" when none is recorded)."""
        try:
            meta = json.loads((self._folder(owner) / f"{_checked(doc_id)}.json").read_text())
        except (OSError, ValueError):
            return ""
        if not isinstance(meta, dict) or meta.get("content_hash") != content_hash:
            return ""
        return str(meta.get("not_kept", ""))

    def has(self, owner: str, doc_id: str, content_hash: str) -> bool:
        """Whether this version's original is kept (its record read, not its bytes)."""
        path = self._folder(owner) / f"{_checked(doc_id)}.json"
        try:
            meta = json.loads(path.read_text())
            return meta.get("content_hash") == content_hash and "not_kept" not in meta
        except (OSError, ValueError, AttributeError):
            return False

    def read(self, owner: str, doc_id: str) -> Original | None:
        """`owner`'s original of `doc_id`, or None when none is kept (or it is damaged)."""
        folder, doc_id = self._folder(owner), _checked(doc_id)
        try:
            meta = json.loads((folder / f"{doc_id}.json").read_text())
            if not (folder / doc_id).is_file():
                return None
            return Original(doc_id, meta["name"], meta["filename"], meta["content_hash"], folder / doc_id)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def remove(self, owner: str, doc_id: str) -> None:
        folder = self._folder(owner)
        for path in (folder / f"{_checked(doc_id)}.json", folder / doc_id):
            size = self._size(path)
            try:
                path.unlink()
            except FileNotFoundError:
                continue  # removed meanwhile, by whoever counted it
            self._add(owner, -size)

    def remove_owner(self, owner: str) -> None:
        size = self.used_bytes(owner)
        shutil.rmtree(self._folder(owner), ignore_errors=True)
        self._add(owner, -size)

    def remove_unowned(self, live: Callable[[set[str]], set[str]], now: float | None = None) -> int:
        """Remove the originals of this collection's documents that the store no longer has
        (not in `live(doc_ids)`, the store's answer for all of them at once: one query per 1,000
        where one per original took 2.8 s a sweep at 2,000; one kept before collections were
        recorded counts as this collection's) and temporary files left by an interrupted write,
        each at least `LEFTOVER_AGE_S` old; returns how many files went. Every folder is listed
        before the store is asked: an original is written after its document went live, so a
        listed one whose document isn't was deleted."""
        now = time.time() if now is None else now
        listed = []
        for folder in _entries(self.root):
            paths = _entries(folder)
            ids = {p.name.removesuffix(".json") for p in paths} - {""}
            ours = {doc_id for doc_id in ids if DOC_ID.fullmatch(doc_id) and self._ours(folder, doc_id)}
            listed.append((paths, ours))
        alive = live({doc_id for _, ours in listed for doc_id in ours})
        removed = 0
        for paths, ours in listed:
            gone = ours - alive
            for path in paths:
                if path.name.startswith(".") or path.name.removesuffix(".json") in gone:
                    removed += _remove_if_older(path, now - LEFTOVER_AGE_S)
        if removed:
            log.info("removed %d original file(s) that no document owns", removed)
        if self.max_total_bytes is not None:
            measured = self._measure()  # what other processes kept and removed since the last sweep
            with self._total.lock:
                self._total.bytes = measured
        return removed

    def _ours(self, folder: Path, doc_id: str) -> bool:
        """Whether the original belongs to this store's collection (a record without one of
        them counts as this one's); bytes without a readable record (a write cut short) belong to
        nobody else either."""
        try:
            meta = json.loads((folder / f"{doc_id}.json").read_text())
            mine = {"collection": self.collection, "store": self.store}
            return all(meta.get(key, value) == value for key, value in mine.items())
        except (OSError, ValueError, AttributeError):
            return True

    def used_bytes(self, owner: str) -> int:
        folder = self._folder(owner)
        try:
            return sum(self._size(path) for path in folder.iterdir())
        except OSError:
            return 0

    def _folder(self, owner: str) -> Path:
        return self.root / hashlib.sha256(owner.encode()).hexdigest()[:32]

    @staticmethod
    def _size(path: Path) -> int:
        try:
            return path.stat().st_size
        except OSError:
            return 0


def _checked(doc_id: str) -> str:
    """A doc id is 32 hex digits (`rag.ingest.chunking.document_id`); anything else is refused
    before it comes near a path."""
    if not DOC_ID.fullmatch(doc_id):
        raise ValueError(f"not a document id: {doc_id[:40]!r}")
    return doc_id


def _remove_if_older(path: Path, cutoff: float) -> int:
    """1 if the file was last written before `cutoff` and is removed now, else 0."""
    try:
        if path.stat().st_mtime >= cutoff:
            return 0
        path.unlink()
        return 1
    except OSError:  # gone meanwhile (a delete, a replacement)
        return 0


def _entries(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def _free_bytes(path: Path) -> int:
    """Free bytes on the disk of `path`, or of its nearest folder that exists (0 if none can be read)."""
    for folder in (path, *path.parents):
        try:
            return shutil.disk_usage(folder).free
        except OSError:
            continue
    return 0


def _write(path: Path, data: bytes) -> None:
    """Write atomically (a private temporary file renamed over it): a reader sees the old or the new
    file, never half of one."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
