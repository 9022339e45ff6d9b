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


def test_tokenizer_matches_transformers():
    """`load_tokenizer` (the `tokenizers` library alone) gives the ids and masks AutoTokenizer
    gives with padding to the longest and truncation at max_seq_length (256 for MiniLM; its
    tokenizer.json says 128 and pads to a fixed 128, which must not leak through)."""
    from transformers import AutoTokenizer

    from rag.embedding.onnx_encoder import load_tokenizer

    model = Path(packaged_minilm_path())
    texts = [*TEXTS, "Ünïcode ﬁne-tuning, 日本語 and 😀 " * 3, "long " * 400]
    reference = AutoTokenizer.from_pretrained(str(model))(
        texts, padding=True, truncation=True, max_length=256, return_tensors="np"
    )
    encodings = load_tokenizer(model, 256).encode_batch(texts)
    for field, attribute in [
        ("input_ids", "ids"),
        ("attention_mask", "attention_mask"),
        ("token_type_ids", "type_ids"),
    ]:
        assert np.array_equal(np.array([getattr(e, attribute) for e in encodings]), reference[field]), field


@pytest.mark.parametrize(
    "settings",
    [
        {"RAG_EMBED_BACKEND": "onnx", "RAG_EMBED_MODEL": "packaged"},
        {},  # the offline defaults: no bge in the cache, so the packaged MiniLM on `auto` (no CUDA here)
    ],
)
def test_onnx_search_imports_no_torch(tmp_path, monkeypatch, settings):
    """`rag ingest` and `rag search` with RAG_EMBED_BACKEND=onnx, and with the offline defaults (the
    export cached), load neither torch, transformers nor sentence-transformers: they cost ~35 s of
    a cold start (issue 24)."""
    import json
    import subprocess
    import sys

    from rag.embedding.onnx_encoder import cache_root, export

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    export(Path(packaged_minilm_path()), "onnx", cache_root())  # the one-time export (torch)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_EMBED_")}
    env |= {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), **settings}
    env["RAG_DATA_DIR"] = str(tmp_path / "data")
    doc = tmp_path / "hnsw.md"
    doc.write_text("# HNSW\n\nM limits the maximum degree of nodes in each layer of the graph.\n")
    script = (
        "import json, sys\nfrom rag.cli import main\n"
        f"assert main(['ingest', {str(doc)!r}]) == 0\n"
        "assert main(['search', 'What does M mean for HNSW?', '-k', '1']) == 0\n"
        "heavy = ('torch', 'transformers', 'sentence_transformers')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "hnsw.md" in run.stdout
    assert json.loads(run.stdout.strip().splitlines()[-1]) == []


def test_auto_puts_the_packaged_model_on_onnx_without_cuda_and_other_models_on_torch(monkeypatch):
    from rag.embedding import embedder as module

    monkeypatch.setattr(module, "_no_cuda", lambda: True)
    assert module.packaged_backend("auto") == "onnx"
    assert module.packaged_backend("torch") == "torch" and module.packaged_backend("onnx-int8") == "onnx-int8"
    monkeypatch.setattr(module, "_no_cuda", lambda: False)
    assert module.packaged_backend("auto") == "torch"
    assert module.hub_backend("auto") == "torch" and module.hub_backend("onnx") == "onnx"


def test_onnx_keeps_each_text_s_vector_over_several_runs(embedder: Embedder):
    """More texts than one onnxruntime run takes (RUN_SIZE), of mixed lengths: sorted by length
    into runs and put back in input order (fails if a run's vectors land on other rows)."""
    from rag.embedding.onnx_encoder import RUN_SIZE

    texts = [f"{'word ' * (i * 7 % 23)}text number {i} about {TEXTS[i % 3]}" for i in range(RUN_SIZE * 2 + 3)]
    onnx = Embedder(packaged_minilm_path(), PACKAGED_MODEL_NAME, backend="onnx")
    cosine = (onnx.embed_passages(texts) * embedder.embed_passages(texts)).sum(axis=1)
    assert cosine.min() > 0.9999, cosine
