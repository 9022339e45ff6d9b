"""The named API endpoints from `gradio_client`, against the real running app."""

from __future__ import annotations

import os

import pytest

from tests.e2e.conftest import wait_engine_ready

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
pytestmark = pytest.mark.browser


def test_upload_list_chat_stream_and_delete(app_url, tmp_path):
    from gradio_client import Client, handle_file

    wait_engine_ready(app_url)
    client = Client(app_url, verbose=False)
    note = tmp_path / "kettle.md"
    note.write_text("# Kettle\n\nThe blue kettle boils water in ninety seconds.")
    other = tmp_path / "kettle-care.md"
    other.write_text("# Kettle care\n\nDescale the blue kettle with vinegar once a month.")
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"PK\x03\x04 not really a pdf")
    files = [handle_file(str(note)), handle_file(str(other)), handle_file(str(bad))]
    report, *_ = client.predict(files, api_name="/ingest")
    assert "kettle.md: added (1 chunks)" in report and "kettle-care.md: added (1 chunks)" in report
    assert "broken.pdf: failed: the content is a damaged ZIP archive" in report

    listed, *_ = client.predict(api_name="/list_documents")
    assert {"kettle.md", "kettle-care.md"} <= {doc["name"] for doc in listed}
    kettle = next(doc["id"] for doc in listed if doc["name"] == "kettle.md")

    job = client.submit("How fast does the blue kettle boil?", [], [kettle], True, api_name="/chat")
    outputs = list(job)
    answers = [out[0][-1]["content"] for out in outputs if out[0] and out[0][-1]["role"] == "assistant"]
    texts = {str(a) for a in answers if a}
    assert len(texts) >= 2  # the answer arrived in several steps
    _, sources, stats, _ = outputs[-1]
    assert "kettle.md" in sources and "rag-score" in sources
    assert sources.count("data-rank=") == 1  # searched only in the selected document
    assert "kettle-care.md" not in sources  # though the other one matches "blue kettle" too
    assert "tokens/s" in stats

    other = Client(app_url, verbose=False)  # a new client: another private workspace
    assert "kettle.md" not in [doc["name"] for doc in other.predict(api_name="/list_documents")[0]]
    other.session_hash = client.session_hash  # reusing the first client's hash: not its workspace
    assert "kettle.md" not in [doc["name"] for doc in other.predict(api_name="/list_documents")[0]]
    # the key the server set in the first client's cookie reopens its workspace from a new client
    again = Client(
        app_url, verbose=False, httpx_kwargs={"cookies": {"rag_workspace": client.cookies["rag_workspace"]}}
    )
    assert "kettle.md" in [doc["name"] for doc in again.predict(api_name="/list_documents")[0]]

    assert client.predict("kettle.md", api_name="/delete") == "Deleted: kettle.md"
    assert "kettle.md" not in [doc["name"] for doc in client.predict(api_name="/list_documents")[0]]
