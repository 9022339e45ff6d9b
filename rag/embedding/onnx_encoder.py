"""A sentence-transformers model run by onnxruntime instead of torch, optionally quantised to int8.

sentence-transformers' own `backend="onnx"` needs `optimum`, whose releases pin a transformers
older than the one vLLM needs here, so this module does the same few steps itself: export the
transformer once from the local model folder with `torch.onnx`, optionally quantise its weights
dynamically to int8 (onnxruntime.quantization), and apply the model's pooling. The exported files
are cached (keyed by the model's files), so the export cost (seconds) is paid once per model and
variant.

It mirrors the part of `SentenceTransformer` the embedder uses: `encode`, `prompts`,
`get_embedding_dimension`.

Once exported, encoding needs onnxruntime and the model's `tokenizer.json` (the `tokenizers`
library) only: no torch, no transformers. Importing those took 6 s and 29 s of a cold `rag search`
here (docs/BENCHMARKS.md, "Cold start"); torch is imported for the one-time export alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
VARIANTS = {"onnx": "fp32", "onnx-int8": "int8"}
# texts per onnxruntime run, whatever the caller's batch: 64 corpus chunks went through the fp32
# graph 1.7x faster in runs of 8 than of 32 (int8: 1.4x) on the 2-core machine, while torch got
# slower in runs of 8 (0.76x): bench/embed_backends.py, docs/BENCHMARKS.md (issue 24 point 5)
RUN_SIZE = 8


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rag" / "onnx"


class OnnxEncoder:
    """Tokenise → onnxruntime transformer → pooling, batched like `SentenceTransformer.encode`."""

    def __init__(self, model_dir: str | Path, variant: str = "onnx", cache_dir: Path | None = None) -> None:
        import onnxruntime

        if variant not in VARIANTS:
            raise ValueError(f"unknown ONNX variant {variant!r}; choose one of {sorted(VARIANTS)}")
        self.model_dir = Path(model_dir)
        if not (self.model_dir / "config.json").exists():
            raise FileNotFoundError(f"{model_dir} is not a local model folder (no config.json)")
        config = _read_json(self.model_dir / "sentence_bert_config.json")
        self.max_length = int(
            config.get("max_seq_length")
            or _read_json(self.model_dir / "tokenizer_config.json").get("model_max_length")
            or 512
        )
        self.tokenizer = load_tokenizer(self.model_dir, self.max_length)
        self.pooling = _pooling_mode(self.model_dir)
        self.prompts = _read_json(self.model_dir / "config_sentence_transformers.json").get("prompts") or {}
        path = export(self.model_dir, variant, cache_dir or cache_root())
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # idle intra-op threads sleep instead of spinning: on the loaded 2-core machine a spinning
        # thread takes a core from the other one (a query's forward 47.6 -> 38.2 ms p50, issue 24)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.dim = int(self.session.get_outputs()[0].shape[-1])

    def get_embedding_dimension(self) -> int:
        return self.dim

    def encode(
        self, texts: list[str], batch_size: int = 32, prompt: str | None = None, **_: object
    ) -> np.ndarray:
        """Vectors in input order; texts are batched by length, as sentence-transformers does, in
        runs of at most RUN_SIZE."""
        if prompt:
            texts = [prompt + t for t in texts]
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        run = max(1, min(batch_size, RUN_SIZE))
        for start in range(0, len(texts), run):
            index = order[start : start + run]
            out[index] = self._batch([texts[i] for i in index])
        return out

    def _batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        tokens = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        hidden = self.session.run(None, {k: v for k, v in tokens.items() if k in self.input_names})[0]
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = tokens["attention_mask"][..., None].astype(np.float32)
        return (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)


def load_tokenizer(model_dir: Path, max_length: int) -> Any:  # tokenizers.Tokenizer
    """The model's fast tokenizer from its `tokenizer.json`, cutting at `max_length` and padding to
    the longest text of a batch, as `AutoTokenizer(..., padding=True, truncation=True)` does (the
    file's own settings, e.g. a fixed 128-token padding, are replaced)."""
    from tokenizers import Tokenizer

    path = model_dir / "tokenizer.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the ONNX backend needs the model's fast tokenizer file")
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(max_length=max_length)
    pad_token = _read_json(model_dir / "tokenizer_config.json").get("pad_token") or "[PAD]"
    if isinstance(pad_token, dict):  # {"content": "[PAD]", ...} in some configs
        pad_token = pad_token.get("content", "[PAD]")
    pad_id = tokenizer.token_to_id(pad_token)
    if pad_id is None:
        raise ValueError(
            f"{path}: the pad token {pad_token!r} of tokenizer_config.json is not in the vocabulary"
        )
    tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)
    return tokenizer


def export(model_dir: Path, variant: str, cache_dir: Path) -> Path:
    """The ONNX file for this model's files and variant, exported (and quantised) on first use.

    The cache is keyed by the model's files (names, sizes, modification times), not by the folder's
    path: a model replaced in place gets a new export. Each file is written under a name of its own
    and renamed into place, so processes starting together never write one file: each exports, and
    the last rename wins with a complete file.
    """
    folder = cache_dir / model_key(model_dir)
    fp32 = folder / "model.onnx"
    if not fp32.exists():
        _write_atomically(fp32, lambda tmp: _export_fp32(model_dir, tmp))
    if VARIANTS[variant] == "fp32":
        return fp32
    int8 = folder / "model-int8.onnx"
    if not int8.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        log.info("quantising %s to int8", fp32)
        _write_atomically(
            int8,
            lambda tmp: quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True),
        )
    return int8


def model_key(model_dir: Path) -> str:
    """A digest of the model folder's files (relative name, size, modification time in ns)."""
    digest = hashlib.sha256()
    for path in sorted(model_dir.rglob("*")):
        relative = path.relative_to(model_dir)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        stat = path.stat()
        digest.update(f"{relative.as_posix()}\x00{stat.st_size}\x00{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _write_atomically(target: Path, write: Callable[[Path], object]) -> None:
    """`write(tmp)` to a temporary file unique to this call, then rename it onto `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp{target.suffix}")
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _export_fp32(model_dir: Path, target: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    log.info("exporting %s to ONNX (once)", model_dir)
    model = AutoModel.from_pretrained(str(model_dir)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    sample = tokenizer(["an example sentence", "another"], padding=True, return_tensors="pt")
    names = list(sample.keys())

    class Hidden(torch.nn.Module):
        """Positional inputs in tokenizer order → last hidden state (what the exporter traces)."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(names, inputs, strict=True))).last_hidden_state

    axes = {name: {0: "batch", 1: "tokens"} for name in names}
    axes["last_hidden_state"] = {0: "batch", 1: "tokens"}
    with torch.no_grad():
        torch.onnx.export(
            Hidden(),
            tuple(sample[name] for name in names),
            str(target),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def _pooling_mode(model_dir: Path) -> str:
    config = _read_json(model_dir / "1_Pooling" / "config.json")
    if config.get("pooling_mode_cls_token"):
        return "cls"
    if config and not config.get("pooling_mode_mean_tokens"):
        raise ValueError(f"{model_dir}: only mean or CLS pooling is supported by the ONNX backend")
    return "mean"


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}
