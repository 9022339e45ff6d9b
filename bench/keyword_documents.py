"""The keyword-only path with and without document-aware ranking (rag/retrieval/documents.py), in
one run over one ingested collection, through the real `Library.retrieve`.

    RAG_DATA_DIR=/tmp/x .venv/bin/python -m rag ingest ../shared/corpus/debian-reference-ja
    RAG_DATA_DIR=/tmp/x .venv/bin/python bench/keyword_documents.py \
        ../shared/eval/debian_reference_ja_dev.jsonl /tmp/ja/probe.jsonl --modes hybrid,keyword

For each question file and mode: hit@5 and MRR@5 with the chunk ranking alone (`before`) and with
documents (`after`), the questions whose reciprocal rank went up / down, the figures after for each
half of the file (odd / even lines: a change that helps one half only is noise), and p50 retrieval
time. A file of conversations (follow-ups) gets `rag eval`'s follow-up figures instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from rag.evaluate import evaluate, percentile, read_questions, reciprocal_rank, retrieval_only
from rag.retrieval import library as lib
from rag.retrieval.library import Library
from rag.settings import Settings
from rag.types import SHARED_OWNER


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("questions", nargs="+")
    parser.add_argument("--modes", default="hybrid,keyword")
    parser.add_argument("-k", type=int, default=5)
    args = parser.parse_args()
    library = Library.open(Settings.from_env())
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


if __name__ == "__main__":
    main()
