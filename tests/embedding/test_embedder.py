import numpy as np

from rag.embedding.embedder import (
    BGE_QUERY_PROMPT,
    PACKAGED_MODEL_NAME,
    _passage_prompt,
    _query_prompt,
    normalise_rows,
)


def test_rows_are_normalised_one_by_one():
    vectors = np.array([[3.0, 4.0], [0.0, 10.0], [0.0, 0.0]])
    out = normalise_rows(vectors)
    assert np.allclose(out[0], [0.6, 0.8]) and np.allclose(out[1], [0.0, 1.0])
    assert np.allclose(out[2], [0.0, 0.0])  # a zero row stays zero instead of NaN


def test_bge_gets_its_query_instruction():
    class NoPrompts:
        def __init__(self) -> None:
            self.prompts: dict[str, str] = {}

    assert _query_prompt(NoPrompts(), "BAAI/bge-large-en-v1.5") == BGE_QUERY_PROMPT
    assert _query_prompt(NoPrompts(), "all-MiniLM-L6-v2") is None
    assert _passage_prompt(NoPrompts(), "BAAI/bge-large-en-v1.5") is None  # bge: passages as they are


def test_e5_gets_query_and_passage_prefixes_and_a_model_s_own_prompts_win():
    class Prompts:
        def __init__(self, prompts: dict[str, str]) -> None:
            self.prompts = prompts

    for ref in ("intfloat/multilingual-e5-large", "intfloat/e5-base-v2"):
        assert _query_prompt(Prompts({}), ref) == "query: "
        assert _passage_prompt(Prompts({}), ref) == "passage: "
    assert _query_prompt(Prompts({}), "BAAI/bge-m3") is None
    assert _passage_prompt(Prompts({}), "BAAI/bge-m3") is None
    own = Prompts({"query": "q> ", "document": "d> "})
    assert _query_prompt(own, "intfloat/multilingual-e5-large-instruct") == "q> "
    assert _passage_prompt(own, "intfloat/multilingual-e5-large-instruct") == "d> "


def test_packaged_model_embeds_queries_and_passages(embedder):
    assert embedder.name == PACKAGED_MODEL_NAME and embedder.dim == 384
    passages = embedder.embed_passages(["Milvus is a vector database.", "Bananas are yellow."])
    query = embedder.embed_query("Which database stores vectors?")
    assert passages.shape == (2, 384)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    assert float(passages[0] @ query) > float(passages[1] @ query)


def test_hub_probe_answers_quickly_offline(monkeypatch):
    import socket
    import time

    from rag.embedding.embedder import hub_reachable

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_reachable() is False
    monkeypatch.delenv("HF_HUB_OFFLINE")
    from tests.engine_support import free_port

    port = free_port()
    monkeypatch.setenv("HF_ENDPOINT", f"https://127.0.0.1:{port}")
    started = time.monotonic()
    assert hub_reachable(timeout_s=1.0) is False  # nothing listens there
    assert time.monotonic() - started < 2.0
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        assert hub_reachable(timeout_s=1.0) is True


QUERIES = [
    "What do the parameters for HNSW mean?",
    "How many times does its client retry a lost packet after a much longer earlier question about it?",
]


def test_direct_query_path_gives_encodes_vectors(embedder):
    """The direct forward pass (rag/embedding/embedder.py `_forward`) must give what
    `SentenceTransformer.encode` gives: same preprocessing, pooling, prompt and normalisation."""
    assert embedder._direct
    for prompt in (None, BGE_QUERY_PROMPT):
        for texts in (QUERIES[:1], QUERIES, QUERIES[::-1]):
            reference = normalise_rows(embedder.model.encode(texts, prompt=prompt, convert_to_numpy=True))
            direct = normalise_rows(embedder._forward(texts, prompt))
            assert direct.shape == reference.shape
            assert np.abs(direct - reference).max() < 1e-5


def test_queries_skip_encode(embedder, monkeypatch):
    """A question is embedded without `encode` (its per-call set-up was most of a query's time);
    passages still go through it (many texts, batched by length)."""
    expected = embedder.embed_queries(QUERIES)

    def refuse(*args, **kwargs):
        raise AssertionError("encode called for a query")

    monkeypatch.setattr(embedder.model, "encode", refuse)
    assert np.abs(embedder.embed_queries(QUERIES) - expected).max() == 0
    assert np.abs(embedder.embed_query(QUERIES[0]) - expected[0]).max() < 1e-5
