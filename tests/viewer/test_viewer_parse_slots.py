"""Reading a Word/HTML/Markdown original again for the viewer takes a turn in the ingest slots
(rag/ingest/fair.py, `RAG_INGEST_CONCURRENCY`, 1 by default), like the parse of an upload: it is
the same parser in the app's process (up to `RAG_PARSE_TIMEOUT_S`, 180 s, and hundreds of MB for a
hostile file within the budgets), and four viewer events at once must not make it four parses
beside the uploads the setting allows."""

from __future__ import annotations

import threading
from pathlib import Path

from rag.assistant import Assistant
from rag.ingest.chunking import document_id
from rag.ingest.pipeline import SourceFile
from rag.viewer.views import SectionView, ViewRequest


def test_a_section_is_parsed_in_an_ingest_turn(assistant: Assistant, tmp_path: Path):
    path = tmp_path / "notes.md"
    path.write_text("# Herons\n\nThe grey heron nests in colonies.\n")
    [result] = assistant.upload([SourceFile("notes.md", path)], "anon:a")
    assert result.status == "added", result
    wanted = ViewRequest(document_id("anon:a", "notes.md"), 0, "Herons", ("The grey heron nests",))
    shown: list[SectionView] = []
    viewing = threading.Thread(target=lambda: shown.append(assistant.view_source("anon:a", wanted)))
    with assistant.ingestor.slots.turn("anon:b"):  # another workspace's upload holds the only slot
        viewing.start()
        viewing.join(3)  # a parse of this file takes milliseconds when nothing holds it back
        assert viewing.is_alive() and not shown
    viewing.join(60)
    assert shown and shown[0].spans
