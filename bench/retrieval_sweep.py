"""Retrieval settings swept over one ingested collection, through the real `Library.retrieve`.

    RAG_DATA_DIR=/tmp/x .venv/bin/python bench/retrieval_sweep.py '[{"CANDIDATES_PER_K": 2}, {}]'

Each JSON object overrides module constants of rag/store/search.py or rag/retrieval/query.py
(e.g. RRF_K, CANDIDATES_PER_K, VAGUE, CONFIDENT, GAIN_NONE, GAIN_FULL) for one line of output; `{}` is
the code as it stands. The collection must already hold the corpus (`python -m rag ingest`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from rag.evaluate import evaluate, read_questions
from rag.retrieval import query
from rag.retrieval.library import Library
from rag.settings import Settings
from rag.store import search as store

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"


def main() -> None:
    variants = json.loads(sys.argv[1]) if len(sys.argv) > 1 else [{}]
    mode = sys.argv[2] if len(sys.argv) > 2 else "hybrid"
    library = Library.open(Settings.from_env())
    single = read_questions(EVAL / "milvus_docs_dev.jsonl")
    followups = read_questions(EVAL / "milvus_docs_followups_dev.jsonl")
    defaults = {
        name: getattr(module, name) for module in (store, query) for name in dir(module) if name.isupper()
    }
    print("| overrides | hit@5 | MRR@5 | after unrelated hit@5 | follow-ups hit@5 | follow-ups MRR@5 |")
    print("|---|---|---|---|---|---|")
    for overrides in variants:
        given = {name: tuple(v) if isinstance(v, list) else v for name, v in overrides.items()}
        for name, value in {**defaults, **given}.items():
            setattr(store if hasattr(store, name) else query, name, value)
        a = evaluate(library, single, 5, modes=[mode], unrelated_history=True).modes[mode]
        b = evaluate(library, followups, 5, modes=[mode]).modes[mode]
        print(
            f"| `{json.dumps(overrides)}` | {a.hit_at_k:.3f} | {a.mrr_at_k:.3f} | "
            f"{a.distracted_hit_at_k:.3f} | {b.followup_hit_at_k:.3f} | {b.followup_mrr_at_k:.3f} |",
            flush=True,
        )
    library.close()


if __name__ == "__main__":
    main()
