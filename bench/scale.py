"""The store at scale: N chunks over W workspaces, written and searched through `rag.store.vector_store`.

    nice .venv/bin/python bench/scale.py --chunks 100000 --workspaces 1000 [--json]
    RAG_MILVUS_URI=http://127.0.0.1:19530 nice .venv/bin/python bench/scale.py --chunks 1000000 ...

Vectors look like real data: packaged-MiniLM vectors of real corpus chunks (computed once and
cached under /tmp), each stored row a copy of one of them plus a small random perturbation
(renormalised), with a fresh text id. The store holds 10,000 documents (N/10,000 chunks each),
spread round-robin over W owners ("workspaces").

Reported: insert rate (bulk `add_documents`), index build time (`rebuild_index` after loading: the
size rule of rag/store/index_plans.py), top-5 search latency p50/p95 with and without an owner filter,
recall@5 of both against an exact search (numpy over the same vectors), listing one owner's
documents, and the memory of this process plus Milvus Lite's. Baseline in the same run: the same
queries on a FLAT index (exact) of the same collection. `--nprobe 8,16,32` also measures an IVF
index at other `nprobe` values (the curve README's "Index by size" was chosen from), and
`--candidates 50,200` the same index asked for a fixed number of candidates whatever the filter keeps
(the rule before issue 24; the default rows use `index_plans.candidates_for`). Listing is timed cold
(the first, in this process), warm (median of 5), and the old way in the same run: every listed field
of every live version read (`listing_all_fields_ms`).

Retrieval modes live in RETRIEVERS; `dense` is the only one today (hybrid adds an entry).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from rag.settings import Settings
from rag.store import index_plans, rows
from rag.store.schema import DOC_FIELDS, drop_collection
from rag.store.search import FULL_HITS_MAX, SLIM_FIELDS
from rag.store.vector_store import NewDocument, VectorStore
from rag.types import Chunk, Hit

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "milvus-docs-2.4"
CACHE = Path(tempfile.gettempdir()) / "rag-scale-cache"
DIM = 384
BLOCK_ROWS = 10_000
K = 5
SEED = 13

Retriever = Callable[[VectorStore, np.ndarray, str, int, Sequence[str] | None], list[Hit]]
RETRIEVERS: dict[str, Retriever] = {
    "dense": lambda store, vector, text, k, owners: store.search(vector, text, k, owners, mode="dense"),
    "hybrid": lambda store, vector, text, k, owners: store.search(vector, text, k, owners, mode="hybrid"),
}


@dataclass
class Result:
    label: str
    index: str
    chunks: int
    workspaces: int
    search_p50_ms: float
    search_p95_ms: float
    filtered_p50_ms: float
    filtered_p95_ms: float
    filter_cost: float
    recall_at_5: float
    filtered_recall_at_5: float


# -- data --------------------------------------------------------------------------------------


def base_vectors(n: int) -> tuple[np.ndarray, list[str]]:
    """MiniLM vectors of the first `n` chunks of the corpus (cached: embedding them takes minutes)."""
    path = CACHE / f"minilm-{n}.npz"
    if path.exists():
        data = np.load(path)
        return data["vectors"], [str(t) for t in data["texts"]]
    from rag.embedding.embedder import PACKAGED_MODEL_NAME, Embedder, packaged_minilm_path
    from rag.ingest.chunking import chunk_document
    from rag.ingest.loaders import load_document
    from rag.ingest.pipeline import collect_files

    texts: list[str] = []
    for file in collect_files([CORPUS]):
        try:
            document = load_document(file.name, file.path.read_bytes())
        except Exception:  # a file the loaders refuse is simply not part of the sample
            continue
        texts.extend(c.text for c in chunk_document(document, "x", 512, 51))
        if len(texts) >= n:
            break
    texts = texts[:n]
    print(f"embedding {len(texts)} corpus chunks once (cached in {path})", file=sys.stderr)
    vectors = Embedder(packaged_minilm_path(), PACKAGED_MODEL_NAME).embed_passages(texts)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, vectors=vectors.astype(np.float32), texts=np.array(texts))
    return vectors.astype(np.float32), texts


def perturbed(
    base: np.ndarray, rng: np.random.Generator, rows: int, noise: float
) -> tuple[np.ndarray, np.ndarray]:
    """`rows` copies of random base vectors plus Gaussian noise of norm ≈ `noise`, unit length."""
    which = rng.integers(0, len(base), size=rows)
    vectors = base[which] + rng.standard_normal((rows, DIM), dtype=np.float32) * (noise / np.sqrt(DIM))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32), which


@dataclass(frozen=True)
class Layout:
    """Rows 0..N-1 in documents of `per_doc` consecutive rows; document d belongs to owner d % W."""

    chunks: int
    docs: int
    workspaces: int

    @property
    def per_doc(self) -> int:
        return self.chunks // self.docs

    def owner(self, doc: int) -> str:
        return f"ws{doc % self.workspaces:04d}"

    def row(self, hit: Hit) -> int:
        return int(hit.chunk.doc_id[1:]) * self.per_doc + hit.chunk.index

    def blocks(self) -> Iterator[tuple[int, int]]:
        """(first doc, doc count) groups of about BLOCK_ROWS rows; vectors are generated per block."""
        per_block = max(1, BLOCK_ROWS // self.per_doc)
        for first in range(0, self.docs, per_block):
            yield first, min(per_block, self.docs - first)


def block_vectors(base: np.ndarray, layout: Layout, first_doc: int, n_docs: int, noise: float):
    rng = np.random.default_rng([SEED, first_doc])
    return perturbed(base, rng, n_docs * layout.per_doc, noise)


# -- phases ------------------------------------------------------------------------------------


def load(store: VectorStore, base: np.ndarray, texts: list[str], layout: Layout, noise: float) -> float:
    """Write every row through `add_documents`; returns the seconds spent in the store."""
    spent = 0.0
    for first, count in layout.blocks():
        vectors, which = block_vectors(base, layout, first, count, noise)
        documents = []
        for d in range(first, first + count):
            offset = (d - first) * layout.per_doc
            chunks = [
                Chunk(f"d{d:07d}", f"doc{d}.txt", 0, i, f"[{d}.{i}] {texts[which[offset + i]][:200]}")
                for i in range(layout.per_doc)
            ]
            rows = vectors[offset : offset + layout.per_doc]
            documents.append(NewDocument(chunks, rows, layout.owner(d), f"h{d}", 1))
        began = time.perf_counter()
        store.add_documents(documents)
        spent += time.perf_counter() - began
    return spent


def exact_top5(
    base: np.ndarray, layout: Layout, noise: float, queries: np.ndarray, owners: list[str]
) -> tuple[list[set[int]], list[set[int]]]:
    """The true top-5 rows of each query, unfiltered and within the query's owner (numpy, exact)."""
    q = len(queries)
    best = [np.full((q, K), -2.0, dtype=np.float32), np.full((q, K), -2.0, dtype=np.float32)]
    ids = [np.zeros((q, K), dtype=np.int64), np.zeros((q, K), dtype=np.int64)]
    owner_index = np.array([int(o[2:]) for o in owners])
    for first, count in layout.blocks():
        vectors, _ = block_vectors(base, layout, first, count, noise)
        scores = queries @ vectors.T
        rows = np.arange(first * layout.per_doc, (first + count) * layout.per_doc)
        row_owner = (rows // layout.per_doc) % layout.workspaces
        masked = np.where(row_owner[None, :] == owner_index[:, None], scores, -2.0)
        for j, block_scores in enumerate((scores, masked)):
            merged = np.concatenate([best[j], block_scores], axis=1)
            merged_ids = np.concatenate([ids[j], np.broadcast_to(rows, (q, len(rows)))], axis=1)
            top = np.argpartition(-merged, K - 1, axis=1)[:, :K]
            best[j] = np.take_along_axis(merged, top, axis=1)
            ids[j] = np.take_along_axis(merged_ids, top, axis=1)
    return [set(r.tolist()) for r in ids[0]], [set(r.tolist()) for r in ids[1]]


def measure(
    store: VectorStore,
    retrieve: Retriever,
    layout: Layout,
    queries: np.ndarray,
    texts: list[str],
    owners: list[str],
    truth: tuple[list[set[int]], list[set[int]]],
    label: str,
) -> Result:
    for v, t in zip(queries[:10], texts[:10], strict=True):  # warm-up
        retrieve(store, v, t, K, None)
    plain, filtered, recall, filtered_recall = [], [], [], []
    for i, (v, t) in enumerate(zip(queries, texts, strict=True)):
        began = time.perf_counter()
        hits = retrieve(store, v, t, K, None)
        plain.append((time.perf_counter() - began) * 1000)
        recall.append(len({layout.row(h) for h in hits} & truth[0][i]) / K)
        began = time.perf_counter()
        hits = retrieve(store, v, t, K, [owners[i]])
        filtered.append((time.perf_counter() - began) * 1000)
        filtered_recall.append(len({layout.row(h) for h in hits} & truth[1][i]) / K)
    p50, p50f = statistics.median(plain), statistics.median(filtered)
    return Result(
        label=label,
        index=store.plan.describe(),
        chunks=layout.chunks,
        workspaces=layout.workspaces,
        search_p50_ms=round(p50, 2),
        search_p95_ms=round(_p95(plain), 2),
        filtered_p50_ms=round(p50f, 2),
        filtered_p95_ms=round(_p95(filtered), 2),
        filter_cost=round(p50f / p50, 2),
        recall_at_5=round(statistics.fmean(recall), 4),
        filtered_recall_at_5=round(statistics.fmean(filtered_recall), 4),
    )


def listing_ms(list_owner: Callable[[], list], owner: str, expected: int, runs: int = 5) -> tuple[float, ...]:
    """The first listing's time and the median of the next `runs` (ms)."""
    times = []
    for _ in range(runs + 1):
        began = time.perf_counter()
        documents = list_owner()
        times.append((time.perf_counter() - began) * 1000)
        if len(documents) != expected:
            raise SystemExit(f"listing {owner} gave {len(documents)} documents, expected {expected}")
    return round(times[0], 1), round(statistics.median(times[1:]), 1)


def listing_all_fields(store: VectorStore, owner: str) -> list:
    """The listing as it was read before issue 24: every listed field of every live version."""
    flt = f'{rows.is_in("owner", [owner])} and state == "live"'
    found = rows.query_all(store.client, store.versions, flt, DOC_FIELDS)
    return sorted(rows.newest(found).values(), key=lambda d: (d.owner, d.source))


def rss_mb(pids: Sequence[int]) -> float:
    """Resident memory of these processes and their children (Milvus Lite runs a child process)."""
    total = 0
    seen = set()
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")))
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            todo.extend(int(c) for c in children)
        except (OSError, StopIteration):
            continue
    return round(total / 1024, 1)


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[94]


# -- main --------------------------------------------------------------------------------------


def measure_fields_before(store: VectorStore, *args) -> Result:
    """`measure` with the search reading its candidates' fields as it did before: the slim fields
    with every candidate, then the k kept by a query on their primary keys."""
    searcher = store.searcher
    fields, read = searcher._fields, searcher._read_by_search
    searcher._fields = lambda depth: rows.HIT_FIELDS if depth <= FULL_HITS_MAX else SLIM_FIELDS
    searcher._read_by_search = lambda ids, vector: []  # every id then goes to the query, as before
    try:
        return measure(store, *args, "fields as before")
    finally:
        searcher._fields, searcher._read_by_search = fields, read


@contextlib.contextmanager
def kept_or_temporary(folder: str) -> Iterator[str]:
    """`folder` (made if missing) when given, else a temporary folder removed after."""
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="rag-scale-", dir="/tmp") as data_dir:
        yield data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, required=True)
    parser.add_argument("--workspaces", type=int, default=1)
    parser.add_argument("--docs", type=int, default=10_000, help="documents in the store")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--base", type=int, default=2000, help="distinct real corpus vectors")
    parser.add_argument("--noise", type=float, default=0.3, help="norm of the perturbation")
    parser.add_argument("--retrieval", choices=sorted(RETRIEVERS), default="dense")
    parser.add_argument("--index", default="", help="force an index type (default: the size rule)")
    parser.add_argument("--nprobe", default="", help="also measure IVF at these nprobe values: 8,16,32")
    parser.add_argument("--candidates", default="", help="also measure fixed candidate counts: 50,200")
    parser.add_argument("--no-baseline", action="store_true", help="skip the FLAT baseline")
    parser.add_argument(
        "--owner-in", action="store_true", help="also the owner filter as `owner in [x]` (before 2026-12-06)"
    )
    parser.add_argument(
        "--fields-before",
        action="store_true",
        help="also read the candidates' fields as before: slim fields with every hit, the k by a query",
    )
    parser.add_argument("--server-pid", type=int, action="append", default=[], help="count its memory")
    parser.add_argument(
        "--keep", default="", help="keep the store here; a run finding it loaded just measures (no baseline)"
    )
    parser.add_argument("--json", action="store_true", help="also print one JSON object")
    args = parser.parse_args()

    docs = min(args.docs, args.chunks)
    if args.chunks % docs:
        raise SystemExit(f"--chunks must be a multiple of the {docs} documents")
    layout = Layout(args.chunks, docs, args.workspaces)
    base, base_texts = base_vectors(args.base)
    rng = np.random.default_rng([SEED, 10**9])
    queries, which = perturbed(base, rng, args.queries, args.noise)
    query_texts = [base_texts[i] for i in which]
    owners = [layout.owner(int(d)) for d in rng.integers(0, docs, size=args.queries)]
    retrieve = RETRIEVERS[args.retrieval]

    with kept_or_temporary(args.keep) as data_dir:
        settings = Settings.from_env(
            data_dir=data_dir, collection=f"scale_{args.chunks}_{args.workspaces}", index_type=args.index
        )
        if not args.keep:
            drop_collection(settings)
        store = VectorStore(settings, DIM, "minilm (bench)")
        where = settings.store.milvus_target if not settings.store.uses_milvus_lite else "Milvus Lite file"
        print(
            f"{args.chunks} chunks, {docs} documents, {args.workspaces} workspaces on {where}",
            file=sys.stderr,
        )
        insert_s = index_s = 0.0
        if store.count_chunks() != args.chunks:  # a kept store that is loaded is measured as it is
            drop_collection(settings)
            store = VectorStore(settings, DIM, "minilm (bench)")
            insert_s = load(store, base, base_texts, layout, args.noise)
            began = time.perf_counter()
            store.rebuild_index()
            index_s = time.perf_counter() - began
        print(
            f"loaded in {insert_s:.0f} s; index {store.plan.describe()} in {index_s:.1f} s", file=sys.stderr
        )
        truth = exact_top5(base, layout, args.noise, queries, owners)
        results = [measure(store, retrieve, layout, queries, query_texts, owners, truth, args.retrieval)]
        for nprobe in [int(x) for x in args.nprobe.split(",") if x]:
            if store.plan.index_type == "IVF_FLAT":
                store.plan = replace(store.plan, search_params={"nprobe": nprobe})
                results.append(measure(store, retrieve, layout, queries, query_texts, owners, truth, "sweep"))
        for fixed in [int(x) for x in args.candidates.split(",") if x]:
            if store.plan.candidates:
                rule, index_plans.CANDIDATE_SHARE = index_plans.CANDIDATE_SHARE, 0.0
                store.plan = replace(store.plan, candidates=fixed)
                label = f"fixed top {fixed}"
                results.append(measure(store, retrieve, layout, queries, query_texts, owners, truth, label))
                index_plans.CANDIDATE_SHARE = rule
        if args.owner_in:  # the one-owner filter as it was written before `rows.is_in` used `==`
            one_value_eq = rows.is_in
            rows.is_in = lambda field, values: f"{field} in {json.dumps(list(values))}"
            label = "owner in [x]"
            results.append(measure(store, retrieve, layout, queries, query_texts, owners, truth, label))
            rows.is_in = one_value_eq
        if args.fields_before:  # the candidates' fields as they were read before 2026-12-06 (second round)
            results.append(
                measure_fields_before(store, retrieve, layout, queries, query_texts, owners, truth)
            )
        owner, listed = layout.owner(0), docs // args.workspaces + (docs % args.workspaces > 0)
        list_cold, list_ms = listing_ms(lambda: store.list_documents([owner]), owner, listed)
        _, list_old_ms = listing_ms(lambda: listing_all_fields(store, owner), owner, listed)
        memory = rss_mb([os.getpid(), *args.server_pid])
        if not (args.no_baseline or args.keep) and store.plan.index_type != "FLAT":
            store.index.forced = "FLAT"
            store.rebuild_index(force=True)
            results.append(measure(store, retrieve, layout, queries, query_texts, owners, truth, "baseline"))
        store.close()
        if not args.keep:
            drop_collection(settings)

    summary = {
        "chunks": args.chunks,
        "documents": docs,
        "workspaces": args.workspaces,
        "milvus": "server" if not settings.store.uses_milvus_lite else "lite",
        "retrieval": args.retrieval,
        "insert_rows_per_s": round(args.chunks / insert_s) if insert_s else None,
        "index_build_s": round(index_s, 1),
        "list_one_owner_ms": list_ms,
        "list_one_owner_first_ms": list_cold,
        "listing_all_fields_ms": list_old_ms,
        "owner_documents": docs // args.workspaces,
        "rss_mb": memory,
        "results": [asdict(r) for r in results],
    }
    print(
        f"insert {summary['insert_rows_per_s']} rows/s; index build {index_s:.1f} s; listing one owner "
        f"({summary['owner_documents']} of {docs} documents) {list_ms} ms (first {list_cold} ms; all "
        f"fields read as before: {list_old_ms} ms); RSS {memory} MB"
    )
    print(
        "| run | index | search p50 / p95 ms | owner-filtered p50 / p95 ms | filter cost | recall@5 "
        "| filtered recall@5 |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.label} | {r.index} | {r.search_p50_ms} / {r.search_p95_ms} | {r.filtered_p50_ms} / "
            f"{r.filtered_p95_ms} | {r.filter_cost}x | {r.recall_at_5:.3f} | {r.filtered_recall_at_5:.3f} |"
        )
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
