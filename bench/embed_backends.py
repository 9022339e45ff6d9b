"""Embedding backends on CPU, in one run: speed and retrieval quality of each against torch fp32.

    nice .venv/bin/python bench/embed_backends.py [--backends torch,onnx,onnx-int8]

For every backend: ingest the whole Milvus-docs corpus into a fresh Milvus Lite store (the same
code path as `python -m rag eval`: load → chunk → embed → store), report chunks/s of that ingest,
then hit@5 and MRR@5 over ../shared/eval/milvus_docs_dev.jsonl, and how far its vectors are from
the torch fp32 ones (cosine over the first 256 chunks). The first backend listed is the baseline.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from rag.chunking import chunk_document
from rag.embeddings import PACKAGED_MODEL_NAME, Embedder, packaged_minilm_path
from rag.evaluate import evaluate, read_questions
from rag.ingest import collect_files
from rag.library import Library
from rag.loaders import load_document
from rag.settings import Settings
from rag.store import VectorStore
from rag.types import SHARED_OWNER

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus" / "milvus-docs-2.4"
QUESTIONS = SHARED / "eval" / "milvus_docs_dev.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="torch,onnx,onnx-int8")
    parser.add_argument("--corpus", default=str(CORPUS))
    parser.add_argument("--questions", default=str(QUESTIONS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    files = collect_files([args.corpus])
    questions = read_questions(args.questions)
    sample = [
        c.text for f in files[:20] for c in chunk_document(load_document(f.name, f.path.read_bytes()), "x")
    ]
    sample = sample[:256]
    reference: np.ndarray | None = None
    rows = []
    for backend in args.backends.split(","):
        embedder = Embedder(packaged_minilm_path(), PACKAGED_MODEL_NAME, backend=backend)
        vectors = embedder.embed_passages(sample)
        reference = vectors if reference is None else reference
        cosine = (vectors * reference).sum(axis=1)
        with tempfile.TemporaryDirectory(prefix="rag-embed-", dir="/tmp") as data_dir:
            settings = Settings.from_env(data_dir=data_dir, embed_model="packaged", embed_backend=backend)
            library = Library(settings, embedder, VectorStore(settings, embedder.dim, embedder.name))
            began = time.perf_counter()
            results = library.ingestor.ingest_files(files, SHARED_OWNER)
            seconds = time.perf_counter() - began
            chunks = sum(r.chunks for r in results if r.status == "added")
            report = evaluate(library, questions, 5)
            library.close()
        rows.append(
            {
                "backend": backend,
                "chunks": chunks,
                "ingest_s": round(seconds, 1),
                "chunks_per_s": round(chunks / seconds, 1),
                "hit_at_5": report.hit_at_k,
                "mrr_at_5": report.mrr_at_k,
                "query_p50_ms": report.p50_ms,
                "cosine_mean": round(float(cosine.mean()), 4),
                "cosine_min": round(float(cosine.min()), 4),
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    base = rows[0]
    print(
        "| backend | chunks | ingest s | chunks/s | speed vs first | hit@5 | MRR@5 | query p50 ms "
        "| cosine mean / min |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['backend']} | {r['chunks']} | {r['ingest_s']} | {r['chunks_per_s']} | "
            f"{r['chunks_per_s'] / base['chunks_per_s']:.2f}x | {r['hit_at_5']:.3f} | {r['mrr_at_5']:.3f} | "
            f"{r['query_p50_ms']} | {r['cosine_mean']:.4f} / {r['cosine_min']:.4f} |"
        )
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
