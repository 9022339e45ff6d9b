"""Full-corpus ingestion, an earlier commit against this tree, back to back in one run.

    .venv/bin/python bench/ingest_paired.py --baseline-ref cd853cc [DIR]

The earlier commit's `rag/` is extracted with `git archive` into a temporary folder; each side runs
`python -m rag ingest DIR` in its own process into its own temporary Milvus Lite store, with the
packaged MiniLM, so both pay the same start-up and see the same files. Chunk counts differ between
the two (section-aware chunking), so the comparison that matters is the time per corpus.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "milvus-docs-2.4"


def run_ingest(code_dir: Path, folder: Path, data_dir: str) -> tuple[float, int, int]:
    """(seconds, files, new chunks) of one `python -m rag ingest` run."""
    env = os.environ | {"RAG_DATA_DIR": data_dir, "RAG_EMBED_MODEL": "packaged", "HF_HUB_OFFLINE": "1"}
    began = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "rag", "ingest", str(folder)],
        cwd=code_dir,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - began
    found = re.search(r"(\d+) files, (\d+) new chunks", out.stderr)
    if out.returncode not in (0, 1) or not found:
        raise SystemExit(f"ingest in {code_dir} failed:\n{out.stderr[-2000:]}")
    return elapsed, int(found.group(1)), int(found.group(2))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", nargs="?", default=str(CORPUS))
    parser.add_argument("--baseline-ref", required=True, help="git commit or branch to compare with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as base, tempfile.TemporaryDirectory() as data:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.baseline_ref, "rag"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", base], input=archive.stdout, check=True)
        rows = []
        for label, code in ((f"baseline ({args.baseline_ref})", Path(base)), ("this tree", ROOT)):
            seconds, files, chunks = run_ingest(code, Path(args.folder), str(Path(data) / label.split()[0]))
            rows.append((label, files, chunks, seconds))
            print(f"{label}: {files} files, {chunks} chunks in {seconds:.1f} s", file=sys.stderr, flush=True)
    base_s = rows[0][3]
    print("| code | files | chunks | seconds | files/s | chunks/s | rate vs baseline |")
    print("|---|---|---|---|---|---|---|")
    for label, files, chunks, seconds in rows:
        print(
            f"| {label} | {files} | {chunks} | {seconds:.1f} | {files / seconds:.2f} | "
            f"{chunks / seconds:.1f} | {base_s / seconds:.2f}x |"
        )


if __name__ == "__main__":
    main()
