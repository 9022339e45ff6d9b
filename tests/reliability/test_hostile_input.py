"""Hostile and greedy clients against the real app process: a huge question or history, a PDF bomb,
a 1,000-file upload, a full workspace and a flood of chats from one session. Each is refused fast
with a message naming its limit, and everyone else keeps being served."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from gradio_client import Client, handle_file

from tests.reliability.conftest import memory_mb, record, refusal
from tests.samples import make_pdf_bomb


def test_huge_question_and_history_are_refused_fast_while_others_are_served(hostile_app):
    _, url = hostile_app
    attacker, bystander = Client(url, verbose=False), Client(url, verbose=False)
    latencies: list[float] = []
    done = threading.Event()

    def keep_listing() -> None:
        while not done.is_set():
            started = time.perf_counter()
            bystander.predict(api_name="/list_documents")
            latencies.append(time.perf_counter() - started)

    watcher = threading.Thread(target=keep_listing)
    watcher.start()
    try:
        question_error, question_s = refusal(
            lambda: attacker.predict("x" * 1_000_000, [], [], False, api_name="/chat")
        )
        history = [
            {"role": "user", "content": [{"type": "text", "text": "y" * 1_000_000}]},
            {"role": "assistant", "content": [{"type": "text", "text": "z" * 1_000_000}]},
        ]
        history_error, history_s = refusal(
            lambda: attacker.predict("Why?", history, [], False, api_name="/chat")
        )
    finally:
        done.set()
        watcher.join()
    assert "RAG_MAX_QUESTION_CHARS" in question_error and question_s < 5, (question_error, question_s)
    assert "RAG_MAX_HISTORY_CHARS" in history_error and history_s < 5, (history_error, history_s)
    assert latencies and max(latencies) < 2.0, latencies
    record(
        "huge question and history",
        question_refused_s=round(question_s, 2),
        history_refused_s=round(history_s, 2),
        bystander_worst_s=round(max(latencies), 2),
        bystander_calls=len(latencies),
    )


def test_pdf_bombs_are_refused_quickly_with_bounded_memory_and_the_good_file_goes_in(hostile_app, tmp_path):
    process, url = hostile_app
    pages_bomb = tmp_path / "pages-bomb.pdf"
    pages_bomb.write_bytes(make_pdf_bomb(20_000, 2_000))  # 20,000 pages over one stream
    text_bomb = tmp_path / "text-bomb.pdf"
    text_bomb.write_bytes(make_pdf_bomb(1_500, 5_000))  # 240 kB expanding to 7.5 M characters
    good = tmp_path / "good.md"
    good.write_text("# Good\n\nThe good file is about herons.")
    client = Client(url, verbose=False)
    before = memory_mb(process.pid, "VmRSS")
    started = time.perf_counter()
    report, *_ = client.predict(
        [handle_file(str(p)) for p in (pages_bomb, text_bomb, good)], api_name="/ingest"
    )
    elapsed = time.perf_counter() - started
    peak = memory_mb(process.pid)
    lines = report.splitlines()
    assert (
        "pages-bomb.pdf: failed: the PDF has 20000 pages, more than the limit of 2000 (RAG_MAX_PAGES)"
        in lines
    )
    assert any(
        line.startswith("text-bomb.pdf: failed: the document holds more than 5,000,000 characters")
        and "RAG_MAX_DOCUMENT_CHARS" in line
        for line in lines
    ), lines
    assert "good.md: added (1 chunks)" in lines
    assert peak - before < 500, (before, peak)
    record(
        "PDF bombs",
        pages_bomb_kb=pages_bomb.stat().st_size // 1024,
        text_bomb_kb=text_bomb.stat().st_size // 1024,
        upload_s=round(elapsed, 1),
        rss_before_mb=round(before),
        peak_mb=round(peak),
    )


def test_a_thousand_file_upload_and_a_full_workspace_are_refused_with_their_limits(hostile_app, tmp_path):
    _, url = hostile_app
    folder = tmp_path / "many"
    folder.mkdir()
    paths = []
    for i in range(1000):
        path = folder / f"note-{i:04d}.txt"
        path.write_text(f"Note {i}: the tide table for pier {i}.")
        paths.append(path)
    client = Client(url, verbose=False)
    started = time.perf_counter()
    report, *_ = client.predict([handle_file(str(p)) for p in paths], api_name="/ingest")
    elapsed = time.perf_counter() - started
    lines = report.splitlines()[1:]
    assert len(lines) == 1000
    added = [line for line in lines if ": added (" in line]
    full = [
        line for line in lines if "the workspace is full" in line and "RAG_MAX_WORKSPACE_DOCUMENTS" in line
    ]
    over = [line for line in lines if "more than 20 files in one upload (RAG_MAX_FILES_PER_UPLOAD)" in line]
    assert (len(added), len(full), len(over)) == (3, 17, 980), report[:2000]
    listed, *_ = client.predict(api_name="/list_documents")
    assert len([d for d in listed if not d["shared"]]) == 3
    record(
        "1,000-file upload into a 3-document workspace", seconds=round(elapsed, 1), added=3, full=17, over=980
    )


def test_one_session_flooding_chats_does_not_starve_another(hostile_app):
    _, url = hostile_app
    flooder, other = Client(url, verbose=False), Client(url, verbose=False)
    with ThreadPoolExecutor(max_workers=12) as pool:
        flood = [
            pool.submit(
                lambda: flooder.submit("Tell me about tides.", [], [], False, api_name="/chat").result()
            )
            for _ in range(12)
        ]
        time.sleep(0.5)  # the flood is queued first
        started = time.perf_counter()
        first_delta = None
        for outputs in other.submit("What about herons?", [], [], False, api_name="/chat"):
            chat = outputs[0]
            if first_delta is None and chat and chat[-1]["role"] == "assistant" and chat[-1]["content"]:
                first_delta = time.perf_counter() - started
        refused = 0
        for future in flood:
            try:
                future.result()
            except Exception as exc:
                assert "RAG_MAX_CHATS_PER_SESSION" in str(exc), exc
                refused += 1
    assert first_delta is not None and first_delta < 3.0, first_delta  # a flooder's answer lasts ~5.6 s
    assert refused >= 8, refused
    record("one session floods 12 chats", other_first_delta_s=round(first_delta, 2), flood_refused=refused)
