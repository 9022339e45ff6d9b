"""Tables longer than one chunk: hit@3 on "the chunk holding the header row and the cell", before
(the table cut anywhere by the splitter, a PDF's rows as pypdf writes them) and after
(rag/ingest/pdf_tables.py finds a PDF's tables; rag/ingest/tables.py puts header and caption on
every piece), in the same run.

    .venv/bin/python bench/tables.py

The fixture (tests/ingest/table_docs.py): a DOCX, an HTML page and a PDF (the table going on over
a page break, wrapped cells), each with a 30-row settings table (~3,000 characters, 9-10 chunks at
RAG_CHUNK_SIZE 512), and 5 questions each about the default of a setting in the last 12 rows. Each
variant ingests each file into a workspace of its own (their rows are alike) in a fresh Milvus Lite
store with the packaged MiniLM and the default retrieval (hybrid), k = 3.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from rag.embedding.embedder import Embedder, load_embedder
from rag.ingest import chunking
from rag.ingest.pdf_tables import PdfTableReader
from rag.ingest.pipeline import Ingestor, SourceFile
from rag.retrieval.library import Library
from rag.settings import Settings
from tests.ingest.table_docs import FIXTURES, holds_header_and_cell, questions

HEADER_STEP = chunking.split_tables
PDF_TABLES = PdfTableReader.page_text


def measure(folder: Path, embedder: Embedder) -> dict[str, tuple[int, int]]:
    """Per format: questions whose top 3 holds (the header and the cell, the cell's row at all)."""
    settings = Settings.from_env({}, data_dir=str(folder / "data"), embed_model="packaged")
    library = Library.open(settings, embedder)
    ingestor = Ingestor(settings, embedder, library.store)
    result = {}
    for kind, (name, write, prefix) in FIXTURES.items():
        ingestor.ingest_files([SourceFile(name, write(folder / name))], f"tables-{kind}")
        found, row = 0, 0
        for question, setting, default in questions(prefix):
            hits = library.retrieve(question, [f"tables-{kind}"], k=3).hits
            found += any(holds_header_and_cell(h.chunk.text, setting, default) for h in hits)
            row += any(setting in h.chunk.text and default in h.chunk.text for h in hits)
        result[kind] = (found, row)
    library.close()
    return result


def main() -> None:
    embedder = load_embedder(Settings.from_env({}, embed_model="packaged"))
    kinds = list(FIXTURES)
    print(
        "| variant | "
        + " | ".join(f"{k}: header+cell" for k in kinds)
        + " | "
        + " | ".join(f"{k}: the row" for k in kinds)
        + " |"
    )
    print("|---" * (1 + 2 * len(kinds)) + "|")
    before = (lambda parts, size: parts, lambda self, page: page.extract_text())
    for name, (step, pdf) in (
        ("before (no header step, no PDF tables)", before),
        ("after", (HEADER_STEP, PDF_TABLES)),
    ):
        chunking.split_tables, PdfTableReader.page_text = step, pdf
        with tempfile.TemporaryDirectory() as tmp:
            found = measure(Path(tmp), embedder)
        cells = [f"{found[k][0]}/5" for k in kinds] + [f"{found[k][1]}/5" for k in kinds]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
