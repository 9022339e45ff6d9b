"""Retrieval quality over a question file: hit@k, MRR@k and latency, with the questions missed.

A question is a hit when one of its gold sources is among the top k chunks; its reciprocal rank is
1/rank of the first chunk from a gold source. The pure scoring lives in `score_questions`.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

from rag.library import Library
from rag.types import SHARED_OWNER, Hit


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    gold_sources: list[str]


@dataclass(frozen=True)
class Miss:
    id: str
    question: str
    gold_sources: list[str]
    retrieved: list[str]


@dataclass(frozen=True)
class EvalReport:
    n: int
    k: int
    hit_at_k: float
    mrr_at_k: float
    p50_ms: float
    p95_ms: float
    embed_model: str
    misses: list[Miss]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=None)


def read_questions(path: str | Path) -> list[Question]:
    questions = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            questions.append(Question(raw["id"], raw["question"], list(raw["gold_sources"])))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a question object ({exc})") from exc
    return questions


def reciprocal_rank(hits: list[Hit], gold: list[str]) -> float:
    for hit in hits:
        if hit.chunk.source in gold:
            return 1.0 / hit.rank
    return 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def evaluate(library: Library, questions: list[Question], k: int, owner: str = SHARED_OWNER) -> EvalReport:
    """Ask every question against the library and score the ranked sources."""
    ranks, latencies, misses = [], [], []
    for question in questions:
        retrieval = library.retrieve(question.question, [owner], k=k)
        latencies.append(retrieval.elapsed_ms)
        rr = reciprocal_rank(retrieval.hits, question.gold_sources)
        ranks.append(rr)
        if rr == 0.0:
            sources = [hit.chunk.source for hit in retrieval.hits]
            misses.append(Miss(question.id, question.question, question.gold_sources, sources))
    n = len(questions)
    return EvalReport(
        n=n,
        k=k,
        hit_at_k=round(sum(1 for r in ranks if r > 0) / n, 4) if n else 0.0,
        mrr_at_k=round(sum(ranks) / n, 4) if n else 0.0,
        p50_ms=round(percentile(latencies, 50), 2),
        p95_ms=round(percentile(latencies, 95), 2),
        embed_model=library.embedder.name,
        misses=misses,
    )
