"""Fair ingest slots and Stop, with real threads, real Milvus Lite and the packaged MiniLM: a big
upload in one workspace doesn't make another workspace's small file wait for it, and a stopped
upload keeps what it stored and nothing of the document it was on."""

from __future__ import annotations

import re
import threading
import time

from rag.ingest.fair import FairSlots, Stopped, StopSignal
from rag.ingest.pipeline import SourceFile
from tests.samples import make_pdf


def wait_until(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def test_a_waiting_workspace_gets_the_next_turn_even_behind_many_of_anothers():
    """A has three uploads queued for the one slot; B's one step comes right after A's current
    step, not after all of A's (arrival order would put it last)."""
    slots, order = FairSlots(1), []
    holding, release = threading.Event(), threading.Event()

    def step(owner: str, hold: bool = False) -> None:
        with slots.turn(owner):
            order.append(owner)
            if hold:
                holding.set()
                release.wait(30)

    first = threading.Thread(target=step, args=("A", True))
    first.start()
    holding.wait(30)
    others = [threading.Thread(target=step, args=("A",)) for _ in range(3)]
    for thread in others:
        thread.start()
    wait_until(lambda: len(slots._waiting) == 3)
    late = threading.Thread(target=step, args=("B",))
    late.start()
    wait_until(lambda: len(slots._waiting) == 4)
    release.set()
    for thread in [first, *others, late]:
        thread.join(30)
    assert order == ["A", "B", "A", "A", "A"]


def test_a_stop_while_waiting_for_a_turn_raises_stopped():
    slots, stop = FairSlots(1), StopSignal()
    with slots.turn("A"):
        outcome = []

        def wait_for_turn() -> None:
            try:
                with slots.turn("B", stop):
                    outcome.append("ran")
            except Stopped:
                outcome.append("stopped")

        waiter = threading.Thread(target=wait_for_turn)
        waiter.start()
        wait_until(lambda: len(slots._waiting) == 1)
        stop.trip()
        waiter.join(10)
    assert outcome == ["stopped"]


def big_text(chunks: int) -> str:
    return "\n\n".join(
        f"Section {i}. The orchard ledger records row {i}: pruning, grafting and picking notes. " * 6
        for i in range(chunks)
    )


def test_a_small_file_goes_in_while_a_big_one_runs_and_stop_keeps_only_whole_documents(ingestor, tmp_path):
    small_a, big_a, small_b = tmp_path / "a-notes.txt", tmp_path / "a-ledger.txt", tmp_path / "b.txt"
    small_a.write_text("Workspace A keeps its bees in the north meadow.")
    big_a.write_text(big_text(400))
    small_b.write_text("The lighthouse keeper logs every passing ship at dawn.")
    a_messages: list[str] = []
    a_results = []

    def upload_a() -> None:
        files = [SourceFile("notes.txt", small_a), SourceFile("ledger.txt", big_a)]
        a_results.extend(ingestor.ingest_files(files, "A", lambda f, m: a_messages.append(m)))

    a = threading.Thread(target=upload_a)
    a.start()
    wait_until(lambda: any(re.search(r"ledger.txt: embedding \d+/", m) for m in a_messages))
    [b_result] = ingestor.ingest_files([SourceFile("b.txt", small_b)], "B")
    assert b_result.status == "added"
    assert a.is_alive(), "A's big file finished before B's small one: B waited for all of it"
    hits = ingestor.store.list_documents(["B"])
    assert [d.source for d in hits] == ["b.txt"]

    assert ingestor.stop("A") == 1
    a.join(120)
    assert not a.is_alive()
    assert [(r.source, r.status) for r in a_results] == [("notes.txt", "added"), ("ledger.txt", "failed")]
    assert "stopped" in a_results[1].reason
    assert [d.source for d in ingestor.store.list_documents(["A"])] == ["notes.txt"]  # no partial ledger
    assert ingestor.stop("A") == 0  # nothing left running


def test_a_long_pdf_reports_its_pages_and_stops_while_it_is_read(ingestor):
    pdf = make_pdf([f"Page {i} of the ledger: row {i} was pruned." for i in range(200)])
    messages: list[str] = []

    def progress(fraction: float, message: str) -> None:
        messages.append(message)
        if message.startswith("reading page 51 of 200"):
            ingestor.stop("A")

    with ingestor.stoppable("A") as stop:  # the upload that Stop reaches
        result = ingestor.ingest_bytes("ledger.pdf", pdf, "A", progress, stop=stop)
    assert [m for m in messages if m.startswith("reading page")][:3] == [
        "reading page 1 of 200",
        "reading page 26 of 200",
        "reading page 51 of 200",
    ]
    assert result.status == "failed" and "stopped" in result.reason
    assert not any(m.startswith("reading page 76") for m in messages)  # stopped at the next look
    assert ingestor.store.list_documents(["A"]) == []


def test_stop_in_a_big_embedding_batch_waits_for_about_a_second_of_it_and_keeps_nothing(
    ingestor, tmp_path, monkeypatch
):
    """With a large embedding batch (RAG_EMBED_BATCH_SIZE=512: a larger model or a GPU setting on
    a CPU), Stop pressed while the first batch is embedded used to wait for all 512 chunks. Now
    sub-batches are paced to about a second (rag/ingest/streaming.py): the chunks embedded once
    Stop was pressed are at most one sub-batch, and nothing of the document is left."""
    embedder = ingestor.embedder
    monkeypatch.setattr(embedder, "batch_size", 512)
    calls: list[tuple[float, int, float]] = []  # (began, texts, ended)
    embedding, pressed_event = threading.Event(), threading.Event()
    embed = embedder.embed_passages

    def watched(texts: list[str]):
        began = time.monotonic()
        if not embedding.is_set():  # the first call goes on once Stop is pressed: Stop lands in it
            embedding.set()
            pressed_event.wait(30)
        try:
            return embed(texts)
        finally:
            calls.append((began, len(texts), time.monotonic()))

    monkeypatch.setattr(embedder, "embed_passages", watched)
    big = tmp_path / "ledger.txt"
    big.write_text(big_text(600))
    results = []
    upload = threading.Thread(
        target=lambda: results.extend(ingestor.ingest_files([SourceFile("ledger.txt", big)], "A"))
    )
    upload.start()
    embedding.wait(120)
    pressed = time.monotonic()
    assert ingestor.stop("A") == 1
    pressed_event.set()
    upload.join(120)
    waited = time.monotonic() - pressed
    assert not upload.is_alive(), f"Stop had not taken effect {waited:.0f} s later"
    after_stop = sum(n for began, n, ended in calls if ended > pressed)  # the call running, and any later
    assert [(r.status, "stopped" in r.reason) for r in results] == [("failed", True)]
    # Stop came during the first sub-batch (FIRST_SUB_BATCH = 4 chunks); the bound in time is one
    # sub-batch (~STOP_WITHIN_S = 1 s) and the undo, given ten times that on a loaded machine
    assert after_stop <= 4, f"Stop waited for {after_stop} chunks ({waited:.1f} s): {calls}"
    assert waited < 10, f"Stop took {waited:.1f} s"
    assert ingestor.store.list_documents(["A"]) == [] and ingestor.store.count_chunks(["A"]) == 0
    assert ingestor.store.count_chunks() == 0  # not even invisible rows are left
