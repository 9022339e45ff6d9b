"""Two app replicas on one Milvus server: a workspace in use on replica A is never deleted by
replica B's janitor, however long ago its documents were added, while a workspace nobody uses is
deleted after the TTL. (Last use is recorded in the store, where both replicas read it.)"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from gradio_client import Client, handle_file

from tests.e2e.conftest import ARTIFACTS, start_app, stop_app
from tests.reliability.conftest import record

TTL_HOURS = 0.005  # 18 s; the janitors sweep every 5 s


def own_documents(client: Client) -> list[str]:
    return [d["name"] for d in client.predict(api_name="/list_documents")[0] if not d["shared"]]


def test_replicas_keep_a_workspace_used_on_either_and_delete_an_abandoned_one(milvus_uri, tmp_path):
    env = {"RAG_MILVUS_URI": milvus_uri, "RAG_LLM_BACKEND": "fake", "RAG_WORKSPACE_TTL_HOURS": str(TTL_HOURS)}
    logs = {name: ARTIFACTS / f"app-replica-{name}.log" for name in "ab"}
    starting = []
    try:
        with ThreadPoolExecutor(2) as pool:  # the two replicas start side by side
            starting = [pool.submit(start_app, tmp_path / name, log, **env) for name, log in logs.items()]
        assert all(future.exception() is None for future in starting), [f.exception() for f in starting]
        (_, url_a), (_, url_b) = (future.result() for future in starting)
        assert url_a != url_b  # two servers (their ports are picked at the same moment)
        note = tmp_path / "tide.md"
        note.write_text("# Tides\n\nHigh tide at the pier is at noon.")
        active, abandoned = Client(url_a, verbose=False), Client(url_b, verbose=False)
        assert "added" in active.predict([handle_file(str(note))], api_name="/ingest")[0]
        assert "added" in abandoned.predict([handle_file(str(note))], api_name="/ingest")[0]
        started = time.monotonic()
        ttl_s = TTL_HOURS * 3600
        while time.monotonic() - started < 2.5 * ttl_s:  # the active one is used on A only
            assert own_documents(active) == ["tide.md"], "replica B deleted a workspace in use on A"
            time.sleep(1)
        assert own_documents(abandoned) == []  # idle for more than the TTL: deleted
        assert own_documents(active) == ["tide.md"]
        record(
            "two replicas, one Milvus server",
            ttl_s=ttl_s,
            watched_s=round(time.monotonic() - started),
            active_kept=True,
            abandoned_deleted=True,
        )
    finally:
        for future in starting:
            if future.exception() is None:
                stop_app(future.result()[0])
