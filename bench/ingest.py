"""Ingestion rate on real files: embedding alone (the ceiling) vs the whole pipeline
(parse → chunk → embed → store in Milvus Lite), in the same run.

    .venv/bin/python bench/ingest.py [DIR] [--files 40]

DIR defaults to the Milvus docs corpus; the store is a temporary Milvus Lite file.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from rag.ingest.chunking import chunk_document
from rag.ingest.loaders import load_document
from rag.ingest.pipeline import Ingestor, collect_files
from rag.retrieval.library import Library
from rag.settings import Settings
from rag.types import SHARED_OWNER

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "milvus-docs-2.4"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", nargs="?", default=str(CORPUS))
    parser.add_argument("--files", type=int, default=40, help="first N files (sorted), 0 for all")
    args = parser.parse_args()
    files = collect_files([args.folder])
    files = files[: args.files] if args.files else files
    with tempfile.TemporaryDirectory() as data:
        library = Library.open(Settings.from_env(data_dir=data))
        print(f"{len(files)} files from {args.folder}; embedding model {library.embedder.name}")
        texts = [
            c.text
            for f in files
            for c in chunk_document(load_document(f.name, f.path.read_bytes()), "x", 512, 51)
        ]
        library.embedder.embed_passages(texts[:32])  # warm-up
        began = time.perf_counter()
        library.embedder.embed_passages(texts)
        embed_s = time.perf_counter() - began
        began = time.perf_counter()
        ingestor = Ingestor(library.settings, library.embedder, library.store)
        results = ingestor.ingest_files(files, SHARED_OWNER)
        ingest_s = time.perf_counter() - began
        chunks = sum(r.chunks for r in results)
        began = time.perf_counter()
        ingestor.ingest_files(files, SHARED_OWNER)
        again_s = time.perf_counter() - began
        library.close()
    print("| stage | chunks | seconds | chunks/s |")
    print("|---|---|---|---|")
    print(f"| embedding only (baseline) | {len(texts)} | {embed_s:.1f} | {len(texts) / embed_s:.1f} |")
    print(
        f"| full ingest (load, chunk, embed, store) | {chunks} | {ingest_s:.1f} | {chunks / ingest_s:.1f} |"
    )
    print(f"| re-ingest, all unchanged | 0 | {again_s:.1f} | - |")


if __name__ == "__main__":
    main()
