"""The keyword-only path with and without document-aware ranking (rag/retrieval/documents.py), in
one run over one ingested collection, through the real `Library.retrieve`.

    RAG_DATA_DIR=/tmp/x .venv/bin/python -m rag ingest ../shared/corpus/debian-reference-ja
    RAG_DATA_DIR=/tmp/x .venv/bin/python bench/keyword_documents.py \
        ../shared/eval/debian_reference_ja_dev.jsonl /tmp/ja/probe.jsonl --modes hybrid,keyword

For each question file and mode: hit@5 and MRR@5 with the chunk ranking alone (`before`) and with
documents (`after`), the questions whose reciprocal rank went up / down, the figures after for each
half of the file (odd / even lines: a change that helps one half only is noise), and p50 retrieval
time. A file of conversations (follow-ups) gets `rag eval`'s follow-up figures instead.

With `--cost`: the keyword path's time with each candidate document's counted words kept by version
(rag/retrieval/document_words.py) and the version table's answers kept between writes
(rag/store/version_answers.py) against the path before them (every candidate document's live
version and keyword text read, and its text scanned, for every question, a27d538: `_before`),
question by question in turn, in two rounds: the first fills the cache, the second finds it
filled. Each question's top k (chunks, ranks and scores) must be the same both ways; the row says
how many were.

    RAG_DATA_DIR=/tmp/x nice -n 10 .venv/bin/python bench/keyword_documents.py /tmp/j/probe.jsonl --cost
"""

from __future__ import annotations

