"""A cold `python -m rag search "…" -k 1`, stage by stage, for this tree and an earlier commit.

    export RAG_DATA_DIR=/tmp/x RAG_EMBED_MODEL=packaged HF_HUB_OFFLINE=1
    .venv/bin/python -m rag ingest some-file.md        # any store the search can open
    .venv/bin/python bench/cold_start.py --before f90a08d --backends torch,onnx --runs 2

Each run is a new interpreter. Two kinds of run, taking turns (before/after, torch/onnx), so a
change in the machine's load falls on all alike:

- `cli`: the command itself, timed from outside: wall seconds and CPU seconds (user + system of
  the process and its children, which on a loaded machine says more than the wall clock);
- `stages`: the same work in steps, timed inside: interpreter start to `import rag.cli`, importing
  the Assistant, loading the embedder (its library's import included), opening the store (the
  rest of the Assistant), the first search; and which heavy modules ended up imported.

The earlier commit is read with `git archive` into a temporary folder and run with this .venv; the
ONNX backend needs its export cached (`~/.cache/rag/onnx`, made by its first use).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "What do the parameters for HNSW mean?"
HEAVY = (
    "torch",
    "transformers",
    "sentence_transformers",
    "onnxruntime",
    "pymilvus",
    "langchain_text_splitters",
)
STAGES = r"""
import json, sys, time
t0 = time.perf_counter()
marks = {}
def mark(name):
    marks[name] = round(time.perf_counter() - t0, 3)
import rag.cli
mark("import rag.cli")
from rag.assistant import Assistant
mark("import rag.assistant")
from rag.settings import Settings
from rag.embedding.embedder import load_embedder
settings = Settings.from_env()
embedder = load_embedder(settings)
mark("embedder loaded")
assistant = Assistant(settings, embedder=embedder)
mark("store open (Assistant)")
assistant.retrieve(sys.argv[1], "shared", k=1)
mark("first search")
heavy = [m for m in json.loads(sys.argv[2]) if m in sys.modules]
print(json.dumps({"marks": marks, "imported": heavy}))
sys.stdout.flush()
import os
os._exit(0)
"""


def source_tree(ref: str, into: Path) -> Path:
    """The files of commit `ref` in a folder of their own."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_cli(tree: Path, env: dict[str, str]) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "rag", "search", QUESTION, "-k", "1"],
        cwd=tree,
        env=env | {"PYTHONPATH": str(tree)},
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu}


def run_stages(tree: Path, env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", STAGES, QUESTION, json.dumps(HEAVY)],
        cwd=tree,
        env=env | {"PYTHONPATH": str(tree)},
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="", help="a commit to compare with (git ref)")
    parser.add_argument("--after", default="", help="a commit to run instead of this tree")
    parser.add_argument("--backends", default="torch,onnx")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"after": source_tree(args.after, Path(tmp) / "after") if args.after else ROOT}
        if args.before:
            trees = {"before": source_tree(args.before, Path(tmp) / "before"), **trees}
        results: dict[tuple[str, str], dict[str, list]] = {}
        for _ in range(args.runs):
            for backend in args.backends.split(","):
                env = {**os.environ, "RAG_EMBED_BACKEND": backend}
                for name, tree in trees.items():
                    row = results.setdefault((name, backend), {"cli": [], "stages": []})
                    row["cli"].append(run_cli(tree, env))
                    row["stages"].append(run_stages(tree, env))
    stages = _stage_names(results)
    print("| code | backend | CLI wall s | CLI CPU s | " + " | ".join(stages) + " | imported |")
    print("|---" * (5 + len(_stage_names(results))) + "|")
    for (name, backend), row in results.items():
        wall = statistics.median(r["wall"] for r in row["cli"])
        cpu = statistics.median(r["cpu"] for r in row["cli"])
        times = [
            statistics.median(s["marks"].get(stage, float("nan")) for s in row["stages"]) for stage in stages
        ]
        imported = ", ".join(row["stages"][-1]["imported"])
        cells = " | ".join(f"{t:.1f}" for t in times)
        print(f"| {name} | {backend} | {wall:.1f} | {cpu:.1f} | {cells} | {imported} |")
    print("(stages: seconds from the script's start, after the interpreter's own, to each stage's end)")


def _stage_names(results: dict) -> list[str]:
    first = next(iter(results.values()))["stages"][0]["marks"]
    return list(first)


if __name__ == "__main__":
    main()
