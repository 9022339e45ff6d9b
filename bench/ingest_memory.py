"""Peak memory of ingesting one N-page PDF, each size in a fresh process: does memory stay flat in
the page count? Baseline: the 100-page PDF, in the same run; "before" is the process with the model
and the store loaded, so the growth is what the ingest itself holds.

    HF_HUB_OFFLINE=1 RAG_EMBED_MODEL=packaged .venv/bin/python bench/ingest_memory.py \
        [--pages 100 1000] [--before REF [--after REF]] [--heap]

`--before REF`: the same sizes with commit REF's code too (read with `git archive`, run with this
.venv), the two taking turns so a change in the machine's load falls on both; `--after REF`: a
commit instead of this tree (which may hold unrelated uncommitted edits). `--unpaced`: that code's
embedding sub-batches at the embedder's whole batch (32), as the older code embeds, instead of paced
to about a second: on a loaded machine pacing makes them smaller, and a smaller batch alone needs
less of the embedder's working memory. `--heap`: also the
peak of the Python heap during the ingest (tracemalloc, started after the warm-up): what the code
holds, without the embedding model's native working memory, which makes RSS noisy (its peak moves
by tens of MB from batch to batch); tracemalloc's own bookkeeping then counts in the RSS too.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from cold_start import source_tree  # bench/: the files of an earlier commit in a folder

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, resource, sys, tempfile, time, tracemalloc
sys.path.insert(0, {root!r})
from rag.ingest.pipeline import Ingestor
from rag.retrieval.library import Library
from rag.settings import Settings
from tests.samples import make_pdf

pages = {pages}
data = make_pdf([f"Page {{i}}: the orchard ledger notes pruning, grafting and picking for row {{i}}. " * 8
                 for i in range(pages)])
with tempfile.TemporaryDirectory() as folder:
    library = Library.open(Settings.from_env(data_dir=folder))
    library.embedder.embed_passages(["warm-up"] * 8)
    if {unpaced}:  # sub-batches of the embedder's whole batch, as before the pacing
        import rag.ingest.streaming as streaming
        streaming.STOP_WITHIN_S, streaming.FIRST_SUB_BATCH = 1e9, 10**6
    if {heap}:
        tracemalloc.start()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    began = time.perf_counter()
    ingestor = Ingestor(library.settings, library.embedder, library.store)
    result = ingestor.ingest_bytes("big.pdf", data, "shared")
    seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    heap = tracemalloc.get_traced_memory()[1] / 2**20 if {heap} else float("nan")
    library.close()
print(json.dumps({{"pages": pages, "kb": len(data) // 1024, "status": result.status, "chunks": result.chunks,
                  "before_mb": before / 1024, "peak_mb": peak / 1024, "seconds": seconds, "heap_mb": heap}}))
"""


def run(tree: Path, pages: int, heap: bool, unpaced: bool) -> dict:
    """One ingest of a `pages`-page PDF in a fresh process running the code in `tree`."""
    child = CHILD.format(root=str(tree), pages=pages, heap=heap, unpaced=unpaced)
    out = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, check=True, cwd=tree
    ).stdout.splitlines()[-1]
    result = json.loads(out)
    assert result["status"] == "added", result
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--before", help="also run this commit's code, taking turns with this tree's")
    parser.add_argument("--after", help="this commit's code instead of the working tree")
    parser.add_argument(
        "--unpaced", action="store_true", help="the newer code's sub-batches at the whole embedder batch"
    )
    parser.add_argument("--heap", action="store_true", help="also the Python heap's peak (tracemalloc)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = (
            {args.after: source_tree(args.after, Path(tmp) / "after")} if args.after else {"this tree": ROOT}
        )
        if args.before:
            trees = {args.before: source_tree(args.before, Path(tmp) / "before"), **trees}
        print(
            "| code | pages | PDF kB | chunks | seconds | RSS before (MB) | peak RSS (MB) | growth (MB) "
            "| heap peak (MB) |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for pages in args.pages:
            for name, tree in trees.items():
                unpaced = args.unpaced and name != args.before
                r = run(tree, pages, args.heap, unpaced)
                label = f"{name} unpaced" if unpaced else name
                print(
                    f"| {label} | {r['pages']} | {r['kb']} | {r['chunks']} | {r['seconds']:.1f} | "
                    f"{r['before_mb']:.0f} | {r['peak_mb']:.0f} | {r['peak_mb'] - r['before_mb']:.0f} | "
                    f"{r['heap_mb']:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
