"""The ONNX embedding backends give the torch model's vectors (int8: nearly), from the packaged MiniLM."""

import os
from pathlib import Path

import numpy as np
import pytest

from rag.embedding.embedder import PACKAGED_MODEL_NAME, Embedder, packaged_minilm_path
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


def _fake_torch_export(calls: list[str], barrier=None):
    """Stands in for `torch.onnx.export`: writes a payload of its own in two halves (meeting the
    other thread in between, when there is one) to the path it is given."""

    def export(module, args, path, **_):
        payload = f"model-{len(calls)}".encode().ljust(64, b".")
        calls.append(path)
        with open(path, "wb") as out:
            out.write(payload[:32])
            out.flush()
            if barrier is not None:
                barrier.wait(timeout=30)
            out.write(payload[32:])

    return export


def test_onnx_cache_follows_the_model_files_not_the_folder(tmp_path, monkeypatch):
    """A model replaced in place (same folder, other files) is exported again, not served from the
    cache of the old one (issue 19, point 16)."""
    import shutil

    import torch

    from rag.embedding.onnx_encoder import export

    model = tmp_path / "model"
    shutil.copytree(packaged_minilm_path(), model, copy_function=os.link)  # hard links: no copy
    calls: list[str] = []
    monkeypatch.setattr(torch.onnx, "export", _fake_torch_export(calls))
    first = export(model, "onnx", tmp_path / "cache")
    assert export(model, "onnx", tmp_path / "cache") == first and len(calls) == 1  # cached
    config = model / "config.json"
    text = config.read_text()
    config.unlink()  # a new file, not a write through the hard link into the packaged model
    config.write_text(text + "\n")
    second = export(model, "onnx", tmp_path / "cache")
    assert len(calls) == 2 and second != first


def test_two_first_exports_at_once_leave_one_whole_file(tmp_path, monkeypatch):
    """Two processes (here threads) starting together both export; neither writes into the other's
    temporary file, and the cache ends with one complete file and no leftovers (issue 19, point 16)."""
    import threading

    import torch

    from rag.embedding.onnx_encoder import export

    calls: list[str] = []
    monkeypatch.setattr(torch.onnx, "export", _fake_torch_export(calls, threading.Barrier(2)))
    results: list[object] = []

    def run() -> None:
        try:
            results.append(export(Path(packaged_minilm_path()), "onnx", tmp_path / "cache"))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 2 and all(isinstance(r, Path) for r in results), results
    assert len(set(calls)) == 2  # each wrote its own temporary file
    final = results[0]
    assert final.read_bytes() in {f"model-{i}".encode().ljust(64, b".") for i in range(2)}
    assert [p.name for p in final.parent.iterdir()] == ["model.onnx"]
