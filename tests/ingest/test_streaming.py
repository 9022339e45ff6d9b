"""A long document streamed chunks → vectors → store (rag/ingest/streaming.py), with the packaged
MiniLM and real Milvus Lite: its rows reach the store in batches while it is still being
embedded, yet nothing of it is visible until the last one is in; a PDF reports per page; the
sub-batches are paced to about `STOP_WITHIN_S`."""

from __future__ import annotations

import re

from rag.ingest import streaming
from rag.ingest.streaming import STOP_WITHIN_S, Pacer
from tests.samples import make_pdf


def test_the_pacer_grows_to_the_batch_when_fast_and_shrinks_to_about_a_second_when_slow():
    pacer = Pacer(most=32)
    assert pacer.size == 4
    sizes = []
    for _ in range(5):
        pacer.took(pacer.size, 0.01 * pacer.size)  # 10 ms a chunk: the batch fits in the target
        sizes.append(pacer.size)
    assert sizes == [8, 16, 32, 32, 32]  # at most doubling, at most the embedder's batch
    pacer.took(32, 32 * 0.25)  # the machine got loaded: 250 ms a chunk
    assert pacer.size == int(STOP_WITHIN_S / 0.25) == 4
    pacer.took(4, 4 * 5.0)  # slower than the target for one chunk: one at a time
    assert pacer.size == 1


def test_a_long_pdf_is_stored_in_batches_while_embedded_and_visible_only_at_the_end(ingestor, monkeypatch):
    monkeypatch.setattr(streaming, "STORE_BATCH", 10)
    pdf = make_pdf([f"Page {i}: the ledger says row {i} was pruned in March. " * 8 for i in range(30)])
    seen: list[tuple[str, int, list[str]]] = []  # (message, rows in Milvus, documents listed)

    def progress(fraction: float, message: str) -> None:
        if message.startswith("embedding page"):
            listed = [d.source for d in ingestor.store.list_documents(["A"])]
            seen.append((message, ingestor.store.count_chunks(), listed))

    result = ingestor.ingest_bytes("ledger.pdf", pdf, "A", progress)
    assert result.status == "added" and result.chunks == 30, result  # one chunk a page
    assert re.fullmatch(r"embedding page \d+ of 30 \(\d+/\d+ chunks\)", seen[0][0]), seen[0]
    assert seen[-1][0].startswith("embedding page 30 of 30 ")
    stored_while_embedding = [rows for _, rows, _ in seen]
    assert max(stored_while_embedding) >= 20, "nothing reached the store before the document was embedded"
    assert stored_while_embedding == sorted(stored_while_embedding)  # batch after batch
    assert all(listed == [] for _, _, listed in seen), "the document was listed before it was whole"
    assert [d.source for d in ingestor.store.list_documents(["A"])] == ["ledger.pdf"]
    assert ingestor.store.count_chunks() == result.chunks