import argparse
import re
import sys
import types
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from rag.evaluate import evaluate, percentile, read_questions, reciprocal_rank, retrieval_only
from rag.retrieval import library as lib
from rag.retrieval.document_words import DocumentWordsCache
from rag.retrieval.documents import K1, B, WordWeights, rank_with_documents, weighed_words, words
from rag.retrieval.library import Library
from rag.settings import Settings
from rag.store import rows as r
from rag.store.listings import DOCUMENT_ROWS_MAX
from rag.store.search import CANDIDATES_PER_K
from rag.store.vector_store import VectorStore
from rag.types import SHARED_OWNER, Hit
from rag.workspace.owners import visible_owners


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("questions", nargs="+")
    parser.add_argument("--modes", default="hybrid,keyword")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--cost", action="store_true", help="time the kept words against reading")
    args = parser.parse_args()
    library = Library.open(Settings.from_env())
    if args.cost:
        try:
            _costs(library, args.questions, args.k)
        finally:
            library.close()
        return
    print("| questions | mode | before hit@k | before MRR@k | after hit@k | after MRR@k | better / worse "
          "| halves after (odd; even) | p50 before / after |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    try:
        for path in args.questions:
            conversations = read_questions(path)
            for mode in args.modes.split(","):
                runs = {}
                for ranking in (False, True):
                    lib.DOCUMENT_RANKING = ranking
                    runs[ranking] = _run(library, conversations, args.k, mode)
                print(_row(Path(path).name, mode, runs[False], runs[True]), flush=True)
    finally:
        lib.DOCUMENT_RANKING = True
        library.close()


def _run(library: Library, conversations: list, k: int, mode: str) -> tuple[list[float], list[float]]:
    """Each single question's reciprocal rank and retrieval time; for conversations, the follow-up
    turns' hit and MRR (as `rag eval` reports them) and no times."""
    if any(len(c.turns) > 1 for c in conversations):
        report = evaluate(library, conversations, k, modes=[mode]).modes[mode]
        return [report.followup_hit_at_k, report.followup_mrr_at_k], []
    ask = retrieval_only(library, SHARED_OWNER, k)
    ranks, times = [], []
    for conversation in conversations:
        turn = conversation.turns[0]
        asked = ask(turn.question, [], mode)
        ranks.append(reciprocal_rank(asked.hits, turn.gold_sources))
        times.append(asked.elapsed_ms)
    return ranks, times


def _row(name: str, mode: str, before: tuple, after: tuple) -> str:
    (b, b_ms), (a, a_ms) = before, after
    if not a_ms:  # follow-ups: hit and MRR only
        return f"| {name} (follow-ups) | {mode} | {b[0]:.3f} | {b[1]:.3f} | {a[0]:.3f} | {a[1]:.3f} | | | |"
    better = sum(x > y for x, y in zip(a, b, strict=True))
    worse = sum(x < y for x, y in zip(a, b, strict=True))
    halves = "; ".join(f"{_hit(a[i::2]):.3f} / {_mrr(a[i::2]):.3f}" for i in (0, 1))
    p50 = f"{percentile(b_ms, 50):.1f} / {percentile(a_ms, 50):.1f} ms"
    return (
        f"| {name} | {mode} | {_hit(b):.3f} | {_mrr(b):.3f} | {_hit(a):.3f} | {_mrr(a):.3f} | "
        f"{better} / {worse} | {halves} | {p50} |"
    )


def _hit(ranks: list[float]) -> float:
    return sum(1 for r in ranks if r) / len(ranks)


def _mrr(ranks: list[float]) -> float:
    return sum(ranks) / len(ranks)


def _costs(library: Library, paths: list[str], k: int) -> None:
    print("| questions | round | p50 / p90 before | p50 / p90 after | same top k | words kept |")
    print("|---|---|---|---|---|---|")
    owners = visible_owners(SHARED_OWNER)
    for path in paths:
        questions = [c.turns[0].question for c in read_questions(path)]
        library.document_words = DocumentWordsCache()
        for name in ("1 (filling)", "2 (filled)"):
            times: dict[str, list[float]] = {"before": [], "after": []}
            same = 0
            for question in questions:
                found = {}
                for way in ("before", "after"):
                    if way == "before":
                        library._keyword_by_document = types.MethodType(_before, library)
                    else:
                        del library._keyword_by_document
                    asked = library.retrieve(question, owners, k, mode="keyword")
                    times[way].append(asked.elapsed_ms)
                    found[way] = [(h.chunk.doc_id, h.chunk.index, h.rank, h.score) for h in asked.hits]
                same += found["before"] == found["after"]
            b, a = times["before"], times["after"]
            print(
                f"| {Path(path).name} ({len(questions)}) | {name} | {percentile(b, 50):.1f} / "
                f"{percentile(b, 90):.1f} ms | {percentile(a, 50):.1f} / {percentile(a, 90):.1f} ms | "
                f"{same} / {len(questions)} | {library.document_words.words:,} |",
                flush=True,
            )


def _before(self: Library, keywords: str, k: int, owners: Sequence[str], doc_ids: list[str]) -> list[Hit]:
    """`Library._keyword_by_document` as it was (a27d538): every candidate document's whole keyword
    text read and scanned for every question."""
    depth = CANDIDATES_PER_K * k
    hits = self.store.search(None, keywords, depth, owners, doc_ids, mode="keyword")
    if not hits:
        return []
    documents = _read_texts(self.store, [hit.chunk.doc_id for hit in hits], owners)
    found = self.store.documents_per_word(sorted(set(words(keywords))), owners, depth)
    flt = (r.is_in("owner", owners) + " and " if owners else "") + 'state == "live"'
    weights = WordWeights(found, r.count(self.store.client, self.store.versions, flt))  # asked each time
    return rank_with_documents(hits, scanned_scores(keywords, documents, weights))[:k]


def _read_texts(store: VectorStore, doc_ids: list[str], owners: Sequence[str]) -> dict[str, list[str]]:
    """`Listings.keyword_texts` as it was (a27d538): the live versions, then their text, both
    queried every time."""
    versions = r.newest(store.writes.live_rows(doc_ids))
    chosen, total = [], 0
    for doc_id in dict.fromkeys(doc_ids):
        doc = versions.get(doc_id)
        if doc and doc.owner in owners and total + doc.chunks <= DOCUMENT_ROWS_MAX:
            chosen.append(doc)
            total += doc.chunks
    return store.version_keyword_texts(chosen)


def scanned_scores(
    query: str, documents: Mapping[str, Sequence[str]], weights: WordWeights
) -> dict[str, float]:
    """`documents.document_scores` as it was (a27d538): the query's words found in each whole text
    (tests/retrieval/test_documents.py checks the counted words score the same)."""
    wanted = weighed_words(query, weights)
    if not documents:
        return {}
    if not wanted:
        return dict.fromkeys(documents, 0.0)
    pattern = re.compile(
        r"(?<!\w)(?:" + "|".join(map(re.escape, sorted(wanted, key=len, reverse=True))) + r")(?!\w)"
    )
    texts = {doc_id: " ".join(chunks).lower() for doc_id, chunks in documents.items()}
    lengths = {doc_id: len(re.findall(r"\w+", text)) for doc_id, text in texts.items()}
    average = sum(lengths.values()) / len(lengths) or 1.0
    scores = {}
    for doc_id, text in texts.items():
        counts = Counter(pattern.findall(text))
        norm = K1 * (1 - B + B * lengths[doc_id] / average)
        scores[doc_id] = sum(wanted[w] * f * (K1 + 1) / (f + norm) for w, f in counts.items())
    return scores


if __name__ == "__main__":
    main()
