"""Which languages an embedding model reads: declared per model family, not measured.

all-MiniLM-L6-v2 (the offline default) and bge-*-en were trained on English only: on 30 Japanese
questions over a Japanese corpus MiniLM put the right section in the top 5 for 3 (dense hit@5 0.10),
and letting it outvote the keyword leg made the hybrid default as bad. Retrieval asks
`covers(model, language)` to decide whether the dense leg may take part (rag/retrieval/library.py),
and ingestion to tell the user which documents the model can't read.

A model is multilingual when its name says so (bge-m3, multilingual-e5, paraphrase-multilingual,
LaBSE …); every other model is taken as English-only, the safe side: its Japanese questions are
searched by keywords alone, which scored 0.80 hit@5 against its hybrid 0.10.
"""

from __future__ import annotations

MULTILINGUAL_MARKERS = ("bge-m3", "multilingual", "labse", "jina-embeddings-v3")
# Models for one non-English language: the language they read, by a marker in the name
SINGLE_LANGUAGE = {"japanese": "ja", "-ja-": "ja", "ruri": "ja", "chinese": "zh", "-zh": "zh", "korean": "ko"}


def covered_languages(model: str) -> frozenset[str] | None:
    """The languages `model` reads; None when it reads (practically) all of them."""
    name = model.lower()
    if any(marker in name for marker in MULTILINGUAL_MARKERS):
        return None
    for marker, language in SINGLE_LANGUAGE.items():
        if marker in name:
            return frozenset({language, "en"})
    return frozenset({"en"})


def covers(model: str, language: str) -> bool:
    languages = covered_languages(model)
    return languages is None or language in languages
