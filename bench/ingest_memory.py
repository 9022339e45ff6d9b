"""Peak memory of ingesting one N-page PDF, each size in a fresh process: does memory stay flat in
the page count? Baseline: the 100-page PDF, in the same run; "before" is the process with the model
and the store loaded, so the growth is what the ingest itself holds.

    HF_HUB_OFFLINE=1 RAG_EMBED_MODEL=packaged .venv/bin/python bench/ingest_memory.py [--pages 100 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, resource, sys, tempfile, time
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
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    began = time.perf_counter()
    ingestor = Ingestor(library.settings, library.embedder, library.store)
    result = ingestor.ingest_bytes("big.pdf", data, "shared")
    seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    library.close()
print(json.dumps({{"pages": pages, "kb": len(data) // 1024, "status": result.status, "chunks": result.chunks,
                  "before_mb": before / 1024, "peak_mb": peak / 1024, "seconds": seconds}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, nargs="+", default=[100, 1000])
    args = parser.parse_args()
    print("| pages | PDF kB | chunks | seconds | RSS before (MB) | peak RSS (MB) | growth (MB) |")
    print("|---|---|---|---|---|---|---|")
    for pages in args.pages:
        out = subprocess.run(
            [sys.executable, "-c", CHILD.format(root=str(ROOT), pages=pages)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()[-1]
        r = json.loads(out)
        assert r["status"] == "added", r
        print(
            f"| {r['pages']} | {r['kb']} | {r['chunks']} | {r['seconds']:.1f} | {r['before_mb']:.0f} | "
            f"{r['peak_mb']:.0f} | {r['peak_mb'] - r['before_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
