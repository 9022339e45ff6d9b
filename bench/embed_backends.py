"""Embedding backends on CPU, in one run: speed and retrieval quality of each against torch fp32.

    nice .venv/bin/python bench/embed_backends.py [--backends torch,onnx,onnx-int8]

Speed: every backend embeds the same `--speed-chunks` corpus chunks, the backends taking turns
in `--rounds` rounds, so that load from other work on the machine hits them alike; chunks/s is
the total over the rounds. Quality: for each backend in `--quality` (default: all), ingest the
whole Milvus-docs corpus into a fresh Milvus Lite store (the code path of `python -m rag eval`:
load → chunk → embed → store) and score hit@5 and MRR@5 over ../shared/eval/milvus_docs_dev.jsonl.
Also how far each backend's vectors are from the first one's (cosine over the speed sample).
The first backend listed is the baseline.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from rag.embedding.embedder import PACKAGED_MODEL_NAME, Embedder, packaged_minilm_path
from rag.evaluate import evaluate, read_questions
from rag.ingest.chunking import chunk_document
from rag.ingest.loaders import load_document
from rag.ingest.pipeline import Ingestor, collect_files
from rag.retrieval.library import Library
from rag.settings import Settings
from rag.store.vector_store import VectorStore
from rag.types import SHARED_OWNER

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus" / "milvus-docs-2.4"
QUESTIONS = SHARED / "eval" / "milvus_docs_dev.jsonl"


def quality(embedder: Embedder, files: list, questions: list) -> dict:
    """Ingest the corpus with this embedder and score the dev questions, as `rag eval` does."""
    with tempfile.TemporaryDirectory(prefix="rag-embed-", dir="/tmp") as data_dir:
        settings = Settings.from_env(
            data_dir=data_dir, embed_model="packaged", embed_backend=embedder.backend
        )
        library = Library(settings, embedder, VectorStore(settings, embedder.dim, embedder.name))
        began = time.perf_counter()
        ingestor = Ingestor(library.settings, library.embedder, library.store)
        results = ingestor.ingest_files(files, SHARED_OWNER)
        seconds = time.perf_counter() - began
        chunks = sum(r.chunks for r in results if r.status == "added")
        report = evaluate(library, questions, 5)
        library.close()
    return {
        "chunks": chunks,
        "ingest_chunks_per_s": round(chunks / seconds, 1),
        "hit_at_5": report.hit_at_k,
        "mrr_at_5": report.mrr_at_k,
        "query_p50_ms": report.p50_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="torch,onnx,onnx-int8")
    parser.add_argument("--corpus", default=str(CORPUS))
    parser.add_argument("--questions", default=str(QUESTIONS))
    parser.add_argument("--speed-chunks", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quality", default="", help="backends to run the full eval for (default: all)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    files = collect_files([args.corpus])
    questions = read_questions(args.questions)
    sample = [
        c.text for f in files[:40] for c in chunk_document(load_document(f.name, f.path.read_bytes()), "x")
    ]
    sample = sample[: args.speed_chunks]
    backends = args.backends.split(",")
    embedders = {b: Embedder(packaged_minilm_path(), PACKAGED_MODEL_NAME, backend=b) for b in backends}
    seconds = dict.fromkeys(backends, 0.0)
    vectors = {b: e.embed_passages(sample[:32]) for b, e in embedders.items()}  # warm-up
    for _ in range(args.rounds):
        for backend, embedder in embedders.items():
            began = time.perf_counter()
            vectors[backend] = embedder.embed_passages(sample)
            seconds[backend] += time.perf_counter() - began
    reference = vectors[backends[0]]
    rows = []
    for backend in backends:
        cosine = (vectors[backend] * reference).sum(axis=1)
        row = {
            "backend": backend,
            "chunks_per_s": round(len(sample) * args.rounds / seconds[backend], 1),
            "cosine_mean": round(float(cosine.mean()), 4),
            "cosine_min": round(float(cosine.min()), 4),
        }
        if backend in (args.quality.split(",") if args.quality else backends):
            row.update(quality(embedders[backend], files, questions))
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    base = rows[0]
    print(
        "| backend | chunks/s (same chunks, taking turns) | speed vs first | cosine to first, mean / min "
        "| corpus chunks | ingest chunks/s | hit@5 | MRR@5 | query p50 ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['backend']} | {r['chunks_per_s']} | {r['chunks_per_s'] / base['chunks_per_s']:.2f}x | "
            f"{r['cosine_mean']:.4f} / {r['cosine_min']:.4f} | {r.get('chunks', '-')} | "
            f"{r.get('ingest_chunks_per_s', '-')} | {r.get('hit_at_5', '-')} | {r.get('mrr_at_5', '-')} | "
            f"{r.get('query_p50_ms', '-')} |"
        )
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
