"""Pages per second for URL ingestion from a local HTTP server (a sitemap of N Markdown pages), vs the
same files ingested from disk (the baseline) and vs fetching alone, in the same run.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/ingest_url.py [DIR] [--pages 40]

DIR defaults to the Milvus docs corpus; the stores are temporary Milvus Lite files; the server is
the tests' stdlib one on 127.0.0.1 (RAG_ALLOW_PRIVATE_URLS=127.0.0.1 for this run only).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from rag.embedding.embedder import load_embedder
from rag.ingest.crawl import crawl
from rag.ingest.pipeline import Ingestor, collect_files
from rag.ingest.urls import fetcher_for, ingest_url
from rag.retrieval.library import Library
from rag.settings import Settings
from rag.types import SHARED_OWNER
from tests.ingest.web_site import Site, serve, sitemap

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "milvus-docs-2.4"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", nargs="?", default=str(CORPUS))
    parser.add_argument("--pages", type=int, default=40, help="first N .md files (sorted)")
    args = parser.parse_args()
    files = [f for f in collect_files([args.folder]) if f.name.endswith(".md")][: args.pages]
    pages = {"/" + f.name: ("text/markdown", f.path.read_bytes()) for f in files}
    embedder = load_embedder(Settings.from_env())
    embedder.embed_passages(["warm-up"] * 8)
    rows = []
    with serve(Site(pages=pages)) as site:
        site.pages["/sitemap.xml"] = ("application/xml", sitemap([site.base + path for path in pages]))
        with tempfile.TemporaryDirectory() as data:
            settings = Settings.from_env(data_dir=data + "/disk")
            library = Library.open(settings, embedder)
            began = time.perf_counter()
            results = Ingestor(settings, embedder, library.store).ingest_files(files, SHARED_OWNER)
            rows.append(("files from disk (baseline)", results, time.perf_counter() - began))
            library.close()

            settings = Settings.from_env(data_dir=data + "/url", allow_private_urls="127.0.0.1")
            began = time.perf_counter()
            with fetcher_for(settings) as fetcher:
                fetched = list(crawl(fetcher, site.base + "/sitemap.xml", False, len(pages)))
            rows.append(("fetch only (sitemap + pages)", fetched, time.perf_counter() - began))
            library = Library.open(settings, embedder)
            began = time.perf_counter()
            results = ingest_url(
                Ingestor(settings, embedder, library.store), site.base + "/sitemap.xml", SHARED_OWNER
            )
            rows.append(("sitemap URL, whole ingest", results, time.perf_counter() - began))
            library.close()
    print(f"{len(files)} pages from {args.folder}; embedding model {embedder.name}")
    print("| run | pages | chunks | seconds | pages/s |")
    print("|---|---|---|---|---|")
    for name, done, seconds in rows:
        chunks = sum(getattr(r, "chunks", 0) for r in done)
        print(f"| {name} | {len(done)} | {chunks or '-'} | {seconds:.2f} | {len(done) / seconds:.1f} |")


if __name__ == "__main__":
    main()
