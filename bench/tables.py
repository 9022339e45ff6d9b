"""Tables longer than one chunk: hit@3 on "the chunk holding the header row and the cell", before
(the table cut anywhere by the splitter) and after (rag/ingest/tables.py: header and caption on
every piece), in the same run.

    .venv/bin/python bench/tables.py

The fixture (tests/ingest/table_docs.py): a DOCX and an HTML page, each with a 30-row settings
table (~3,000 characters, 9-10 chunks at RAG_CHUNK_SIZE 512), and 5 questions each about the
default of a setting in the last 12 rows. Each variant ingests both files into a fresh Milvus Lite
store with the packaged MiniLM and the default retrieval (hybrid), k = 3.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from rag.embedding.embedder import Embedder, load_embedder
from rag.ingest import chunking
from rag.ingest.pipeline import Ingestor, SourceFile
from rag.retrieval.library import Library
from rag.settings import Settings
from rag.types import SHARED_OWNER
from tests.ingest.table_docs import holds_header_and_cell, questions, write_docx, write_html

HEADER_STEP = chunking.split_tables


def measure(folder: Path, embedder: Embedder) -> dict[str, tuple[int, int]]:
    """Per format: questions whose top 3 holds (the header and the cell, the cell's row at all)."""
    settings = Settings.from_env({}, data_dir=str(folder / "data"), embed_model="packaged")
    library = Library.open(settings, embedder)
    ingestor = Ingestor(settings, embedder, library.store)
    docs = {"docx": write_docx(folder / "store.docx"), "html": write_html(folder / "net.html")}
    ingestor.ingest_files([SourceFile(p.name, p) for p in docs.values()], SHARED_OWNER)
    result = {}
    for kind, prefix in (("docx", "store"), ("html", "net")):
        found, row = 0, 0
        for question, setting, default in questions(prefix):
            hits = library.retrieve(question, [SHARED_OWNER], k=3).hits
            found += any(holds_header_and_cell(h.chunk.text, setting, default) for h in hits)
            row += any(f"{setting} | {default} |" in h.chunk.text for h in hits)
        result[kind] = (found, row)
    library.close()
    return result


def main() -> None:
    embedder = load_embedder(Settings.from_env({}, embed_model="packaged"))
    print("| variant | DOCX: header+cell | HTML: header+cell | DOCX: the row | HTML: the row |")
    print("|---|---|---|---|---|")
    for name, step in (("before (no header step)", lambda parts, size: parts), ("after", HEADER_STEP)):
        chunking.split_tables = step
        with tempfile.TemporaryDirectory() as tmp:
            found = measure(Path(tmp), embedder)
        (docx, docx_row), (html, html_row) = found["docx"], found["html"]
        print(f"| {name} | {docx}/5 | {html}/5 | {docx_row}/5 | {html_row}/5 |", flush=True)


if __name__ == "__main__":
    main()
