"""Capacity plan for the GPU Space, from first principles: Llama-3.1-8B-Instruct on one L4 with vLLM.

    .venv/bin/python bench/capacity.py            # the tables in docs/CAPACITY.md
    .venv/bin/python bench/capacity.py --json     # the same numbers as JSON

Nothing here is measured: every figure follows from the inputs below (hardware data sheet, model
config, vLLM's memory accounting, efficiencies taken from published measurements) with the
formulas printed beside them in docs/CAPACITY.md. Change an input, rerun, paste the output.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass, replace

GIB = 1024**3


@dataclass(frozen=True)
class Inputs:
    # hardware: NVIDIA L4 data sheet
    gpu_memory_gib: float = 22.5  # "24 GB" card; CUDA reports ~23,034 MiB
    bandwidth_gbs: float = 300.0
    bf16_tflops: float = 121.0  # dense
    # model: Llama-3.1-8B-Instruct config.json
    params_b: float = 8.03
    layers: int = 32
    kv_heads: int = 8
    head_dim: int = 128
    hidden: int = 4096
    weight_bytes: float = 2.0  # bf16; 1.0 for FP8, ~0.56 for AWQ int4 (with scales)
    kv_bytes: float = 2.0  # bf16 KV cache; 1.0 with kv_cache_dtype=fp8
    # vLLM
    gpu_memory_utilization: float = 0.85  # RAG_GPU_MEMORY_UTILIZATION default
    activation_gib: float = 1.5  # profiled peak for a 2,048-token chunked-prefill step (assumed)
    overhead_gib: float = 1.0  # CUDA context, non-torch memory, CUDA graphs (assumed)
    max_model_len: int = 8192  # RAG_MAX_MODEL_LEN on a GPU
    max_num_seqs: int = 256  # vLLM default
    block_size: int = 16
    # efficiencies (published measurements, see docs/CAPACITY.md)
    bandwidth_efficiency: float = 0.77  # decode at batch 1 reached 77% of the HBM roofline (A100)
    mfu: float = 0.5  # share of peak bf16 FLOPs a prefill reaches (assumed)
    # workload: one RAG turn
    prompt_tokens: int = 2048  # system + 5 chunks + 1,024 history + question
    output_tokens: int = 256  # typical answer (RAG_MAX_TOKENS caps it at 512)
    cached_prefix_tokens: int = 0  # prompt tokens served from the prefix cache


def weights_gib(i: Inputs) -> float:
    return i.params_b * 1e9 * i.weight_bytes / GIB


def kv_bytes_per_token(i: Inputs) -> int:
    # K and V, every layer, every KV head
    return int(2 * i.layers * i.kv_heads * i.head_dim * i.kv_bytes)


def kv_cache_tokens(i: Inputs) -> int:
    free = i.gpu_memory_gib * i.gpu_memory_utilization - weights_gib(i) - i.activation_gib - i.overhead_gib
    blocks = math.floor(max(free, 0) * GIB / (kv_bytes_per_token(i) * i.block_size))
    return blocks * i.block_size


def prefill_s(i: Inputs, tokens: int) -> float:
    """Compute-bound: 2·N FLOPs per token for the weights plus causal attention 2·L·T²·d."""
    flops = 2 * i.params_b * 1e9 * tokens + 2 * i.layers * tokens**2 * i.hidden
    weights_read = i.params_b * 1e9 * i.weight_bytes / (i.bandwidth_gbs * 1e9 * i.bandwidth_efficiency)
    return max(flops / (i.bf16_tflops * 1e12 * i.mfu), weights_read)


def decode_step_s(i: Inputs, batch: int, context: float) -> float:
    """Memory-bound: all weights plus every active sequence's KV cache read once per step."""
    read = i.params_b * 1e9 * i.weight_bytes + batch * context * kv_bytes_per_token(i)
    memory = read / (i.bandwidth_gbs * 1e9 * i.bandwidth_efficiency)
    compute = 2 * i.params_b * 1e9 * batch / (i.bf16_tflops * 1e12 * i.mfu)
    return max(memory, compute)


