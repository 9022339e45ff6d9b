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

`--app`: the web app instead (`python app.py`, a fresh data folder each run, as in a fresh clone),
polled from outside every 0.1 s: seconds to the page (`GET /` answers 200), to the embedder ready
(`/health` says `"embedder": "ready"`; code without that field loads it before serving, so there it
is the page's time) and to the LLM ready (`"engine": "ready"`); with `app stages`, a second process
doing the app's start step by step (import rag.web.layout, which imports Gradio; the Assistant;
the UI). The LLM is whatever the environment sets (`RAG_LLM_BACKEND=fake` to leave vLLM out).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
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


def backend_env(backend: str) -> dict[str, str]:
    """The environment with RAG_EMBED_BACKEND set to `backend`; `default`: unset (each code's own)."""
    env = {k: v for k, v in os.environ.items() if k != "RAG_EMBED_BACKEND"}
    return env if backend == "default" else env | {"RAG_EMBED_BACKEND": backend}


def source_tree(ref: str, into: Path) -> Path:
    """The files of commit `ref` in a folder of their own."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    if (ROOT / "models").is_dir():  # ignored by git: the local LLM (`make setup`), the same for both
        (into / "models").symlink_to(ROOT / "models")
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
    parser.add_argument("--backends", default="torch,onnx", help="`default`: RAG_EMBED_BACKEND unset")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--app", action="store_true", help="time the web app's start instead")
    parser.add_argument("--timeout", type=float, default=300, help="--app: seconds to wait for the LLM")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"after": source_tree(args.after, Path(tmp) / "after") if args.after else ROOT}
        if args.before:
            trees = {"before": source_tree(args.before, Path(tmp) / "before"), **trees}
        if args.app:
            app_table(trees, args.backends.split(","), args.runs, args.timeout, Path(tmp))
            return
        results: dict[tuple[str, str], dict[str, list]] = {}
        for _ in range(args.runs):
            for backend in args.backends.split(","):
                env = backend_env(backend)
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


APP_STAGES = r"""
import json, sys, time
t0 = time.perf_counter()
marks = {}
def mark(name):
    marks[name] = round(time.perf_counter() - t0, 3)
import rag.web.layout as layout
mark("import rag.web.layout (Gradio)")
from rag.assistant import Assistant
from rag.settings import Settings
from rag.web.handlers import WebApp
settings = Settings.from_env()
try:
    assistant = Assistant(settings, background=True)
except TypeError:  # code before the background load: the Assistant loads the embedder itself
    assistant = Assistant(settings)
mark("Assistant built")
demo = layout.build_ui(WebApp(assistant), "x" * 32)
mark("UI built")
loading = getattr(assistant, "loading", None)
getattr(loading, "begin", lambda: None)()  # code since the deferred load: the app begins it as it listens
loading and loading.wait()
mark("embedder + store ready")
print(json.dumps({"marks": marks}))
sys.stdout.flush()
import os
os._exit(0)
"""


def app_run(tree: Path, env: dict[str, str], data_dir: Path, timeout: float) -> dict[str, float]:
    """One cold `python app.py`: seconds from the spawn to the page, the embedder and the LLM."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = env | {"PYTHONPATH": str(tree), "RAG_DATA_DIR": str(data_dir), "RAG_PORT": str(port)}
    env |= {"RAG_HOST": "127.0.0.1", "GRADIO_ANALYTICS_ENABLED": "False"}
    url = f"http://127.0.0.1:{port}/"
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=tree,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    marks: dict[str, float] = {}
    try:
        while time.perf_counter() - start < timeout and not {"embedder ready", "LLM ready"} <= set(marks):
            if process.poll() is not None:
                raise RuntimeError(f"app exited with {process.returncode}")
            now = time.perf_counter() - start
            if "page" not in marks and _get(url) is not None:
                marks["page"] = now
            if "page" in marks:
                health = json.loads(_get(url + "health") or "{}")
                if health.get("embedder", "ready") == "ready" and health.get("store") == "ok":
                    marks.setdefault("embedder ready", now)
                if health.get("engine") == "ready":
                    marks.setdefault("LLM ready", now)
            time.sleep(0.1)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    return marks


def _get(url: str) -> str | None:
    """The body of a GET (any status: /health answers 503 while loading), None if nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except urllib.error.HTTPError as error:
        return error.read().decode()
    except OSError:
        return None


def app_table(trees: dict[str, Path], backends: list[str], runs: int, timeout: float, tmp: Path) -> None:
    results: dict[tuple[str, str], dict[str, list]] = {}
    for run in range(runs):
        for backend in backends:
            env = backend_env(backend)
            for name, tree in trees.items():
                row = results.setdefault((name, backend), {"app": [], "stages": []})
                row["app"].append(app_run(tree, env, tmp / f"data-{name}-{backend}-{run}", timeout))
                stages = subprocess.run(
                    [sys.executable, "-c", APP_STAGES],
                    cwd=tree,
                    env=env | {"PYTHONPATH": str(tree), "RAG_DATA_DIR": str(tmp / f"stages-{name}-{run}")},
                    check=True,
                    capture_output=True,
                    text=True,
                )
                row["stages"].append(json.loads(stages.stdout.strip().splitlines()[-1]))
                print(json.dumps({"code": name, "backend": backend, **row}), file=sys.stderr, flush=True)
    columns = ["page", "embedder ready", "LLM ready"]
    stages = list(next(iter(results.values()))["stages"][0]["marks"])
    print("| code | backend | " + " | ".join(f"app: {c} s" for c in columns) + " | ", end="")
    print(" | ".join(f"{s} s" for s in stages) + " |")
    print("|---" * (2 + len(columns) + len(stages)) + "|")
    for (name, backend), row in results.items():
        cells = [_median(r.get(c) for r in row["app"]) for c in columns]
        cells += [_median(s["marks"].get(stage) for s in row["stages"]) for stage in stages]
        print(f"| {name} | {backend} | " + " | ".join(cells) + " |")
    print("(app: seconds from spawning `python app.py` to each; stages: from the script's start)")


def _median(values: Iterable[float | None]) -> str:
    found = [v for v in values if v is not None]
    return f"{statistics.median(found):.1f}" if found else "-"


def _stage_names(results: dict) -> list[str]:
    first = next(iter(results.values()))["stages"][0]["marks"]
    return list(first)


if __name__ == "__main__":
    main()
