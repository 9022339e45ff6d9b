"""How the answer-support threshold (rag.review.evidence.SUPPORT_THRESHOLD) was chosen, reproducibly.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/support_threshold.py [--questions FILE] [--corpus DIR]

For every `must_contain` phrase of the dev questions (3-8 words copied from the answering passage,
i.e. what a faithful answer sentence says) it scores, the way `rag.review.checks` does (best cosine to a
sentence of the chunk, packaged MiniLM):
- supported: the phrase against the chunk of its gold document that contains it;
- unrelated: the phrase against 3 random chunks of other documents;
- same document: the phrase against another chunk of its own gold document (a hard case: on topic,
  but not the passage that says it).
It prints the distributions, a table of thresholds, and the threshold with the best balanced
accuracy (supported kept vs. wrong sources flagged, unrelated and same-document weighted equally).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from rag.embedding.embedder import load_embedder
from rag.ingest.chunking import chunk_document
from rag.ingest.loaders import load_document
from rag.review.evidence import index_hits
from rag.settings import Settings
from rag.types import Chunk, Hit

SHARED = Path(__file__).resolve().parents[2] / "shared"


def chunks_of(path: Path, name: str) -> list[Chunk]:
    return chunk_document(load_document(name, path.read_bytes()), name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", default=SHARED / "eval" / "milvus_docs_dev.jsonl")
    parser.add_argument("--corpus", default=SHARED / "corpus" / "milvus-docs-2.4")
    args = parser.parse_args()
    corpus = Path(args.corpus)
    rng = random.Random(12)
    embedder = load_embedder(Settings.from_env({}, embed_model="packaged"))
    all_files = sorted(p.relative_to(corpus).as_posix() for p in corpus.rglob("*.md"))
    cache: dict[str, list[Chunk]] = {}

    def chunks(name: str) -> list[Chunk]:
        if name not in cache:
            cache[name] = chunks_of(corpus / name, name)
        return cache[name]

    scores: dict[str, list[float]] = {"supported": [], "unrelated": [], "same document": []}
    for line in Path(args.questions).read_text().splitlines():
        item = json.loads(line)
        for phrase in item["must_contain"]:
            gold = next((g for g in item["gold_sources"] if any(phrase in c.text for c in chunks(g))), None)
            if gold is None:
                continue  # the phrase straddles two chunks
            own = [c for c in chunks(gold) if phrase in c.text]
            others = [c for c in chunks(gold) if phrase not in c.text]
            strangers = [f for f in all_files if f not in item["gold_sources"]]
            unrelated = [rng.choice(chunks(f)) for f in rng.sample(strangers, 3) if chunks(f)]
            groups = {"supported": own[:1], "unrelated": unrelated, "same document": others[:1]}
            vector = embedder.embed_passages([phrase])[0]
            for group, members in groups.items():
                for indexed in index_hits([Hit(1, 1.0, c) for c in members], embedder):
                    scores[group].append(float(np.max(indexed.vectors @ vector)))
    for group, values in scores.items():
        q = np.percentile(values, [5, 25, 50, 75, 95])
        print(
            f"{group:14s} n={len(values):3d}  p5 {q[0]:.2f}  p25 {q[1]:.2f}  median {q[2]:.2f}  "
            f"p75 {q[3]:.2f}  p95 {q[4]:.2f}"
        )
    positive, unrelated, hard = (np.array(scores[g]) for g in ("supported", "unrelated", "same document"))

    def balanced(
        t: float,
    ) -> float:  # supported kept vs. both kinds of wrong source flagged, weighted equally
        return ((positive >= t).mean() + ((unrelated < t).mean() + (hard < t).mean()) / 2) / 2

    print("threshold  supported kept  unrelated flagged  same-document flagged")
    for t in np.arange(0.25, 0.651, 0.05):
        print(
            f"{t:9.2f}  {(positive >= t).mean():14.1%}  {(unrelated < t).mean():17.1%}"
            f"  {(hard < t).mean():21.1%}"
        )
    best = max(np.arange(0.2, 0.9, 0.01), key=balanced)
    print(
        f"best balanced accuracy at {best:.2f}: supported kept {(positive >= best).mean():.1%}, unrelated "
        f"flagged {(unrelated < best).mean():.1%}, same-document flagged {(hard < best).mean():.1%}"
    )


if __name__ == "__main__":
    main()
