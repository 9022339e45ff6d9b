"""Ingest on a real Milvus Lite database with the real packaged MiniLM model."""

from pathlib import Path

from rag.ingest.chunking import document_id
from rag.ingest.pipeline import Ingestor, SourceFile, collect_files
from rag.retrieval.library import Library
from rag.store.vector_store import VectorStore
from rag.types import SHARED_OWNER
from tests.samples import (
    HTML_WITH_SCRIPT,
    make_blank_pdf,
    make_encrypted_pdf,
    make_pdf,
    make_zip,
    random_bytes,
)

GOOD = {
    "guide.pdf": make_pdf(["Introduction to the orchard.", "Apple trees need pruning every winter."]),
    "birds.html": HTML_WITH_SCRIPT.encode(),
    "notes.md": b"# Tea\n\nGreen tea is steeped at eighty degrees for two minutes.",
    "plain.txt": b"The lighthouse keeper logs every passing ship at dawn.",
}
BAD = {
    "empty.txt": (b"", "empty"),
    "noise.txt": (random_bytes(), "binary"),
    "cut.pdf": (make_pdf(["Truncated words"])[:150], "truncated"),
    "locked.pdf": (make_encrypted_pdf("secret words"), "encrypted"),
    "scan.pdf": (make_blank_pdf(), "no text layer"),
    "archive.pdf": (make_zip(), "ZIP"),
}


def write(folder: Path, files: dict[str, bytes]) -> list[SourceFile]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return [SourceFile(name, folder / name) for name in files]


def top_source(library: Library, question: str, owners=(SHARED_OWNER,)) -> str:
    return library.retrieve(question, list(owners), k=1).hits[0].chunk.source


def test_each_format_goes_in_and_is_found(library, ingestor, tmp_path):
    results = ingestor.ingest_files(write(tmp_path / "in", GOOD), SHARED_OWNER)
    assert [r.status for r in results] == ["added"] * 4
    assert top_source(library, "When should apple trees be pruned?") == "guide.pdf"
    assert top_source(library, "How do pelicans catch fish?") == "birds.html"
    assert top_source(library, "What temperature for green tea?") == "notes.md"
    assert top_source(library, "Who records the ships?") == "plain.txt"
    pdf_hit = library.retrieve("apple pruning winter", [SHARED_OWNER], k=1).hits[0]
    assert pdf_hit.chunk.page == 2 and 0 < pdf_hit.score <= 1
    docs = {d.source: d for d in library.store.list_documents([SHARED_OWNER])}
    assert docs["guide.pdf"].pages == 2 and docs["notes.md"].chunks == 1


def test_reingest_is_a_noop_and_same_content_under_new_name_is_recognised(library, ingestor, tmp_path):
    files = write(tmp_path / "in", GOOD)
    ingestor.ingest_files(files, SHARED_OWNER)
    count = library.store.count_chunks()
    again = ingestor.ingest_files(files, SHARED_OWNER)
    assert [r.status for r in again] == ["unchanged"] * 4
    copy = write(tmp_path / "copy", {"copy-of-notes.md": GOOD["notes.md"]})
    twin = ingestor.ingest_files(copy, SHARED_OWNER)[0]
    assert twin.status == "unchanged" and "notes.md" in twin.reason
    assert library.store.count_chunks() == count


def test_changed_file_replaces_old_chunks_completely(library, ingestor, tmp_path):
    old = "Old fact: the bridge is painted green. " * 40
    ingestor.ingest_files(write(tmp_path / "v1", {"bridge.txt": old.encode()}), SHARED_OWNER)
    before = library.store.count_chunks()
    new = b"New fact: the bridge is painted bright orange."
    result = ingestor.ingest_files(write(tmp_path / "v2", {"bridge.txt": new}), SHARED_OWNER)[0]
    assert result.status == "replaced" and result.chunks == 1
    assert before > 1 and library.store.count_chunks() == 1
    hits = library.retrieve("bridge colour", [SHARED_OWNER], k=5).hits
    assert [h.chunk.text for h in hits] == [new.decode()]


def test_delete_leaves_no_chunk_behind(library, ingestor, tmp_path):
    ingestor.ingest_files(write(tmp_path / "in", GOOD), SHARED_OWNER)
    library.store.delete_document(document_id(SHARED_OWNER, "guide.pdf"))
    assert "guide.pdf" not in {d.source for d in library.store.list_documents([SHARED_OWNER])}
    hits = library.retrieve("apple trees pruning", [SHARED_OWNER], k=10).hits
    assert all(h.chunk.source != "guide.pdf" for h in hits)


def test_bad_files_fail_with_reason_while_others_go_in_and_old_data_stays(library, ingestor, tmp_path):
    ingestor.ingest_files(write(tmp_path / "first", {"plain.txt": GOOD["plain.txt"]}), SHARED_OWNER)
    before = library.store.count_chunks()
    mixed = {name: data for name, (data, _) in BAD.items()} | {"notes.md": GOOD["notes.md"]}
    results = {r.source: r for r in ingestor.ingest_files(write(tmp_path / "mix", mixed), SHARED_OWNER)}
    for name, (_, reason) in BAD.items():
        assert results[name].status == "failed", name
        assert reason.lower() in results[name].reason.lower(), (name, results[name].reason)
        assert results[name].describe().startswith(f"{name}: failed: ")
    assert results["notes.md"].status == "added"
    assert library.store.count_chunks() == before + 1
    assert top_source(library, "Who records the ships?") == "plain.txt"


