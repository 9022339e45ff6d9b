"""The ONNX embedding backends give the torch model's vectors (int8: nearly), from the packaged MiniLM."""

import numpy as np
import pytest

from rag.embeddings import PACKAGED_MODEL_NAME, Embedder, packaged_minilm_path
from rag.errors import EmbeddingError

TEXTS = [
    "Milvus builds an IVF_FLAT index by clustering vectors into nlist buckets.",
    "A partition key routes each entity to a partition by hashing the key.",
    "short",
]


@pytest.mark.parametrize(("backend", "closest"), [("onnx", 0.9999), ("onnx-int8", 0.97)])
def test_onnx_backends_match_torch(embedder: Embedder, backend: str, closest: float, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    onnx = Embedder(packaged_minilm_path(), PACKAGED_MODEL_NAME, backend=backend)
    assert onnx.dim == embedder.dim and backend in onnx.name
    vectors = onnx.embed_passages(TEXTS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosine = (vectors * embedder.embed_passages(TEXTS)).sum(axis=1)
    assert cosine.min() > closest, cosine
    assert (onnx.embed_query(TEXTS[0]) @ vectors.T).argmax() == 0


def test_onnx_needs_a_local_folder():
    with pytest.raises(EmbeddingError, match="RAG_EMBED_BACKEND"):
        Embedder("no/such-model", backend="onnx")