@dataclass(frozen=True)
class Row:
    users: int
    active: int
    queued: int
    ttft_s: float
    burst_ttft_last_s: float | None
    tokens_per_s_user: float
    tokens_per_s_total: float


def slots(i: Inputs) -> int:
    """Chats that fit at once: whole turns (prompt + answer) in the KV cache, at most max_num_seqs."""
    return max(1, min(i.max_num_seqs, kv_cache_tokens(i) // (i.prompt_tokens + i.output_tokens)))


def row(i: Inputs, users: int) -> Row:
    """`users` people chatting back to back (a new question as soon as an answer ends)."""
    active = min(users, slots(i))
    uncached = i.prompt_tokens - i.cached_prefix_tokens
    t_pre = prefill_s(i, uncached)
    step = decode_step_s(i, active, i.prompt_tokens + i.output_tokens / 2)
    # one round: every active chat gets its prefill and its answer; prefills stretch the decode steps
    round_s = i.output_tokens * step + active * t_pre
    per_user = i.output_tokens / (round_s - t_pre)
    # a new prompt shares the GPU with the prefills already in flight (chunked prefill mixes them)
    in_prefill = (active - 1) * t_pre / round_s
    ttft = t_pre * (1 + in_prefill) + step
    # beyond the slots, a question waits for a free slot: on average (users - active)/active rounds
    ttft += max(0, users - active) / active * round_s
    return Row(
        users=users,
        active=active,
        queued=users - active,
        ttft_s=round(ttft, 2),
        burst_ttft_last_s=round(users * t_pre + step, 2) if users <= active else None,
        tokens_per_s_user=round(per_user * active / users if users > active else per_user, 1),
        tokens_per_s_total=round(per_user * active, 0),
    )


SCENARIOS = {
    "bf16 (default)": {},
    "bf16, gpu_memory_utilization 0.92": {"gpu_memory_utilization": 0.92},
    "bf16, max_num_seqs 8": {"max_num_seqs": 8},
    "bf16, prefix cache hit on 1,024 history tokens": {"cached_prefix_tokens": 1024},
    "FP8 weights + FP8 KV cache": {"weight_bytes": 1.0, "kv_bytes": 1.0},
    "AWQ int4 weights": {"weight_bytes": 0.56},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", default="1,8,32")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    users = [int(u) for u in args.users.split(",")]
    base = Inputs()
    out = {"inputs": asdict(base), "scenarios": {}}
    print(
        f"weights {weights_gib(base):.2f} GiB; KV {kv_bytes_per_token(base) // 1024} KiB/token; "
        f"prompt {base.prompt_tokens} + answer {base.output_tokens} tokens per turn\n"
    )
    print("| scenario | KV-cache tokens | full-length (8,192) chats | RAG turns in flight | prefill 2k ms |")
    print("|---|---|---|---|---|")
    for name, change in SCENARIOS.items():
        i = replace(base, **change)
        kv = kv_cache_tokens(i)
        uncached = i.prompt_tokens - i.cached_prefix_tokens
        print(
            f"| {name} | {kv:,} | {kv / i.max_model_len:.1f} | {slots(i)} | "
            f"{prefill_s(i, uncached) * 1000:.0f} |"
        )
        out["scenarios"][name] = {
            "kv_tokens": kv,
            "slots": slots(i),
            "rows": [asdict(row(i, u)) for u in users],
        }
    print()
    print(
        "| scenario | chats | in flight / waiting | TTFT s | TTFT s, all sent at once (last) "
        "| tokens/s per user | tokens/s total |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, change in SCENARIOS.items():
        i = replace(base, **change)
        for u in users:
            r = row(i, u)
            print(
                f"| {name} | {u} | {r.active} / {r.queued} | {r.ttft_s} | "
                f"{r.burst_ttft_last_s or 'queued'} | "
                f"{r.tokens_per_s_user} | {r.tokens_per_s_total:.0f} |"
            )
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