def test_failed_store_write_keeps_previous_version(library, ingestor, tmp_path, monkeypatch):
    ingestor.ingest_files(write(tmp_path / "v1", {"bridge.txt": b"The bridge is green."}), SHARED_OWNER)
    calls = {"n": 0}
    real_insert = library.store.client.insert

    def failing_insert(collection, rows):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real_insert(collection, rows)

    monkeypatch.setattr(library.store.client, "insert", failing_insert)
    monkeypatch.setattr("rag.store.versions.INSERT_BATCH", 5)  # the second batch of this version fails
    long_text = ("The bridge is now painted orange with white stripes. " * 100).encode()
    result = ingestor.ingest_files(write(tmp_path / "v2", {"bridge.txt": long_text}), SHARED_OWNER)[0]
    assert result.status == "failed" and "disk full" in result.reason
    monkeypatch.undo()
    assert library.store.count_chunks() == 1
    doc = library.store.find_document(document_id(SHARED_OWNER, "bridge.txt"))
    assert doc is not None and doc.chunks == 1


def test_owners_are_isolated_and_search_can_be_restricted_to_documents(library, ingestor, tmp_path):
    files = write(tmp_path / "in", GOOD)
    ingestor.ingest_files(files[:2], "anon:alice")
    ingestor.ingest_files(files[2:], "anon:bob")
    alice = library.retrieve("green tea temperature", ["anon:alice"], k=10).hits
    assert {h.chunk.source for h in alice} <= {"guide.pdf", "birds.html"}
    assert [d.source for d in library.store.list_documents(["anon:bob"])] == ["notes.md", "plain.txt"]
    only = [document_id("anon:bob", "plain.txt")]
    hits = library.retrieve("green tea temperature", ["anon:bob"], k=10, doc_ids=only).hits
    assert {h.chunk.source for h in hits} == {"plain.txt"}


def test_data_survives_reopening(settings, embedder, tmp_path):
    first = Library(settings, embedder, VectorStore(settings, embedder.dim, embedder.name))
    Ingestor(settings, embedder, first.store).ingest_files(write(tmp_path / "in", GOOD), SHARED_OWNER)
    count = first.store.count_chunks()
    first.close()
    second = Library(settings, embedder, VectorStore(settings, embedder.dim, embedder.name))
    try:
        assert second.store.count_chunks() == count
        assert top_source(second, "What temperature for green tea?") == "notes.md"
    finally:
        second.close()


def test_collect_files_walks_folders_with_relative_names(tmp_path):
    write(tmp_path / "root" / "sub", {"a.md": b"a"})
    write(tmp_path / "root", {"b.txt": b"b"})
    (tmp_path / "root" / ".git").mkdir()
    (tmp_path / "root" / ".git" / "x").write_bytes(b"x")
    names = [f.name for f in collect_files([tmp_path / "root", tmp_path / "root" / "b.txt"])]
    assert names == ["b.txt", "sub/a.md", "b.txt"]


def test_changed_file_whose_new_content_equals_another_document_still_replaces(library, ingestor, tmp_path):
    files = write(tmp_path / "v1", {"a.txt": b"Apples are red.", "b.txt": b"Bananas are yellow."})
    ingestor.ingest_files(files, SHARED_OWNER)
    result = ingestor.ingest_files(write(tmp_path / "v2", {"a.txt": b"Bananas are yellow."}), SHARED_OWNER)
    assert result[0].status == "replaced"
    hits = library.retrieve("apples", [SHARED_OWNER], k=5).hits
    assert "Apples are red." not in [h.chunk.text for h in hits]


def test_new_formats_go_in_and_the_report_says_ocr(library, ingestor, tmp_path):
    from rag.ingest.ocr import ocr_available
    from tests.samples import SCANNED_PAGES, make_docx, make_pptx, make_scanned_pdf

    files = {
        "notes.docx": make_docx(
            "Valves", ["The red valve opens clockwise."], [["Valve", "Turns"], ["red", "3"]]
        ),
        "deck.pptx": make_pptx(
            [("One", "Intro", ""), ("Two", "Quokkas eat leaves.", ""), ("Three", "End", "")]
        ),
    }
    if ocr_available():
        files["scan.pdf"] = make_scanned_pdf(SCANNED_PAGES)
    messages: list[str] = []
    results = ingestor.ingest_files(
        write(tmp_path / "in", files), SHARED_OWNER, lambda f, m: messages.append(m)
    )
    assert [r.status for r in results] == ["added"] * len(files)
    hits = library.retrieve("What do quokkas eat?", [SHARED_OWNER], k=3).hits
    assert "deck.pptx, slide 2" in [hit.chunk.label() for hit in hits]
    if ocr_available():
        assert results[2].describe() == f"scan.pdf: added ({results[2].chunks} chunks, OCR)"
        assert "[3/3] scan.pdf: OCR page 2 (2/2)" in messages
        assert library.retrieve("Where does the heron nest?", [SHARED_OWNER], k=1).hits[0].chunk.page == 1
