"""The composition root's lifecycle: what `start` runs, `close` (or leaving a `with` block) ends."""

from __future__ import annotations

import threading

from rag.assistant import Assistant
from rag.generation.llm import LLM
from tests.engine_support import wait_until


def janitor_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "workspace-janitor"]


def test_leaving_the_block_stops_the_janitor_and_keeps_the_last_use(settings, embedder, fake_backend):
    before = len(janitor_threads())
    with Assistant(settings, embedder, LLM(settings, fake_backend)) as assistant:
        assistant.start()
        assert len(janitor_threads()) == before + 1
        assistant.touch("anon:reader")  # pending: flushed by the next sweep, or at close
        assert assistant.engine_state.status in {"starting", "ready"}
    assert wait_until(lambda: len(janitor_threads()) == before, timeout=30) is not None
    with Assistant(settings, embedder, LLM(settings, fake_backend)) as reopened:
        assert "anon:reader" in reopened.janitor.store.uses.latest(owners=["anon:reader"])
