"""Where a query's time goes: the floor (the model's forward pass, one Milvus request) against each
step as the app runs it, and the paths it replaced, all in one run over one ingested collection.

    export RAG_DATA_DIR=/tmp/x RAG_EMBED_MODEL=packaged HF_HUB_OFFLINE=1
    .venv/bin/python -m rag ingest ../shared/corpus/milvus-docs-2.4
    .venv/bin/python bench/query.py --rounds 3

Every question of ../shared/eval/milvus_docs_dev.jsonl goes through every step in turn, round after
round (so a change in the machine's load falls on all of them alike); the first round is a warm-up.
Rows (milliseconds, wall clock; p50 and p95 over questions x rounds):

- `forward`: tokenizer + transformer, no pooling: the floor of embedding a question;
- `embed (encode)`: `SentenceTransformer.encode`, the path before issue 24; `embed`: the
  embedder's query path now (`Embedder.embed_queries`);
- `search (3 requests)`: `VectorStore.search` reading the version table before and after the
  search, as it did before issue 24 (and still does on a Milvus server); `search`: now (an
  embedded file keeps what it read until the next write: one request);
- `retrieve (before)`: `Library.retrieve` with both of the above switched back; `retrieve`: as it
  runs now;
- with `--followups`: the gate of a follow-up (its question and the joined text looked up), two
  3-request searches before against one `VectorStore.closest` now, and a follow-up's retrieve;
- with `--backends onnx,onnx-int8`: the same model run by those backends too (rag/embedding/
  onnx_encoder.py), on the same store, taking turns with the rows above: `forward [b]` (tokenizer +
  onnxruntime session, pooling included), `embed [b]` and `retrieve [b]`. The store's vectors are
  the configured backend's; the ONNX fp32 export gives the same vectors (cosine 1.0000), int8 ones
  within ~0.01, so its ranks may differ slightly.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import numpy as np

from rag.embedding.embedder import PACKAGED_MODEL_NAME, Embedder, normalise_rows, packaged_minilm_path
from rag.evaluate import read_questions
from rag.retrieval.library import Library
from rag.retrieval.query import build_query
from rag.settings import Settings
from rag.text.keywords import keyword_text
from rag.types import SHARED_OWNER
from rag.workspace.owners import visible_owners

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
Steps = dict[str, Callable[[str, tuple[str, ...]], object]]  # name -> step(question, history)


def forward(library: Library) -> Callable[[str], object]:
    """The bare transformer pass: what no query path can go below."""
    model = library.embedder.model
    if library.embedder.backend != "torch":  # OnnxEncoder: tokenizer + session (+ pooling)
        return lambda question: model._batch([question])
    import torch

    tokenizer, transformer = model.tokenizer, model[0].auto_model

    def run(question: str) -> object:
        with torch.inference_mode():
            features = tokenizer([question], truncation=True, return_tensors="pt")
            return transformer(**features).last_hidden_state

    return run


def one_thread(step: Callable[[str], object]) -> Callable[[str], object]:
    """`step` with torch on one thread (intra-op): how much the second thread helps or, on a
    loaded machine, hurts a query."""
    import torch

    def run(question: str) -> object:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return step(question)
        finally:
            torch.set_num_threads(threads)

    return run


def encode(library: Library) -> Callable[[str], np.ndarray]:
    """The query path before issue 24: `SentenceTransformer.encode`, then each row normalised."""
    embedder = library.embedder

    def run(question: str) -> np.ndarray:
        prompt = embedder.query_prompt
        return normalise_rows(embedder.model.encode([question], prompt=prompt, show_progress_bar=False))

    return run


class Switch:
    """Turns the query path back to how it was before issue 24 (encode; the version table read
    around every search) and forward again."""

    def __init__(self, library: Library) -> None:
        self.embedder, self.visibility = library.embedder, library.store.writes.visibility
        self.direct, self.cache = self.embedder._direct, self.visibility.cache

    def before(self) -> None:
        self.embedder._direct, self.visibility.cache = False, False

    def now(self) -> None:
        self.embedder._direct, self.visibility.cache = self.direct, self.cache


def steps(library: Library, mode: str, k: int) -> Steps:
    owners = visible_owners(SHARED_OWNER)
    store, switch = library.store, Switch(library)
    bare, old_embed = forward(library), encode(library)
    single = one_thread(bare)
    vectors: dict[str, np.ndarray] = {}

    def vector(question: str) -> np.ndarray:
        if question not in vectors:
            vectors[question] = library.embedder.embed_queries([question])[0]
        return vectors[question]

    def search(question: str) -> object:
        return store.search(vector(question), keyword_text(question), k, owners, mode=mode)

    def before(step: Callable[[], object]) -> object:
        switch.before()
        try:
            return step()
        finally:
            switch.now()

    return {
        "forward": lambda q, h: bare(q),
        "forward (1 torch thread)": lambda q, h: single(q),
        "embed (encode, before)": lambda q, h: old_embed(q),
        "embed": lambda q, h: library.embedder.embed_queries([q]),
        "search (3 requests, before)": lambda q, h: before(lambda: search(q)),
        "search": lambda q, h: search(q),
        "retrieve (before)": lambda q, h: before(lambda: library.retrieve(q, owners, k, mode=mode)),
        "retrieve": lambda q, h: library.retrieve(q, owners, k, mode=mode),
    }


def backend_steps(library: Library, backends: list[str], mode: str, k: int) -> Steps:
    """forward / embed / retrieve with each of `backends` on the same store."""
    owners = visible_owners(SHARED_OWNER)
    table: Steps = {}
    for backend in backends:
        embedder = Embedder(packaged_minilm_path(), PACKAGED_MODEL_NAME, backend=backend)
        other = Library(library.settings, embedder, library.store)
        bare = forward(other)
        table[f"forward [{backend}]"] = lambda q, h, bare=bare: bare(q)
        table[f"embed [{backend}]"] = lambda q, h, e=embedder: e.embed_queries([q])
        table[f"retrieve [{backend}]"] = lambda q, h, lib=other: lib.retrieve(q, owners, k, mode=mode)
    return table


def same_results(library: Library, backends: list[str], asks: list, mode: str, k: int) -> dict[str, int]:
    """For each backend, how many questions get the configured backend's ranked list (sources,
    chunks, scores to 4 decimals)."""
    owners = visible_owners(SHARED_OWNER)

    def ranked(lib: Library, question: str) -> list:
        return [
            (h.chunk.source, h.chunk.index, round(h.score, 4))
            for h in lib.retrieve(question, owners, k, mode=mode).hits
        ]

    reference = {q: ranked(library, q) for q, _ in asks}
    counts = {}
    for backend in backends:
        other = Library(
            library.settings,
            Embedder(packaged_minilm_path(), PACKAGED_MODEL_NAME, backend=backend),
            library.store,
        )
        counts[backend] = sum(ranked(other, q) == reference[q] for q, _ in asks)
    return counts


def followup_steps(library: Library, mode: str, k: int) -> Steps:
    owners = visible_owners(SHARED_OWNER)
    store, switch = library.store, Switch(library)

    def rows(question: str, history: tuple[str, ...]) -> np.ndarray:
        return library.embedder.embed_queries(build_query(question, history).texts)

    def probes_before(question: str, history: tuple[str, ...]) -> list[float]:
        switch.before()
        try:
            found = [store.search(v, "", 1, owners, mode="dense") for v in rows(question, history)]
        finally:
            switch.now()
        return [hits[0].score if hits else 0.0 for hits in found]

    return {
        "follow-up gate probes (2 x 3 requests, before)": probes_before,
        "follow-up gate probes (closest)": lambda q, h: store.closest(list(rows(q, h)), owners),
        "follow-up retrieve": lambda q, h: library.retrieve(q, owners, k, history=h, mode=mode),
    }


def measure(
    table: Steps,
    asks: list[tuple[str, tuple[str, ...]]],
    rounds: int,
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in table}
    for round_ in range(rounds + 1):
        for question, history in asks:
            for name, step in table.items():
                start = time.perf_counter()
                step(question, history)
                if round_:  # round 0 warms caches, the tokenizer and Milvus up
                    times[name].append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", default=str(EVAL / "milvus_docs_dev.jsonl"))
    parser.add_argument("--followups", default="", help="also follow-ups from this file")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mode", default="hybrid")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--backends", default="", help="also these embedding backends, e.g. onnx,onnx-int8")
    args = parser.parse_args()
    library = Library.open(Settings.from_env())
    try:
        chunks = library.store.count_chunks()
        asks = [(c.turns[0].question, ()) for c in read_questions(args.questions)]
        table = steps(library, args.mode, args.k)
        if args.backends:
            table |= backend_steps(library, args.backends.split(","), args.mode, args.k)
        times = measure(table, asks, args.rounds)
        same = (
            same_results(library, args.backends.split(","), asks, args.mode, args.k) if args.backends else {}
        )
        if args.followups:
            later = [
                (turn.question, tuple(t.question for t in c.turns[:i]))
                for c in read_questions(args.followups)
                for i, turn in enumerate(c.turns)
                if i
            ]
            times |= measure(followup_steps(library, args.mode, args.k), later, args.rounds)
    finally:
        library.close()
    report = {
        name: {"p50": statistics.median(t), "p95": float(np.percentile(t, 95)), "n": len(t)}
        for name, t in times.items()
    }
    if args.json:
        print(json.dumps({"chunks": chunks, "mode": args.mode, "rows": report}, indent=1))
        return
    print(f"{chunks} chunks, mode {args.mode}, k={args.k}, {args.rounds} rounds")
    print("| step | p50 ms | p95 ms | n |\n|---|---|---|---|")
    for name, row in report.items():
        print(f"| {name} | {row['p50']:.1f} | {row['p95']:.1f} | {row['n']} |")
    for backend, count in same.items():
        print(f"{backend}: the {library.embedder.backend} ranked list for {count} of {len(asks)} questions")


if __name__ == "__main__":
    main()
