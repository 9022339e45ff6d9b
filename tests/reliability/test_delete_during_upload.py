"""A delete while an upload of the same document is still being embedded and written must win: the
upload keeps nothing and says so, and nothing of it is left in either collection.

Real components: Milvus Lite, the packaged MiniLM, a real Markdown file uploaded through
`Assistant.upload` (what the web app calls) and deleted through `Assistant.delete` /
`Assistant.delete_workspace` (the Delete buttons). The one controlled seam is the upload's embedder,
which stops at its Nth call until the test has deleted (threading Events, no sleeps): call 1 is
before any chunk is stored (a document under `STORE_BATCH` chunks is stored in one batch at the
end, so this is the whole embedding of most uploads), call 2 is after the first batch is stored."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from rag.assistant import Assistant
from rag.embedding.embedder import Embedder
from rag.generation.backends.fake import FakeBackend
from rag.generation.llm import LLM
from rag.ingest import streaming
from rag.ingest.chunking import document_id
from rag.ingest.pipeline import SourceFile
from rag.store import rows as r
from rag.types import IngestResult
from tests.conftest import make_settings
from tests.ingest.web_site import Site, html_page, serve, sitemap
from tests.store.test_document_writer import Pause

OWNER = "anon:deleter"
WORDS = "heron", "otter"  # the old version's word, the new one's
DELETED_WITH_WORKSPACE = "notes.md was deleted with its workspace while it was being added; nothing was kept"


class PausingEmbedder:
    """The real embedder, stopping at its `at`-th passage batch until `go` is set."""

    def __init__(self, real: Embedder, at: int) -> None:
        self.real, self.at, self.calls = real, at, 0
        self.reached, self.go = threading.Event(), threading.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        if self.calls == self.at:
            self.reached.set()
            assert self.go.wait(120), "the test never let the upload go on"
        return self.real.embed_passages(texts)


def write_doc(path: Path, word: str) -> Path:
    """About a dozen chunks of 512 characters: three store batches of 4 (`STORE_BATCH` below)."""
    sections = [
        f"## Part {i}\n\n" + f"The {word} number {i} waits by the river bank. " * 11 for i in range(12)
    ]
    path.write_text("# Field notes\n\n" + "\n\n".join(sections))
    return path


def left_in_store(assistant: Assistant, doc_id: str) -> tuple[list[str], list[str]]:
    """Every version row (its state) and every chunk row (its version) of `doc_id`, whatever state."""
    store = assistant.library.store
    flt = r.eq("doc_id", doc_id)
    versions = r.query_all(store.client, store.writes.table, flt, ["version", "state"])
    chunks = r.query_all(store.client, store.writes.collection, flt, ["pk", "content_hash"])
    return sorted(v["state"] for v in versions), sorted({c["content_hash"] for c in chunks})


def found(assistant: Assistant, word: str) -> list[str]:
    """What a search of the workspace shows for `word` (hybrid: dense and keyword)."""
    hits = assistant.library.retrieve(f"where does the {word} wait", [OWNER], k=10).hits
    return [h.chunk.source for h in hits]


def upload_paused(
    assistant: Assistant, path: Path, at: int | str
) -> tuple[threading.Thread, list, PausingEmbedder]:
    """Start uploading `path` in a thread; returns once it has stopped at `at`: the embedder's
    call of that number, or the progress step of that name (the upload's own progress callback,
    as the web app's progress bar gets it)."""
    pausing = PausingEmbedder(assistant.library.embedder, at if isinstance(at, int) else 0)
    assistant.ingestor.embedder = pausing

    def progress(fraction: float, message: str) -> None:
        if isinstance(at, str) and message.endswith(f": {at}"):
            pausing.reached.set()
            assert pausing.go.wait(120), "the test never let the upload go on"

    results: list[IngestResult] = []
    thread = threading.Thread(
        target=lambda: results.extend(assistant.upload([SourceFile("notes.md", path)], OWNER, progress))
    )
    thread.start()
    assert pausing.reached.wait(120), "the upload never reached the point to stop at"
    return thread, results, pausing


def finish(thread: threading.Thread, pausing: PausingEmbedder, results: list) -> IngestResult:
    pausing.go.set()
    thread.join(120)
    assert not thread.is_alive()
    [result] = results
    return result


@pytest.fixture(autouse=True)
def small_store_batches(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(streaming, "STORE_BATCH", 4)


@pytest.mark.parametrize(
    "at",
    ["parsing", "chunking", 1, 2],
    ids=["parsing", "old-version-found", "before-any-batch-is-stored", "after-the-first-batch"],
)
def test_a_delete_during_a_replacement_keeps_nothing_of_either_version(
    assistant: Assistant, tmp_path: Path, at: int
):
    """notes.md is in the workspace; a new version of it is being uploaded; the visitor deletes it
    while it is parsed, once the upload has found the old version (chunking), or while it is
    embedded. Before the fix, a delete before the first stored batch was undone by the commit: the
    new version came back, listed and found, a few seconds after the visitor saw it go."""
    doc_id = document_id(OWNER, "notes.md")
    path = write_doc(tmp_path / "notes.md", WORDS[0])
    [first] = assistant.upload([SourceFile("notes.md", path)], OWNER)
    assert first.status == "added" and first.chunks >= 9
    thread, results, pausing = upload_paused(assistant, write_doc(path, WORDS[1]), at)
    assert assistant.delete(OWNER, [doc_id]).deleted == ["notes.md"]
    assert assistant.documents(OWNER, include_shared=False) == []
    result = finish(thread, pausing, results)
    assert result.status == "failed"
    assert result.reason == "notes.md was deleted while it was being added; nothing was kept"
    assert assistant.documents(OWNER, include_shared=False) == []
    assert found(assistant, WORDS[1]) == [] and found(assistant, WORDS[0]) == []
    assert left_in_store(assistant, doc_id) == ([], [])
    assert assistant.originals.read(OWNER, doc_id) is None


@pytest.mark.parametrize(
    "at",
    ["parsing", "chunking", 1, 2],
    ids=["parsing", "before-the-write-begins", "before-any-batch-is-stored", "after-the-first-batch"],
)
def test_a_workspace_deleted_during_a_first_upload_keeps_nothing(
    assistant: Assistant, tmp_path: Path, at: int | str
):
    """A first upload is not listed until it is live, so the visitor's Delete cannot reach it, but
    deleting the workspace (the button, or the janitor's sweep) deletes by owner: the upload must
    not bring the workspace's document (or its original) back. While the file is parsed, and until
    the write begins ("chunking": the quota is checked, the chunks counted), there is no `writing`
    row for the delete to take: before the owner's deletion mark, the write then began as if
    nothing had happened and the document came back in the deleted workspace."""
    doc_id = document_id(OWNER, "notes.md")
    thread, results, pausing = upload_paused(assistant, write_doc(tmp_path / "notes.md", WORDS[1]), at)
    assistant.delete_workspace(OWNER)
    result = finish(thread, pausing, results)
    assert (result.status, result.reason) == ("failed", DELETED_WITH_WORKSPACE)
    assert assistant.documents(OWNER, include_shared=False) == [] and found(assistant, WORDS[1]) == []
    assert left_in_store(assistant, doc_id) == ([], [])
    assert assistant.originals.read(OWNER, doc_id) is None
    assert assistant.originals.used_bytes(OWNER) == 0
    # the mark blocks nothing that starts after the delete (a signed-in account keeps its workspace)
    [again] = assistant.upload([SourceFile("notes.md", tmp_path / "notes.md")], OWNER)
    assert (again.status, again.reason) == ("added", "")


def test_a_first_upload_cannot_be_deleted_by_name_before_it_is_live(assistant: Assistant, tmp_path: Path):
    """The visitor's Delete works on listed documents only: a first upload in progress is not one,
    so the delete is refused and the upload goes in whole (nothing to undo)."""
    doc_id = document_id(OWNER, "notes.md")
    thread, results, pausing = upload_paused(assistant, write_doc(tmp_path / "notes.md", WORDS[1]), 1)
    deletion = assistant.delete(OWNER, [doc_id])
    assert (deletion.deleted, deletion.refused) == ([], 1)
    result = finish(thread, pausing, results)
    assert result.status == "added"
    assert [d.source for d in assistant.documents(OWNER, include_shared=False)] == ["notes.md"]
    assert left_in_store(assistant, doc_id)[0] == ["live"]


def test_a_workspace_deleted_as_the_upload_keeps_its_original_keeps_no_original(
    assistant: Assistant, tmp_path: Path
):
    """The write is live and the upload is about to keep the original when the workspace is deleted
    (its rows, then its originals' folder): the original written after that is not left behind."""
    doc_id = document_id(OWNER, "notes.md")
    keeping = Pause(assistant.ingestor.originals.keep, lambda *args: True)
    assistant.ingestor.originals.keep = keeping
    results: list[IngestResult] = []
    path = write_doc(tmp_path / "notes.md", WORDS[1])
    thread = threading.Thread(
        target=lambda: results.extend(assistant.upload([SourceFile("notes.md", path)], OWNER))
    )
    thread.start()
    assert keeping.reached.wait(120)
    assistant.delete_workspace(OWNER)
    keeping.go.set()
    thread.join(120)
    assert [r.status for r in results] == ["added"]  # it was live, then deleted with the rest
    assert assistant.documents(OWNER, include_shared=False) == []
    assert left_in_store(assistant, doc_id) == ([], [])
    assert assistant.originals.read(OWNER, doc_id) is None and assistant.originals.used_bytes(OWNER) == 0


@pytest.mark.parametrize("how", ["files", "url"])
def test_a_workspace_deleted_during_an_upload_of_several_files_keeps_none_of_them(
    embedder: Embedder, fake_backend: FakeBackend, tmp_path: Path, how: str
):
    """Two files uploaded at once (or a sitemap's two pages), the workspace deleted while the first
    is parsed: the second, which starts after the delete, must not go in either. Before, each file
    read the workspace's deletion mark as it started, so the second read the new mark and was
    added to the deleted workspace ("added", and listed and found again on a signed-in account)."""
    settings = make_settings(tmp_path / "data", allow_private_urls="127.0.0.1")
    assistant = Assistant(settings, embedder, LLM(settings, fake_backend))
    pausing = PausingEmbedder(assistant.library.embedder, 0)

    parsed: list[str] = []

    def progress(fraction: float, message: str) -> None:
        if message.endswith(": parsing"):
            parsed.append(message)
        if message.endswith(": parsing") and not pausing.reached.is_set():
            pausing.reached.set()
            assert pausing.go.wait(120), "the test never let the upload go on"

    def upload(base: str) -> list[IngestResult]:
        if how == "url":
            return assistant.upload_url(f"{base}/sitemap.xml", OWNER, progress)
        names = "notes.md", "later.md"
        return assistant.upload(
            [SourceFile(n, write_doc(tmp_path / n, w)) for n, w in zip(names, WORDS, strict=True)],
            OWNER,
            progress,
        )

    results: list[IngestResult] = []
    pages = {
        f"/{w}.html": ("text/html", html_page(w, f"The {w} waits by the river bank. " * 20)) for w in WORDS
    }
    try:
        with serve(Site(pages=pages)) as site:
            site.pages["/sitemap.xml"] = ("application/xml", sitemap([f"{site.base}{p}" for p in pages]))
            thread = threading.Thread(target=lambda: results.extend(upload(site.base)))
            thread.start()
            assert pausing.reached.wait(120), "the upload never reached its first parsing"
            assistant.delete_workspace(OWNER)
            pausing.go.set()
            thread.join(120)
        assert not thread.is_alive()
        assert len(results) == 2 and [r.status for r in results] == ["failed", "failed"], results
        assert all(
            r.reason.endswith(" was deleted with its workspace while it was being added; nothing was kept")
            for r in results
        ), [r.reason for r in results]
        assert assistant.documents(OWNER, include_shared=False) == []
        assert found(assistant, WORDS[0]) == [] and found(assistant, WORDS[1]) == []
        assert assistant.originals.used_bytes(OWNER) == 0
        assert len(parsed) == 1, parsed  # the second is refused before it is parsed
    finally:
        pausing.go.set()
        assistant.close()
